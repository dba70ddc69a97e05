"""Tearing: power loss at every point of a purchase, a load and a record update (anti-tearing, all-or-nothing).

After each tear the card is powered on again (and, as a second check, its image saved at the moment of the tear
is loaded into a new card): balance, counters and records are either all before or all after the transaction,
and GET TRANSACTION PROVE gives the purchase's MAC2 ‖ TAC exactly when the debit was committed
(JR/T 0025.1 GET TRANSACTION PROVE).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from healthcard.cos import TearAt, VirtualCard
from healthcard.image import dumps, loads
from healthcard.issuance import card_no_for
from healthcard.virtual import DEMO_TERMINAL_ID, demo_person
from sam.crypto import (
    Algorithm,
    health_auth_cryptogram,
    load_mac2,
    load_session_key,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    purchase_tac,
)
from tests.healthcard.vcard_tools import KEYS, OK, WHEN, fresh_card, x

TDES = Algorithm.TDES
FACTOR = card_no_for(demo_person())
AMOUNT = 250
SERIAL = 77
PURCHASE_COUNTER = 0  # offline counter of the fresh demo card


def _purchase_flow(card: VirtualCard) -> None:
    """Select, INITIALIZE FOR PURCHASE, DEBIT; stops quietly at the first lost answer."""
    if not x(card, "00A40000021001"):
        return
    init = card.execute(bytes.fromhex("805001020B01") + AMOUNT.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x0f")
    if not init:
        return
    ctr, rnd = int.from_bytes(init[4:6], "big"), init[11:15]
    sk = purchase_session_key(TDES, KEYS.card_key("purchase", FACTOR, None), rnd, ctr, SERIAL)
    mac1 = purchase_mac1(TDES, sk, AMOUNT, 0x06, DEMO_TERMINAL_ID, WHEN)
    card.execute(bytes.fromhex("805401000F") + SERIAL.to_bytes(4, "big") + WHEN + mac1 + b"\x08")


def _load_flow(card: VirtualCard) -> None:
    if not x(card, "00A40000021001") or not x(card, "0020000003123456"):
        return
    init = card.execute(bytes.fromhex("805000020B01") + AMOUNT.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10")
    if not init:
        return
    sk = load_session_key(TDES, KEYS.card_key("load", FACTOR, None), init[8:12], int.from_bytes(init[4:6], "big"))
    card.execute(bytes.fromhex("805200000B") + WHEN + load_mac2(TDES, sk, AMOUNT, 0x02, DEMO_TERMINAL_ID, WHEN))


NEW_ALLERGY = "芒果".encode("gbk").ljust(20, b"\x00") + "口周红肿".encode("gbk").ljust(100, b"\x00")


def _record_flow(card: VirtualCard) -> None:
    if not x(card, "00A4000002DDF1") or not x(card, "00A4000002DF02"):
        return
    challenge = x(card, "0084000008")[:-2]
    if not challenge:
        return
    terminal = bytes.fromhex("1122334455667788")
    key = KEYS.card_key("UK_DF02_3", FACTOR, b"11000000")
    auth = bytes.fromhex("0082008711") + health_auth_cryptogram(key, challenge, terminal) + terminal + b"\x01"
    if not card.execute(auth) or not x(card, "00A4000002EF07"):
        return
    card.execute(bytes.fromhex("00DC000378") + NEW_ALLERGY)


def _points(flow: Callable[[VirtualCard], None]) -> list[str]:
    card = fresh_card()
    counter = TearAt(None)
    card.tear = counter
    flow(card)
    return counter.points


def _purse_snapshot(card: VirtualCard) -> tuple[int, bytes, bytes]:
    x(card, "00A40000021001")
    bal = x(card, "805C000204")
    assert bal[-2:] == OK
    detail = x(card, "00B201C400")
    return int.from_bytes(bal[:4], "big"), detail, x(card, "0020000000")


def _allergies(card: VirtualCard) -> list[bytes]:
    df02 = card.state.mf.children[0xDDF1].children[0xDF02]  # type: ignore[union-attr]
    return list(df02.children[0xEF07].records)  # type: ignore[union-attr]


def _torn_cards(flow: Callable[[VirtualCard], None], n: int) -> tuple[VirtualCard, VirtualCard, TearAt]:
    card = fresh_card()
    hook = TearAt(n)
    card.tear = hook
    flow(card)
    assert hook.torn_at is not None and not card.powered
    image = dumps(card.state)
    card.tear = None
    card.power_on()
    reloaded = VirtualCard(loads(image))
    return card, reloaded, hook


PURCHASE_POINTS = _points(_purchase_flow)
LOAD_POINTS = _points(_load_flow)
RECORD_POINTS = _points(_record_flow)


def test_flows_have_inner_commit_points() -> None:
    for points, label in ((PURCHASE_POINTS, "purchase"), (LOAD_POINTS, "load"), (RECORD_POINTS, "update-record")):
        assert {f"{label}:journal", f"{label}:commit", f"{label}:apply-1"} <= set(points), points


@pytest.mark.parametrize("n", range(len(PURCHASE_POINTS)))
def test_purchase_torn_at_every_point(n: int) -> None:
    before = _purse_snapshot(fresh_card())
    for card in _torn_cards(_purchase_flow, n)[:2]:
        bal, detail, pin = _purse_snapshot(card)
        x(card, "00A40000021001")
        prove = x(card, "805A000602", (PURCHASE_COUNTER + 1).to_bytes(2, "big") + b"\x08")
        if bal == before[0]:
            assert detail == before[1] and prove == b"\x94\x06"
        else:
            assert bal == before[0] - AMOUNT and detail[5:9] == AMOUNT.to_bytes(4, "big")
            # The debit committed: the terminal recovers MAC2 and TAC of the lost answer.
            assert prove[-2:] == OK and prove[4:8] == _expected_tac()
        assert pin == before[2]


def _expected_tac() -> bytes:
    tac_key = KEYS.card_key("tac", FACTOR, None)
    return purchase_tac(TDES, tac_key, AMOUNT, 0x06, DEMO_TERMINAL_ID, SERIAL, WHEN)


@pytest.mark.parametrize("n", range(len(LOAD_POINTS)))
def test_load_torn_at_every_point(n: int) -> None:
    before = _purse_snapshot(fresh_card())
    for card in _torn_cards(_load_flow, n)[:2]:
        bal, detail, _ = _purse_snapshot(card)
        if bal == before[0]:
            assert detail == before[1]
        else:
            assert bal == before[0] + AMOUNT and detail[9] == 0x02 and detail != before[1]


@pytest.mark.parametrize("n", range(len(RECORD_POINTS)))
def test_record_update_torn_at_every_point(n: int) -> None:
    before = _allergies(fresh_card())
    for card in _torn_cards(_record_flow, n)[:2]:
        after = _allergies(card)
        assert after in (before, [NEW_ALLERGY, *before][:3])


def test_purchase_mac2_recovered_equals_the_lost_answer() -> None:
    card = fresh_card()
    commit_index = PURCHASE_POINTS.index("apdu:done", PURCHASE_POINTS.index("purchase:commit"))
    hook = TearAt(commit_index)
    card.tear = hook
    _purchase_flow(card)
    assert hook.torn_at == "apdu:done"
    card.tear = None
    card.power_on()
    x(card, "00A40000021001")
    prove = x(card, "805A000602", (PURCHASE_COUNTER + 1).to_bytes(2, "big") + b"\x08")
    rnd_card = fresh_card()  # same seed → same card random → same session key
    x(rnd_card, "00A40000021001")
    init = rnd_card.execute(bytes.fromhex("805001020B01") + AMOUNT.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x0f")
    sk = purchase_session_key(TDES, KEYS.card_key("purchase", FACTOR, None), init[11:15], 0, SERIAL)
    assert prove == purchase_mac2(TDES, sk, AMOUNT) + _expected_tac() + OK
