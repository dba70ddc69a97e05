"""Issue #11 item 8 (virtual-card side): bad input gets the right status word, never 6F00, and the card never
reaches a state its image cannot hold.

* Secure-messaging commands whose data field cannot be MAC'd (extended length: ``Lc'`` is one byte,
  JR/T 0025.1 secure messaging) answer 6700, not 6F00.
* An overdraft limit in the image never lets a purchase take the balance below 0 (docs/decisions.md D8); every
  state reached by loads, purchases and unloads saves and loads again.
* Wrong PIN RELOAD MACs (and PIN UNBLOCK cryptograms) cost the key a try and end in 6983 (ISO/IEC 7816-4
  EXTERNAL/INTERNAL AUTHENTICATE, JR/T 0025.1 PIN commands).
* Random APDUs, sent after the authentications that open each DF, never answer 6F00 nor raise.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.command import Command
from healthcard.cos import VirtualCard
from healthcard.fs import DF, Key, PurseEF
from healthcard.image import dumps, loads
from healthcard.virtual import DEMO_TERMINAL_ID, blank_card
from sam.crypto import Algorithm, external_auth_cryptogram, session_mac, sm_encrypt_and_mac_command, tac_session_key
from tests.healthcard.vcard_tools import KEYS, OK, balance, fresh_card, load, purchase, purse_factor, x

TDES = Algorithm.TDES
TRANSPORT = b"\xff" * 16
NEW_PIN = bytes.fromhex("654321")
SM_HEADERS = ["04D60000", "04DC0104", "04E20000", "84D40100", "841E0000", "84160000", "84180000", "84240000"]


def _open_blank() -> VirtualCard:
    """A blank card with a MAC-protected binary EF 0001 and record EF 0002, authenticated in the MF (state F)."""
    card = blank_card(bytes(8))
    _transport_auth(card)
    assert x(card, "80E0000107 A80200F0F0FFFF") == OK
    assert x(card, "80E0000207 AC05FFF0F0FFFF") == OK
    return card


def _transport_auth(card: VirtualCard) -> None:
    challenge = x(card, "0084000008")[:-2]
    assert x(card, "0082000008", external_auth_cryptogram(TDES, TRANSPORT, challenge)) == OK


@pytest.mark.parametrize("header", SM_HEADERS)
@pytest.mark.parametrize("length", [256, 300, 4000])
@pytest.mark.parametrize("ef", ["0001", "0002", "3F00"])
def test_extended_secure_messaging_answers_wrong_length(header: str, length: int, ef: str) -> None:
    card = _open_blank()
    assert x(card, "00A4000002" + ef)[-2:] == OK
    _transport_auth(card)
    x(card, "0084000008")
    answer = x(card, header + "00" + length.to_bytes(2, "big").hex(), bytes(length))
    assert answer == b"\x67\x00"


def test_short_secure_messaging_at_the_limit_is_checked_not_crashed() -> None:
    card = _open_blank()
    assert x(card, "00A40000020001") == OK
    x(card, "0084000008")
    assert x(card, "04D60000FF", bytes(255)) == b"\x69\x88"  # 251 data bytes + a (wrong) MAC: a MAC failure


def _with_overdraft(card: VirtualCard, limit: int) -> VirtualCard:
    """The card saved to an image that carries an overdraft limit on the EP, and loaded again."""
    doc = json.loads(dumps(card.state))
    adf = next(c for c in doc["mf"]["children"] if c["fid"] == "1001")
    purse = next(c for c in adf["children"] if c["kind"] == "purse")
    purse["overdraft_limit"] = limit
    return VirtualCard(loads(json.dumps(doc)))


def _ep(card: VirtualCard) -> PurseEF:
    adf = card.state.mf.children[0x1001]
    assert isinstance(adf, DF)
    ep = adf.children[0x0002]
    assert isinstance(ep, PurseEF)
    return ep


def _pay(card: VirtualCard, amount: int) -> bytes:
    """A purchase's final answer: INITIALIZE FOR PURCHASE's status word when it refuses, else DEBIT's answer."""
    purse_factor(card)
    init = card.execute(bytes.fromhex("805001020B01") + amount.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x0f")
    if init[-2:] != OK:
        return init
    return purchase(card, amount).answer


def test_overdraft_limit_never_makes_the_balance_negative() -> None:
    card = _with_overdraft(fresh_card(), 5_000)
    assert balance(card) == 10_000
    assert _pay(card, 12_000) == b"\x94\x01"  # more than the balance: insufficient funds, overdraft or not
    assert balance(card) == 10_000
    assert purchase(card, 10_000).answer[-2:] == OK
    assert balance(card) == 0 and _ep(card).balance == 0
    again = loads(dumps(card.state))  # the image still loads
    assert again == card.state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(0, 0xFFFFFF),
    steps=st.lists(st.tuples(st.sampled_from(["load", "purchase"]), st.integers(1, 30_000)), max_size=6),
)
def test_every_purse_state_saves_and_loads(limit: int, steps: list[tuple[str, int]]) -> None:
    card = _with_overdraft(fresh_card(), limit)
    for kind, amount in steps:
        before = _ep(card).balance
        if kind == "load":
            assert load(card, amount).answer[-2:] == OK
            assert _ep(card).balance == before + amount
        else:
            answer = _pay(card, amount)
            assert answer[-2:] == (OK if amount <= before else b"\x94\x01")
        assert _ep(card).balance >= 0
        assert balance(card) == _ep(card).balance
        text = dumps(card.state)
        assert loads(text) == card.state


