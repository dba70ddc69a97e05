"""Helpers for the virtual-card tests: a shared personalised card, APDU shortcuts, terminal-side purse flows.

The terminal side uses only ``sam.crypto`` and the demo master keys (``sam/data/demo-keys.json``), diversified
with the rightmost 8 bytes of the application serial read from EF15 (JR/T 0025.2 MAC/TAC, JR/T 0025.2 key
diversification).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import random
from dataclasses import dataclass

from healthcard.cos import VirtualCard
from healthcard.issuance import DemoKeySource
from healthcard.virtual import DEMO_TERMINAL_ID, new_demo_card
from sam.crypto import (
    Algorithm,
    external_auth_cryptogram,
    load_mac1,
    load_mac2,
    load_session_key,
    load_tac,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    purchase_tac,
)

OK = b"\x90\x00"
TDES = Algorithm.TDES
WHEN = bytes.fromhex("20240115103000")
KEYS = DemoKeySource()


@functools.cache
def _base() -> VirtualCard:
    return new_demo_card(issue_date=dt.date(2024, 1, 15), rng=random.Random(1).randbytes)


def fresh_card(seed: int = 2) -> VirtualCard:
    """A copy of the demo card (personalised once per test session), balance 10000 fen, powered on."""
    return VirtualCard(copy.deepcopy(_base().state), rng=random.Random(seed).randbytes)


def x(card: VirtualCard, hexstr: str, data: bytes = b"") -> bytes:
    """Send ``hexstr`` (spaces allowed) followed by ``data``."""
    return card.execute(bytes.fromhex(hexstr.replace(" ", "")) + data)


def purse_factor(card: VirtualCard) -> bytes:
    """SELECT the purse ADF and return the diversification factor (EF15 bytes 12..19)."""
    assert x(card, "00A40000021001")[-2:] == OK
    ef15 = x(card, "00B095001E")
    assert ef15[-2:] == OK
    return ef15[12:20]


def purse_master_auth(card: VirtualCard) -> None:
    """SELECT the purse ADF and EXTERNAL AUTHENTICATE with its master key 39/00 (the issuer's, state 2): what
    adding keys or files in the ADF of an issued card needs (docs/decisions.md D10)."""
    factor = purse_factor(card)
    challenge = x(card, "0084000008")[:-2]
    cryptogram = external_auth_cryptogram(TDES, KEYS.card_key("external_auth", factor, None), challenge)
    assert x(card, "0082000008", cryptogram) == OK


@dataclass
class Purchase:
    """What the terminal saw of one purchase."""

    answer: bytes
    balance_before: int
    counter: int
    mac2: bytes
    tac: bytes
    expected_mac2: bytes
    expected_tac: bytes


def purchase(card: VirtualCard, amount: int, serial: int = 1, *, wrong_mac1: bool = False) -> Purchase:
    """INITIALIZE FOR PURCHASE + DEBIT FOR PURCHASE with MAC1 computed as a PSAM would."""
    factor = purse_factor(card)
    init = card.execute(bytes.fromhex("805001020B01") + amount.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x0f")
    assert init[-2:] == OK, init.hex()
    bal, ctr, rnd = int.from_bytes(init[:4], "big"), int.from_bytes(init[4:6], "big"), init[11:15]
    sk = purchase_session_key(TDES, KEYS.card_key("purchase", factor, None), rnd, ctr, serial)
    mac1 = purchase_mac1(TDES, sk, amount, 0x06, DEMO_TERMINAL_ID, WHEN)
    if wrong_mac1:
        mac1 = bytes(b ^ 1 for b in mac1)
    answer = card.execute(bytes.fromhex("805401000F") + serial.to_bytes(4, "big") + WHEN + mac1 + b"\x08")
    tac_key = KEYS.card_key("tac", factor, None)
    return Purchase(
        answer, bal, ctr, answer[4:8], answer[:4], purchase_mac2(TDES, sk, amount),
        purchase_tac(TDES, tac_key, amount, 0x06, DEMO_TERMINAL_ID, serial, WHEN),
    )  # fmt: skip


@dataclass
class Load:
    """What the host saw of one load."""

    answer: bytes
    balance_before: int
    counter: int
    expected_tac: bytes


def load(card: VirtualCard, amount: int, *, pin: bytes = b"\x12\x34\x56", wrong_mac2: bool = False) -> Load:
    """VERIFY + INITIALIZE FOR LOAD (MAC1 checked) + CREDIT FOR LOAD with MAC2 from the demo load key."""
    factor = purse_factor(card)
    assert card.execute(bytes.fromhex("0020000003") + pin) == OK
    init = card.execute(bytes.fromhex("805000020B01") + amount.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10")
    assert init[-2:] == OK, init.hex()
    bal, ctr, rnd, mac1 = int.from_bytes(init[:4], "big"), int.from_bytes(init[4:6], "big"), init[8:12], init[12:16]
    sk = load_session_key(TDES, KEYS.card_key("load", factor, None), rnd, ctr)
    assert load_mac1(TDES, sk, bal, amount, 0x02, DEMO_TERMINAL_ID) == mac1
    mac2 = load_mac2(TDES, sk, amount, 0x02, DEMO_TERMINAL_ID, WHEN)
    if wrong_mac2:
        mac2 = bytes(b ^ 1 for b in mac2)
    answer = card.execute(bytes.fromhex("805200000B") + WHEN + mac2 + b"\x04")
    tac = load_tac(TDES, KEYS.card_key("tac", factor, None), bal + amount, ctr, amount, 0x02, DEMO_TERMINAL_ID, WHEN)
    return Load(answer, bal, ctr, tac)


def balance(card: VirtualCard) -> int:
    """GET BALANCE of the EP (selects the purse ADF)."""
    purse_factor(card)
    r = x(card, "805C000204")
    assert r[-2:] == OK
    return int.from_bytes(r[:4], "big")
