"""Malformed commands on the virtual card: the order of checks of the one engine (apdu.engine, issue #14).

The card's own check of every command it knows runs on the APDU as it came, before the length fields are parsed
(healthcard/cos/card.py ``_before``): a command whose Lc/Le do not match its length still ends a pending purse
transaction (JR/T 0025.1: the very next command must be DEBIT / CREDIT) and still meets the life-cycle lock.
Then the engine answers it 6700 before any handler: it reaches no file and costs no key a try
(docs/virtual-card.md, "Commands").
"""

from __future__ import annotations

from healthcard.fs import DF, LifeCycle
from healthcard.virtual import DEMO_TERMINAL_ID
from sam.crypto import purchase_mac1, purchase_session_key
from tests.healthcard.vcard_tools import KEYS, OK, TDES, WHEN, balance, fresh_card, purse_factor, x

MALFORMED_READ = "00B0000003AABB"  # Lc 3, two bytes follow
WRONG_LENGTH = b"\x67\x00"


def test_a_malformed_command_still_ends_a_pending_purchase() -> None:
    card = fresh_card()
    factor = purse_factor(card)  # purse ADF selected
    init = x(card, "805001020B01 00000064", DEMO_TERMINAL_ID + b"\x0f")
    assert init[-2:] == OK
    ctr, rnd = int.from_bytes(init[4:6], "big"), init[11:15]
    sk = purchase_session_key(TDES, KEYS.card_key("purchase", factor, None), rnd, ctr, 1)
    mac1 = purchase_mac1(TDES, sk, 100, 0x06, DEMO_TERMINAL_ID, WHEN)
    assert x(card, MALFORMED_READ) == WRONG_LENGTH
    assert x(card, "805401000F 00000001", WHEN + mac1 + b"\x08") == b"\x69\x85"  # no purchase pending any more
    assert balance(card) == 10_000


def test_a_locked_application_answers_a_malformed_command_with_the_lock() -> None:
    card = fresh_card()
    purse_factor(card)
    adf = card.state.mf.children[0x1001]
    assert isinstance(adf, DF)
    adf.life_cycle = LifeCycle.BLOCKED_TEMPORARILY
    card.refresh_lock()
    assert x(card, MALFORMED_READ) == b"\x6a\x81"
    assert x(card, "805C000204") == b"\x6a\x81"
    assert len(x(card, "0084000004")) == 6  # GET CHALLENGE is still served


def test_a_malformed_pin_unblock_costs_no_try() -> None:
    card = fresh_card()
    purse_factor(card)
    for _ in range(2):
        assert len(x(card, "0084000008")) == 10
        assert x(card, "8424000005 AABBCCDD") == WRONG_LENGTH  # Lc 5, four bytes follow
    assert len(x(card, "0084000008")) == 10
    assert x(card, "842400000C", bytes(12)) == b"\x63\xc2"  # the first counted failure: 3 tries -> 2
