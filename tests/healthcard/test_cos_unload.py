"""Unload (圈提, JR/T 0025.1 INITIALIZE FOR UNLOAD): INITIALIZE FOR UNLOAD ``80 50 05 02`` and DEBIT FOR UNLOAD ``80 54
03 00``.

The demo profile issues the unload key (type 3D, index 01, use right F1: the PIN), diversified from the demo
unload master key by the purse factor (docs/decisions.md D13). MAC1 and MAC2
are the load formulas with transaction type 03 and the unload key's session key (JR/T 0025.2 load MAC/TAC); the answer
MAC is the project's documented choice (docs/virtual-card.md): session-key MAC over new balance ‖ online counter ‖
amount ‖ type ‖ terminal ‖ date ‖ time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from healthcard.cos import VirtualCard
from healthcard.virtual import DEMO_TERMINAL_ID
from sam.crypto import Algorithm, load_mac1, load_mac2, load_session_key, session_mac
from tests.healthcard.vcard_tools import KEYS, OK, WHEN, balance, fresh_card, purse_factor, x

TDES = Algorithm.TDES
TX_UNLOAD = 0x03
UNLOAD_KEY = b""


def _card_with_unload_key() -> VirtualCard:
    global UNLOAD_KEY  # noqa: PLW0603 - the card key of the demo card, the same for every copy
    card = fresh_card()
    UNLOAD_KEY = KEYS.card_key("unload", purse_factor(card), None)
    assert x(card, "0020000003123456") == OK  # the unload key's use right F1: the cardholder's PIN
    return card


def card_without_unload_key() -> VirtualCard:
    """A demo card as issued before the profile had the unload key (its purse key file lacks 3D/01)."""
    card = fresh_card()
    state = copy.deepcopy(card.state)
    adf = state.mf.children[0x1001]
    del adf.key_file.keys[(0x3D, 0x01)]  # type: ignore[union-attr]
    return VirtualCard(state)


@dataclass
class Init:
    balance: int
    counter: int
    session_key: bytes
    mac1: bytes


def _initialize(card: VirtualCard, amount: int) -> Init:
    init = x(card, "805005020B01", amount.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10")
    assert init[-2:] == OK and len(init) == 18, init.hex()
    bal, ctr, rnd = int.from_bytes(init[:4], "big"), int.from_bytes(init[4:6], "big"), init[8:12]
    return Init(bal, ctr, load_session_key(TDES, UNLOAD_KEY, rnd, ctr), init[12:16])


def test_unload_debits_and_answers_the_session_key_mac() -> None:
    card = _card_with_unload_key()
    init = _initialize(card, 2_500)
    assert init.balance == 10_000
    assert init.mac1 == load_mac1(TDES, init.session_key, 10_000, 2_500, TX_UNLOAD, DEMO_TERMINAL_ID)
    mac2 = load_mac2(TDES, init.session_key, 2_500, TX_UNLOAD, DEMO_TERMINAL_ID, WHEN)
    answer = x(card, "805403000B", WHEN + mac2 + b"\x04")
    expected = session_mac(TDES, init.session_key, (7_500).to_bytes(4, "big") + init.counter.to_bytes(2, "big")
                   + (2_500).to_bytes(4, "big") + bytes((TX_UNLOAD,)) + DEMO_TERMINAL_ID + WHEN)  # fmt: skip
    assert answer == expected + OK
    assert balance(card) == 7_500
    again = _initialize(card, 1)
    assert again.counter == init.counter + 1  # the online counter moved
    record = x(card, "00B201C400")
    assert record[-2:] == OK and record[:2] == init.counter.to_bytes(2, "big")
    assert record[5:9] == (2_500).to_bytes(4, "big") and record[9] == TX_UNLOAD
    prove = x(card, "805A000302", (init.counter + 1).to_bytes(2, "big") + b"\x08")
    assert prove == mac2 + expected + OK


def test_unload_wrong_mac2_is_9302_and_nothing_changes() -> None:
    card = _card_with_unload_key()
    init = _initialize(card, 100)
    assert x(card, "805403000B", WHEN + b"\x00\x00\x00\x00" + b"\x04") == b"\x93\x02"
    assert x(card, "805403000B", WHEN + load_mac2(TDES, init.session_key, 100, TX_UNLOAD, DEMO_TERMINAL_ID, WHEN)) \
        == b"\x69\x85"  # the transaction ended with the 9302  # fmt: skip
    assert balance(card) == 10_000
    assert _initialize(card, 1).counter == init.counter


def test_unload_refusals() -> None:
    card = _card_with_unload_key()
    assert x(card, "805005020B01", (10_001).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10") == b"\x94\x01"
    assert x(card, "805005020B02", (1).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10") == b"\x94\x03"  # no 3D/02
    assert x(card, "805005030B01", (1).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10") == b"\x6a\x86"
    without_pin = fresh_card()
    purse_factor(without_pin)
    assert x(without_pin, "805005020B01", (1).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10") == b"\x69\x82"
    assert x(card, "805403000B", WHEN + bytes(4)) == b"\x69\x85"  # no INITIALIZE FOR UNLOAD before
    _initialize(card, 1)
    assert x(card, "805C000204")[-2:] == OK  # any other command ends the pending unload
    assert x(card, "805403000B", WHEN + bytes(4)) == b"\x69\x85"
    _initialize(card, 1)
    assert x(card, "8054030007", WHEN) == b"\x67\x00"
    no_key = card_without_unload_key()
    purse_factor(no_key)
    assert x(no_key, "805005020B01", (1).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10") == b"\x94\x03"