def _reload_key(card: VirtualCard) -> Key:
    return _purse_key(card, 0x38)


def _purse_key(card: VirtualCard, key_type: int) -> Key:
    adf = card.state.mf.children[0x1001]
    assert isinstance(adf, DF) and adf.key_file is not None
    key = adf.key_file.find(key_type, 0x00)
    assert key is not None
    return key


def _reload_mac(key: bytes, pin: bytes) -> bytes:
    return session_mac(TDES, tac_session_key(TDES, key), pin)


def test_failed_pin_reload_macs_are_counted_and_lock_the_reload_key() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    key = KEYS.card_key("pin_reload", factor, None)
    assert _reload_key(card).tries_left == 3
    for left, sw in ((2, "63C2"), (1, "63C1"), (0, "6983")):  # the last failure answers 6983 (as VERIFY does)
        assert x(card, "805E000007", NEW_PIN + b"\x00\x00\x00\x00") == bytes.fromhex(sw)
        assert _reload_key(card).tries_left == left
    assert loads(dumps(card.state)) == card.state  # the count is persistent
    assert x(card, "805E000007", NEW_PIN + _reload_mac(key, NEW_PIN)) == b"\x69\x83"  # locked, even the right MAC
    assert x(card, "0020000003 654321") == b"\x63\xc2"  # the PIN was not changed


def test_a_right_pin_reload_mac_restores_the_reload_keys_tries() -> None:
    card = fresh_card()
    key = KEYS.card_key("pin_reload", purse_factor(card), None)
    assert x(card, "805E000007", NEW_PIN + b"\x00\x00\x00\x00") == b"\x63\xc2"
    assert x(card, "805E000007", NEW_PIN + _reload_mac(key, NEW_PIN)) == OK
    assert _reload_key(card).tries_left == 3
    assert x(card, "0020000003 654321") == OK


def test_failed_pin_unblock_cryptograms_are_counted() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    wrong = KEYS.card_key("pin_reload", factor, None)
    for sw in ("63C2", "63C1", "6983"):
        challenge = x(card, "0084000004")[:-2]
        command = sm_encrypt_and_mac_command(TDES, wrong, wrong, Command(0x80, 0x24, 0x00, 0x00, b"\x12\x34\x56"),
                                             challenge)  # fmt: skip
        assert card.execute(command.encode()) == bytes.fromhex(sw)
    assert _purse_key(card, 0x37).tries_left == 0
    right = KEYS.card_key("pin_unblock", factor, None)
    challenge = x(card, "0084000004")[:-2]
    command = sm_encrypt_and_mac_command(TDES, right, right, Command(0x80, 0x24, 0x00, 0x00, b"\x12\x34\x56"),
                                         challenge)  # fmt: skip
    assert card.execute(command.encode()) == b"\x69\x83"


# --- no APDU makes the card answer 6F00, in open security states too ------------------------------------------

INS = [0xA4, 0xB0, 0xD6, 0xB2, 0xDC, 0xE2, 0xD2, 0x0C, 0x84, 0x82, 0x88, 0x20, 0x5E, 0x24, 0x0E, 0xE0, 0xD4,
       0x50, 0x52, 0x54, 0x5C, 0x5A, 0x1E, 0x18, 0x16]  # fmt: skip
_header = st.tuples(st.sampled_from([0x00, 0x04, 0x80, 0x84]), st.sampled_from(INS), st.integers(0, 255),
                    st.integers(0, 255)).map(bytes)  # fmt: skip
_short = st.binary(min_size=1, max_size=255).map(lambda d: bytes((len(d),)) + d)
_extended = st.binary(min_size=1, max_size=600).map(lambda d: b"\x00" + len(d).to_bytes(2, "big") + d)
_body = st.one_of(st.just(b""), st.binary(max_size=3), _short, _short.map(lambda b: b + b"\x00"), _extended,
                  _extended.map(lambda b: b + b"\x00\x00"))  # fmt: skip
_apdu = st.builds(lambda h, b, ch: (ch, h + b), _header, _body, st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(_apdu, min_size=1, max_size=8))
def test_no_apdu_answers_6f00_in_an_authenticated_mf(commands: list[tuple[bool, bytes]]) -> None:
    card = _open_blank()
    for with_challenge, apdu in commands:
        if with_challenge:
            x(card, "0084000008")
        answer = card.execute(apdu)
        assert len(answer) >= 2 and answer[-2:] != b"\x6f\x00", apdu.hex()
    assert loads(dumps(card.state)) == card.state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from(["1001", "DDF1"]), commands=st.lists(_apdu, min_size=1, max_size=8))
def test_no_apdu_answers_6f00_on_an_issued_card(start: str, commands: list[tuple[bool, bytes]]) -> None:
    card = fresh_card()
    x(card, "00A4000002" + start)
    if start == "1001":
        assert x(card, "0020000003 123456") == OK  # the PIN opens the load key and the reload / unblock paths
    for with_challenge, apdu in commands:
        if with_challenge:
            x(card, "0084000008")
        answer = card.execute(apdu)
        assert len(answer) >= 2 and answer[-2:] != b"\x6f\x00", apdu.hex()
    assert loads(dumps(card.state)) == card.state
