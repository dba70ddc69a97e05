"""PIN unblock, PIN reload (JR/T 0025.1 PIN commands) and INTERNAL AUTHENTICATE (ISO/IEC 7816-4 EXTERNAL/INTERNAL
AUTHENTICATE) on the purse ADF of the demo card.

Keys: PIN 3A/00 (123456, 3 tries), PIN unblock 37/00, PIN reload 38/00, TAC / internal key 34/00, all diversified
from the demo master keys with the rightmost 8 bytes of the application serial (EF15).
"""

from __future__ import annotations

from apdu.command import Command
from healthcard.cos import VirtualCard
from healthcard.fs import DF, Key
from sam.crypto import Algorithm, encrypt_ecb, mac, session_mac, sm_encrypt_and_mac_command
from tests.healthcard.vcard_tools import KEYS, OK, fresh_card, purse_factor, x

TDES = Algorithm.TDES
PIN = bytes.fromhex("123456")
NEW_PIN = bytes.fromhex("654321")


def _locked_card() -> tuple[VirtualCard, bytes]:
    card = fresh_card()
    factor = purse_factor(card)
    for sw in (b"\x63\xc2", b"\x63\xc1", b"\x69\x83"):
        assert x(card, "0020000003 999999") == sw
    assert x(card, "0020000003 123456") == b"\x69\x83"
    return card, factor


def _pin_key(card: VirtualCard) -> Key:
    adf = card.state.mf.children[0x1001]
    assert isinstance(adf, DF) and adf.key_file is not None
    key = adf.key_file.find(0x3A, 0x00)
    assert key is not None
    return key


def _unblock(card: VirtualCard, key: bytes, pin: bytes, *, corrupt: bool = False) -> bytes:
    challenge = x(card, "0084000004")[:-2]
    command = sm_encrypt_and_mac_command(TDES, key, key, Command(0x80, 0x24, 0x00, 0x00, pin), challenge).encode()
    if corrupt:
        command = command[:-1] + bytes((command[-1] ^ 1,))
    return card.execute(command)


def test_pin_unblock_restores_the_tries() -> None:
    card, factor = _locked_card()
    key = KEYS.card_key("pin_unblock", factor, None)
    assert _unblock(card, key, PIN) == OK and _pin_key(card).tries_left == 3
    assert x(card, "0020000000") == b"\x63\xc3"
    assert x(card, "0020000003 123456") == OK and card.security == 1


def test_pin_unblock_errors_leave_the_pin_blocked() -> None:
    card, factor = _locked_card()
    key = KEYS.card_key("pin_unblock", factor, None)
    plain = sm_encrypt_and_mac_command(TDES, key, key, Command(0x80, 0x24, 0x00, 0x00, PIN), bytes(4)).encode()
    assert card.execute(plain) == b"\x69\x84"  # no challenge
    assert _unblock(card, key, PIN, corrupt=True) == b"\x63\xc2"  # a wrong MAC costs the unblock key a try
    assert _unblock(card, key, NEW_PIN) == b"\x6a\x80"  # the cryptogram must carry the current PIN
    assert _unblock(card, KEYS.card_key("pin_reload", factor, None), PIN) == b"\x63\xc2"  # wrong key
    assert card.execute(b"\x80" + plain[1:]) == b"\x6e\x00"
    challenge = x(card, "0084000004")[:-2]
    other_pin = sm_encrypt_and_mac_command(TDES, key, key, Command(0x80, 0x24, 0x05, 0x00, PIN), challenge).encode()
    assert card.execute(other_pin) == b"\x6a\x88"  # no PIN 3A/05
    assert _pin_key(card).tries_left == 0
    assert x(card, "0020000000") == b"\x69\x83"


def test_pin_unblock_survives_power_cycle() -> None:
    card, factor = _locked_card()
    assert _unblock(card, KEYS.card_key("pin_unblock", factor, None), PIN) == OK
    card.power_off()
    card.power_on()
    purse_factor(card)
    assert x(card, "0020000003 123456") == OK


def _reload_mac(reload_key: bytes, pin: bytes) -> bytes:
    """JR/T 0025.1 PIN commands: DES-MAC (IV 0) of the new PIN under key_L ⊕ key_R (computed here by hand)."""
    folded = bytes(a ^ b for a, b in zip(reload_key[:8], reload_key[8:], strict=True))
    return session_mac(TDES, folded, pin)


def test_pin_reload_sets_a_new_pin_and_restores_the_tries() -> None:
    card, factor = _locked_card()
    tag = _reload_mac(KEYS.card_key("pin_reload", factor, None), NEW_PIN)
    assert x(card, "805E000007", NEW_PIN + tag) == OK
    assert _pin_key(card).value == NEW_PIN and _pin_key(card).tries_left == 3
    assert x(card, "0020000003 123456") == b"\x63\xc2"
    assert x(card, "0020000003 654321") == OK


def test_pin_reload_errors() -> None:
    card, factor = _locked_card()
    reload_key = KEYS.card_key("pin_reload", factor, None)
    tag = _reload_mac(reload_key, NEW_PIN)
    assert x(card, "805E000007", NEW_PIN + bytes((tag[0] ^ 1,)) + tag[1:]) == b"\x63\xc2"  # counted
    assert x(card, "805E000007", NEW_PIN + mac(TDES, reload_key, NEW_PIN)) == b"\x63\xc1"  # not the folded key
    bad_pin = bytes.fromhex("12AB56")
    assert x(card, "805E000007", bad_pin + _reload_mac(reload_key, bad_pin)) == b"\x6a\x80"  # not BCD
    assert x(card, "805E000005", b"\x12" + tag) == b"\x67\x00"
    assert x(card, "805E000907", NEW_PIN + tag) == b"\x6a\x88"  # no PIN 3A/09
    assert x(card, "805E020007", NEW_PIN + tag) == b"\x6a\x86"
    assert _pin_key(card).value == PIN and _pin_key(card).tries_left == 0


def test_change_pin_with_a_wrong_old_pin_counts_a_try() -> None:
    card = fresh_card()
    purse_factor(card)
    assert x(card, "805E010007 111111 FF 654321") == b"\x63\xc2"
    assert x(card, "805E010007 123456 FF 65432F") == b"\x6a\x80"  # new PIN not BCD
    assert _pin_key(card).value == PIN


def test_internal_authenticate_encrypts_with_the_internal_key() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    key = KEYS.card_key("tac", factor, None)
    data = bytes.fromhex("0102030405060708")
    answer = x(card, "0088000008", data)
    assert answer == encrypt_ecb(TDES, key, data) + OK
    short = x(card, "0088000004 A1B2C3D4")
    assert short == encrypt_ecb(TDES, key, bytes.fromhex("A1B2C3D400000000")) + OK
    assert x(card, "0088000009 010203040506070809") == b"\x67\x00"
    assert x(card, "0088000108", data) == b"\x6a\x88"  # no internal key 34/01
    assert x(card, "8088000008", data) == b"\x6e\x00"
    assert card.security == 0  # internal authentication changes no security state
