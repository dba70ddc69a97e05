# ruff: noqa: E501, PLW0108  (one table row per command: long rows read better than wrapped ones)
"""Exact bytes of the purse builders and parsing of their answers (JR/T 0025.1 data formats, purse commands, vectors V1/V2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu import pboc
from apdu.command import Command
from apdu.errors import ApduFormatError
from apdu.response_records import (
    BalanceResponse,
    CreditForLoadResponse,
    DebitForPurchaseResponse,
    DebitForUnloadResponse,
    InitForLoadResponse,
    InitForPurchaseResponse,
    InitForUpdateResponse,
    TransactionProveResponse,
    UpdateOverdraftLimitResponse,
)
from tests.vectors import by_id

TID = bytes.fromhex("001122334455")
WHEN = dt.datetime(2011, 12, 21, 21, 48, 22)
MAC = bytes.fromhex("3A845BF0")

CASES: list[tuple[str, Callable[[], Command], str]] = [
    ("INITIALIZE FOR LOAD EP", lambda: pboc.initialize_for_load(1, 0x1000, TID), "805000020B010000100000112233445510"),
    ("INITIALIZE FOR LOAD ED", lambda: pboc.initialize_for_load(1, 0x1000, TID, purse=pboc.Purse.ED), "805000010B010000100000112233445510"),
    ("INITIALIZE FOR PURCHASE", lambda: pboc.initialize_for_purchase(1, 100, TID), "805001020B0100000064001122334455 0F"),
    ("INITIALIZE FOR UNLOAD", lambda: pboc.initialize_for_unload(2, 0x0102, TID), "805005010B020000010200112233445510"),
    ("INITIALIZE FOR CASH WITHDRAW", lambda: pboc.initialize_for_cash_withdraw(1, 1, TID), "805002010B0100000001001122334455 0F"),
    ("INITIALIZE FOR CAPP PURCHASE", lambda: pboc.initialize_for_capp_purchase(1, 1, TID), "805003020B0100000001001122334455 0F"),
    ("INITIALIZE FOR UPDATE", lambda: pboc.initialize_for_update(1, TID), "8050040107 01 001122334455 13"),
    ("CREDIT FOR LOAD (V1)", lambda: pboc.credit_for_load(WHEN, MAC), "805200000B201112212148223A845BF004"),
    ("DEBIT FOR PURCHASE (S11 frame)", lambda: pboc.debit_for_purchase(0x0077433B, dt.datetime(2021, 1, 25, 9, 56, 28), bytes.fromhex("A24781CB")), "805401000F0077433B20210125095628A24781CB08"),
    ("DEBIT FOR UNLOAD", lambda: pboc.debit_for_unload(WHEN, MAC), "805403000B201112212148223A845BF004"),
    # JR/T 0025.1 UPDATE OVERDRAW LIMIT lists no Le; the answer is the 4-byte TAC, so Le 04 is sent (documented in the builder).
    ("UPDATE OVERDRAW LIMIT", lambda: pboc.update_overdraft_limit(0x002710, WHEN, MAC), "805800000E002710201112212148223A845BF004"),
    ("GET BALANCE EP", lambda: pboc.get_balance(), "805C000204"),
    ("GET BALANCE ED", lambda: pboc.get_balance(pboc.Purse.ED), "805C000104"),
    ("GET TRANSACTION PROVE (S11)", lambda: pboc.get_transaction_prove(0x09, 0x0028), "805A000902002808"),
    ("GET TRANSACTION PROVE EP purchase", lambda: pboc.get_transaction_prove(pboc.TransactionType.EP_PURCHASE, 5), "805A000602000508"),
    ("UPDATE CAPP DATA CACHE (S5)", lambda: pboc.update_capp_data_cache(0x02, 0x1A, b"\x01\x02"), "80DC02D0020102"),
    ("UPDATE CAPP DATA CACHE SFI 1E", lambda: pboc.update_capp_data_cache(0x00, 0x1E, b"\xff"), "80DC00F001FF"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "build", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_exact_bytes(source: str, build: Callable[[], Command], hex_: str) -> None:
    expected = bytes.fromhex(hex_.replace(" ", ""))
    assert build().encode() == expected, source
    assert Command.decode(expected) == build()


def test_published_load_vector_v1() -> None:
    v = by_id("pboc_purse", "pboc-load-v1")
    f = v["initialize_for_load"]["command_fields"]
    cmd = pboc.initialize_for_load(
        int(f["key_index"], 16),
        int(f["amount"], 16),
        bytes.fromhex(f["terminal_id"]),
        purse=pboc.Purse(int(f["P2"], 16)),
    )
    assert cmd.encode().hex().upper() == v["initialize_for_load"]["command"]
    r = v["initialize_for_load"]["response_fields"]
    parsed = InitForLoadResponse.parse(bytes.fromhex(v["initialize_for_load"]["response_data"]))
    assert parsed == InitForLoadResponse(
        int(r["old_balance"], 16),
        int(r["online_counter"], 16),
        int(r["key_version"], 16),
        int(r["algorithm_id"], 16),
        bytes.fromhex(r["icc_random"]),
        bytes.fromhex(r["mac1"]),
    )
    c = v["credit_for_load"]["command_fields"]
    when = dt.datetime.strptime(c["date"] + c["time"], "%Y%m%d%H%M%S")
    assert (
        pboc.credit_for_load(when, bytes.fromhex(c["mac2"])).encode().hex().upper() == v["credit_for_load"]["command"]
    )


def test_published_purchase_vector_v2() -> None:
    v = by_id("pboc_purse", "pboc-purchase-v2")["initialize_for_purchase"]
    f = v["command_fields"]
    cmd = pboc.initialize_for_purchase(int(f["key_index"], 16), int(f["amount"], 16), bytes.fromhex(f["terminal_id"]))
    assert cmd.encode().hex().upper() == v["command"]
    r = v["response_fields"]
    parsed = InitForPurchaseResponse.parse(bytes.fromhex(v["response_data"]))
    assert parsed.balance == int(r["old_balance"], 16)
    assert parsed.offline_counter == int(r["offline_counter"], 16)
    assert parsed.overdraft_limit == int(r["overdraft_limit"], 16)
    assert parsed.key_version == int(r["key_version"], 16)
    assert parsed.algorithm == int(r["algorithm_id"], 16)
    assert parsed.icc_random == bytes.fromhex(r["icc_random"])


def test_response_records_split_fields_in_reference_order() -> None:
    # JR/T 0025.1 INITIALIZE FOR PURCHASE: balance(4) ‖ offline counter(2) ‖ overdraft(3) ‖ key version ‖ algorithm ‖ random(4)
    p = InitForPurchaseResponse.parse(bytes.fromhex("000003E8 0007 0001F4 02 04 CAFEBABE"))
    assert (p.balance, p.offline_counter, p.overdraft_limit, p.key_version, p.algorithm) == (1000, 7, 500, 2, 4)
    assert p.icc_random == bytes.fromhex("CAFEBABE")
    # JR/T 0025.1 UPDATE OVERDRAW LIMIT: balance ‖ online counter ‖ old limit ‖ key version ‖ algorithm ‖ random ‖ MAC1
    u = InitForUpdateResponse.parse(bytes.fromhex("00000010 0003 000100 01 00 11223344 55667788"))
    assert (u.balance, u.online_counter, u.overdraft_limit, u.mac1) == (16, 3, 256, bytes.fromhex("55667788"))
    # JR/T 0025.1 DEBIT FOR PURCHASE: TAC ‖ MAC2; S11 frame TAC F3183336, MAC2 622083C8
    d = DebitForPurchaseResponse.parse(bytes.fromhex("F3183336622083C8"))
    assert (d.tac, d.mac2) == (bytes.fromhex("F3183336"), bytes.fromhex("622083C8"))
    # JR/T 0025.1 GET TRANSACTION PROVE: MAC ‖ TAC (TAC at bytes 4..7)
    t = TransactionProveResponse.parse(bytes.fromhex("0102030405060708"))
    assert (t.mac, t.tac) == (bytes.fromhex("01020304"), bytes.fromhex("05060708"))
    assert BalanceResponse.parse(bytes.fromhex("0001E240")).balance == 123456
    assert CreditForLoadResponse.parse(bytes.fromhex("AABBCCDD")).tac == bytes.fromhex("AABBCCDD")
    assert DebitForUnloadResponse.parse(bytes.fromhex("AABBCCDD")).mac == bytes.fromhex("AABBCCDD")
    assert UpdateOverdraftLimitResponse.parse(bytes.fromhex("AABBCCDD")).tac == bytes.fromhex("AABBCCDD")


@pytest.mark.parametrize(
    ("record", "length"),
    [
        (InitForLoadResponse, 16),
        (InitForPurchaseResponse, 15),
        (InitForUpdateResponse, 19),
        (DebitForPurchaseResponse, 8),
        (CreditForLoadResponse, 4),
        (DebitForUnloadResponse, 4),
        (UpdateOverdraftLimitResponse, 4),
        (TransactionProveResponse, 8),
        (BalanceResponse, 4),
    ],
)
def test_wrong_length_is_rejected_naming_the_record(record: Any, length: int) -> None:
    for n in (0, length - 1, length + 1):
        with pytest.raises(ApduFormatError) as info:
            record.parse(bytes(n))
        assert info.value.field == record.__name__
    assert record.parse(bytes(length)).encode() == bytes(length)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=15, max_size=15), st.binary(min_size=16, max_size=16), st.binary(min_size=19, max_size=19))
def test_records_round_trip(purchase: bytes, load: bytes, update: bytes) -> None:
    assert InitForPurchaseResponse.parse(purchase).encode() == purchase
    assert InitForLoadResponse.parse(load).encode() == load
    assert InitForUpdateResponse.parse(update).encode() == update


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: pboc.initialize_for_purchase(1, -1, TID), "amount"),
        (lambda: pboc.initialize_for_purchase(1, 0x1_0000_0000, TID), "amount"),
        (lambda: pboc.initialize_for_purchase(256, 1, TID), "key_index"),
        (lambda: pboc.initialize_for_load(1, 1, TID[:5]), "terminal_id"),
        (lambda: pboc.credit_for_load(WHEN, b"\x01"), "mac2"),
        (lambda: pboc.credit_for_load(dt.date(2020, 1, 1), MAC), "when"),  # type: ignore[arg-type]
        (lambda: pboc.debit_for_purchase(-1, WHEN, MAC), "terminal_serial"),
        (lambda: pboc.get_transaction_prove(6, 0x10000), "counter"),
        (lambda: pboc.update_overdraft_limit(0x1000000, WHEN, MAC), "new_limit"),
        (lambda: pboc.update_capp_data_cache(0, 0, b"\x01"), "sfi"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], Command], field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        build()
    assert info.value.field == field


def test_amount_is_integer_fen() -> None:
    with pytest.raises(ApduFormatError):
        pboc.initialize_for_purchase(1, 1.5, TID)  # type: ignore[arg-type]
    with pytest.raises(ApduFormatError):
        pboc.initialize_for_purchase(1, True, TID)
