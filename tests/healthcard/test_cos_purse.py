"""PBOC purse on the virtual card: purchase and load MACs/TAC checked with sam.crypto (JR/T 0025.1 purse commands; JR/T
0025.2 MAC/TAC)."""

from __future__ import annotations

from tests.healthcard.vcard_tools import OK, balance, fresh_card, load, purchase, x


def test_purchase_mac2_and_tac_verify() -> None:
    card = fresh_card()
    p = purchase(card, 1_50, serial=0x1234)
    assert p.answer[-2:] == OK
    assert p.mac2 == p.expected_mac2 and p.tac == p.expected_tac
    assert p.balance_before == 10_000 and balance(card) == 10_000 - 150


def test_purchase_writes_detail_record_and_counter() -> None:
    card = fresh_card()
    first = purchase(card, 100)
    second = purchase(card, 200)
    assert second.counter == first.counter + 1
    record = x(card, "00B201C400")  # SFI 18, record 1 = newest
    assert record[-2:] == OK
    assert record[:2] == second.counter.to_bytes(2, "big") and record[5:9] == (200).to_bytes(4, "big")
    assert record[9] == 0x06


def test_wrong_mac1_is_9302_and_balance_unchanged() -> None:
    card = fresh_card()
    p = purchase(card, 100, wrong_mac1=True)
    assert p.answer == b"\x93\x02"
    assert balance(card) == 10_000


def test_insufficient_funds() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    assert x(card, "805001020B01 000F4240 000000000001 0F") == b"\x94\x01"


def test_load_tac_and_balance() -> None:
    card = fresh_card()
    ld = load(card, 5_000)
    assert ld.answer == ld.expected_tac + OK
    assert balance(card) == 15_000


def test_load_needs_pin_and_right_mac2() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    assert x(card, "805000020B01 00000064 000000000001 10") == b"\x69\x82"
    ld = load(card, 100, wrong_mac2=True)
    assert ld.answer == b"\x93\x02" and balance(card) == 10_000


def test_credit_without_initialize_is_6985() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    assert x(card, "805200000B 20240115103000 01020304 04") == b"\x69\x85"


def test_get_transaction_prove_returns_mac2_and_tac() -> None:
    card = fresh_card()
    p = purchase(card, 321)
    counter_after = (p.counter + 1).to_bytes(2, "big")
    assert x(card, "805A000602", counter_after + b"\x08") == p.expected_mac2 + p.expected_tac + OK
    assert x(card, "805A000602", p.counter.to_bytes(2, "big") + b"\x08") == b"\x94\x06"
    assert x(card, "805A000202", counter_after + b"\x08") == b"\x94\x06"


def test_unknown_key_index_is_9403() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    assert x(card, "805001020B07 00000001 000000000001 0F") == b"\x94\x03"
