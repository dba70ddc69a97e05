# ruff: noqa: E501, PLW0108  (one table row per command: long rows read better than wrapped ones)
"""Exact bytes of the PSAM and health-card SAM builders and parsing of their answers.

PB = JR/T 0025.2 purchase with a PSAM; PSAM COS, sources.md V2, HC = WS/T 543.4 keys, commands; 健康卡 SAM spec.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from apdu import healthsam, psam
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError
from apdu.response_records import HealthSamAppInfo, SamPublicInfo, SamPurchaseInitResponse, TerminalInfo

RAND = bytes.fromhex("11223344")
WHEN = dt.datetime(2012, 2, 29, 13, 51, 0)
SERIAL8 = bytes.fromhex("0000000000000001")  # rightmost 8 bytes of the application serial
ISSUER8 = bytes.fromhex("4000000000000000")
CARD_NO = bytes.fromhex("0102030405060708")
CITY = bytes.fromhex("3431303030303030")  # WS/T 543.4 diversification factors: YYCSDM 410400 -> "41000000"
CHALLENGE = bytes.fromhex("A1A2A3A4A5A6A7A8")

# JR/T 0025.2 purchase with a PSAM step 2 data: random(4) ‖ counter(2) ‖ amount(4) ‖ type(1) ‖ datetime(7) ‖ key version(1) ‖ algorithm(1) ‖ factors
PURCHASE_DATA = "1122334400050000100006201202291351000100"

CASES: list[tuple[str, Callable[[], Command], str]] = [
    ("JR/T 0025.2 purchase with a PSAM 80 70, N=1 (Lc 1C)", lambda: psam.init_sam_for_purchase(icc_random=RAND, card_counter=5, amount=0x1000, transaction_type=6, when=WHEN, key_version=1, algorithm=0, factors=[SERIAL8]), "807000001C" + PURCHASE_DATA + SERIAL8.hex() + "08"),
    ("JR/T 0025.2 purchase with a PSAM 80 70, N=2 (Lc 24)", lambda: psam.init_sam_for_purchase(icc_random=RAND, card_counter=5, amount=0x1000, transaction_type=6, when=WHEN, key_version=1, algorithm=0, factors=[SERIAL8, ISSUER8]), "8070000024" + PURCHASE_DATA + SERIAL8.hex() + ISSUER8.hex() + "08"),
    ("JR/T 0025.2 purchase with a PSAM 80 70 vendor P1/P2, Le 0C (S28)", lambda: psam.init_sam_for_purchase(icc_random=RAND, card_counter=5, amount=0x1000, transaction_type=6, when=WHEN, key_version=1, algorithm=0, factors=[SERIAL8], p1=0x01, p2=0x02, le=0x0C), "807001021C" + PURCHASE_DATA + SERIAL8.hex() + "0C"),
    ("JR/T 0025.2 purchase with a PSAM 80 72", lambda: psam.credit_sam_for_purchase(bytes.fromhex("56988A13")), "807200000456988A13"),
    ("PSAM COS, sources.md V2 80 1A (S22)", lambda: psam.init_for_descrypt(0x45, 0x01, [CARD_NO, bytes.fromhex("2000FF0000000000")]), "801A450110" + CARD_NO.hex() + "2000FF0000000000"),
    ("PSAM COS, sources.md V2 80 1A (S12, TAC key)", lambda: psam.init_for_descrypt(psam.descrypt_p1(2, 0x04), 0x00, [SERIAL8, ISSUER8]), "801A440010" + SERIAL8.hex() + ISSUER8.hex()),
    ("PSAM COS, sources.md V2 80 1A no factor", lambda: psam.init_for_descrypt(psam.descrypt_p1(0, psam.KeyUsage.MAC), 0x02), "801A0602"),
    ("PSAM COS, sources.md V2 80 FA encrypt (S22)", lambda: psam.sam_encrypt(bytes.fromhex("0102030405060708")), "80FA0000080102030405060708"),
    ("PSAM COS, sources.md V2 80 FA encrypt, more", lambda: psam.sam_encrypt(bytes(8), more=True), "80FA0200080000000000000000"),
    ("JR/T 0025.1 APPLICATION/CARD BLOCK; PSAM COS, sources.md V2 80 FA MAC for APPLICATION BLOCK (S22)", lambda: psam.sam_mac(RAND + bytes(4), bytes.fromhex("841E000004800000")), "80FA05001011223344000000 00841E000004800000"),
    ("PSAM COS, sources.md V2 80 FA MAC last block", lambda: psam.cipher_data(psam.CipherMode.MAC_LAST, bytes(8)), "80FA0100080000000000000000"),
    ("PSAM files, sources.md V2 EF16 terminal id", lambda: psam.read_terminal_id(), "00B0960006"),
    ("PSAM files, sources.md V2 EF15 public info", lambda: psam.read_public_info(), "00B095000A"),
    ("PSAM files, sources.md V2 EF17 key index", lambda: psam.read_purchase_key_index(), "00B0970001"),
    ("WS/T 543.4 EXTERNAL AUTHENTICATE 80 DE RK_DDF1 (47 31, 18)", lambda: healthsam.derive_key(0x47, 0x31, CARD_NO, CHALLENGE, city_factor=CITY), "80DE473118" + CARD_NO.hex() + CITY.hex() + CHALLENGE.hex()),
    ("WS/T 543.4 key table 80 DE UK_DDF1 (27 2A, 10)", lambda: healthsam.derive_key(0x27, 0x2A, CARD_NO, CHALLENGE), "80DE272A10" + CARD_NO.hex() + CHALLENGE.hex()),
    ("WS/T 543.4 EXTERNAL AUTHENTICATE 80 FA 00 00 10", lambda: healthsam.encrypt(bytes.fromhex("1122334455667788") + bytes(8)), "80FA0000101122334455667788" + "00" * 8),
    ("WS/T 543.4 SM UPDATE RECORD 80 FA 05 00 MAC", lambda: healthsam.mac(bytes(16), bytes.fromhex("04DC010414") + bytes(16) + bytes.fromhex("800000")), "80FA050028" + "00" * 16 + "04DC010414" + "00" * 16 + "800000"),
    ("健康卡 SAM spec: commands SAM VERIFY PIN", lambda: healthsam.verify_pin("123456"), "0020000003123456"),
    ("健康卡 SAM spec: commands SAM CHANGE PIN", lambda: healthsam.change_pin("123456", "654321"), "805E010007123456FF654321"),
    ("健康卡 SAM spec: files EF0015", lambda: healthsam.read_public_info(), "00B000000E"),
    ("健康卡 SAM spec: files EF0016", lambda: healthsam.read_terminal_info(), "00B0000006"),
    ("健康卡 SAM spec: files EF001A", lambda: healthsam.read_app_info(), "00B0000019"),
    ("健康卡 SAM spec: files EF001B", lambda: healthsam.read_issuer_certificate(), "00B00000B4"),
    ("健康卡 SAM spec: files EF001C", lambda: healthsam.read_sam_certificate(), "00B00000BE"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "build", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_exact_bytes(source: str, build: Callable[[], Command], hex_: str) -> None:
    expected = bytes.fromhex(hex_.replace(" ", ""))
    assert build().encode() == expected, source


@pytest.mark.parametrize(
    ("levels", "attribute", "p1"),
    [(2, psam.KeyUsage.MAINTENANCE, 0x45), (2, 0x04, 0x44), (1, psam.KeyUsage.PURCHASE, 0x22), (0, 0x0E, 0x0E)],
)
def test_descrypt_p1(levels: int, attribute: int, p1: int) -> None:
    assert psam.descrypt_p1(levels, attribute) == p1


@pytest.mark.parametrize(
    ("levels", "usage", "p1"),
    [
        (2, healthsam.KeyUsage.AUTHENTICATION, 0x47),  # RK keys
        (1, healthsam.KeyUsage.AUTHENTICATION, 0x27),  # UK_DDF1
        (1, healthsam.KeyUsage.PROTECTION, 0x28),  # STK_DDF1
        (2, healthsam.KeyUsage.PROTECTION, 0x48),  # STK_DF02
    ],
)
def test_health_derive_p1_matches_the_key_table(levels: int, usage: int, p1: int) -> None:
    assert healthsam.derive_p1(levels, usage) == p1


def test_redaction() -> None:
    assert healthsam.verify_pin("123456").redact & Redact.COMMAND_DATA
    assert "123456" not in repr(healthsam.verify_pin("123456"))
    assert healthsam.change_pin("123456", "654321").redact & Redact.COMMAND_DATA
    assert psam.sam_encrypt(bytes(8)).redact == Redact.BOTH
    assert psam.sam_mac(bytes(8), bytes(8)).redact == Redact.NOTHING


def test_sam_records() -> None:
    r = SamPurchaseInitResponse.parse(bytes.fromhex("0000012C F15CAB75"))
    assert (r.terminal_serial, r.mac1) == (300, bytes.fromhex("F15CAB75"))
    t = TerminalInfo.parse(bytes.fromhex("015300029D95"))  # PSAM files, sources.md V2 example (S4)
    assert t.terminal_id == bytes.fromhex("015300029D95")
    assert (t.province, t.city, t.issuer, t.serial) == (0x01, 0x53, 0x00, 0x029D95)
    p10 = SamPublicInfo.parse(bytes(range(10)))
    assert p10.serial == bytes(range(10)) and p10.version is None
    p14 = SamPublicInfo.parse(bytes(range(10)) + bytes.fromhex("01020304"))
    assert (p14.version, p14.key_card_type, p14.command_set_version, p14.issuer_data) == (1, 2, 3, b"\x04")
    assert p14.encode() == bytes(range(10)) + bytes.fromhex("01020304")
    app = HealthSamAppInfo.parse(bytes.fromhex("01" + "11" * 8 + "22" * 8 + "20200101" + "20301231"))
    assert (app.key_index, app.start_date, app.expiry_date) == (1, dt.date(2020, 1, 1), dt.date(2030, 12, 31))
    assert app.issuer_id == b"\x11" * 8 and app.receiver_id == b"\x22" * 8
    assert app.encode().hex().upper() == "01" + "11" * 8 + "22" * 8 + "20200101" + "20301231"


@pytest.mark.parametrize(
    ("parse", "data", "field"),
    [
        (SamPurchaseInitResponse.parse, bytes(12), "SamPurchaseInitResponse"),
        (TerminalInfo.parse, bytes(5), "TerminalInfo"),
        (SamPublicInfo.parse, bytes(9), "serial"),
        (HealthSamAppInfo.parse, bytes(24), "HealthSamAppInfo"),
        (HealthSamAppInfo.parse, bytes(17) + bytes.fromhex("20201301") + bytes.fromhex("20301231"), "start_date"),
    ],
)
def test_sam_records_reject_bad_input(parse: Callable[[bytes], object], data: bytes, field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        parse(data)
    assert info.value.field == field


def _init_purchase(**changes: Any) -> Command:
    """INIT_SAM_FOR_PURCHASE with valid arguments but for ``changes``."""
    args: dict[str, Any] = {
        "icc_random": RAND, "card_counter": 1, "amount": 1, "transaction_type": 6, "when": WHEN, "key_version": 1,
        "algorithm": 0, "factors": [SERIAL8],
    }  # fmt: skip
    return psam.init_sam_for_purchase(**(args | changes))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: _init_purchase(factors=[]),
            "factors",
        ),
        (
            lambda: _init_purchase(factors=[SERIAL8] * 4),
            "factors",
        ),
        (
            lambda: _init_purchase(factors=[bytes(7)]),
            "factors",
        ),
        (
            lambda: _init_purchase(icc_random=bytes(3)),
            "icc_random",
        ),
        (
            lambda: _init_purchase(amount=-5),
            "amount",
        ),
        (lambda: psam.credit_sam_for_purchase(bytes(5)), "mac2"),
        (lambda: psam.init_for_descrypt(0x45, 1, [bytes(8)] * 4), "factors"),
        (lambda: psam.sam_mac(bytes(4), bytes(8)), "iv"),
        (lambda: psam.read_terminal_id(sfi=31), "sfi"),
        (lambda: healthsam.derive_key(0x47, 0x31, bytes(7), CHALLENGE), "card_no"),
        (lambda: healthsam.derive_key(0x47, 0x31, CARD_NO, CHALLENGE, city_factor=bytes(4)), "city_factor"),
        (lambda: healthsam.derive_key(0x47, 0x31, CARD_NO, bytes(4)), "challenge"),
        (lambda: healthsam.derive_key(0x147, 0x31, CARD_NO, CHALLENGE), "p1"),
        (lambda: healthsam.verify_pin("12345"), "pin"),
        (lambda: healthsam.verify_pin("12ab"), "pin"),
        (lambda: healthsam.derive_p1(3, 7), "levels"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], Command], field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        build()
    assert info.value.field == field
