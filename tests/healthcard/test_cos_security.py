"""Security on the virtual card: challenge, authentication, PIN counters, secure messaging, life cycle.

Sources: JR/T 0025.1 secure messaging (FMCOS SM and authentication), FMCOS 2.0 access rights, sources.md V1 (rights),
JR/T 0025.1 APPLICATION/CARD BLOCK (block commands); WS/T 543.4 EXTERNAL AUTHENTICATE, SM UPDATE RECORD (health-card
authentication and SM writes); docs/decisions.md D3.
"""

from __future__ import annotations

from apdu.command import Command
from healthcard.codecs import Holder
from healthcard.cos import VirtualCard
from healthcard.issuance import card_no_for
from healthcard.virtual import demo_person
from sam.crypto import (
    Algorithm,
    external_auth_cryptogram,
    health_auth_cryptogram,
    health_session_key,
    health_sm_wrap,
    mac,
    sm_mac_command,
)
from tests.healthcard.vcard_tools import KEYS, OK, fresh_card, purse_factor, x

TERMINAL = bytes.fromhex("1122334455667788")
CARD_NO = card_no_for(demo_person())
CITY = b"11000000"


def _health_auth(card: VirtualCard, key_name: str, key_ref: int, *, two_levels: bool) -> bytes:
    challenge = x(card, "0084000008")[:-2]
    key = KEYS.card_key(key_name, CARD_NO, CITY if two_levels else None)
    crypt = health_auth_cryptogram(key, challenge, TERMINAL)
    return card.execute(bytes((0, 0x82, 0, key_ref, 0x11)) + crypt + TERMINAL + b"\x01")


def test_get_challenge_is_random_and_checks_length() -> None:
    card = fresh_card()
    a, b = x(card, "0084000008"), x(card, "0084000008")
    assert a[-2:] == b[-2:] == OK and len(a) == 10 and a != b
    assert x(card, "0084000005") == b"\x67\x00"
    assert x(card, "0084010008") == b"\x6a\x86"


def test_external_authenticate_needs_a_challenge() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    assert x(card, "0082000008 0102030405060708") == b"\x69\x84"


def test_fmcos_external_authenticate_counts_failures() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    x(card, "0084000004")
    assert x(card, "0082000008 0000000000000000") == b"\x63\xc2"
    challenge = x(card, "0084000008")[:-2]
    key = KEYS.card_key("external_auth", factor, None)
    crypt = external_auth_cryptogram(Algorithm.TDES, key, challenge)
    assert card.execute(bytes.fromhex("0082000008") + crypt) == OK
    assert card.security == 2
    assert x(card, "0020000000") == b"\x63\xc3"  # PIN tries untouched


def test_pin_lock_after_three_wrong_tries() -> None:
    card = fresh_card()
    purse_factor(card)
    assert x(card, "0020000003 111111") == b"\x63\xc2"
    assert x(card, "0020000003 222222") == b"\x63\xc1"
    assert x(card, "0020000003 333333") == b"\x69\x83"
    assert x(card, "0020000003 123456") == b"\x69\x83"
    card.power_off()
    card.power_on()
    x(card, "00A40000021001")
    assert x(card, "0020000000") == b"\x69\x83"  # the counter is persistent


def test_pin_right_resets_counter_and_change_pin() -> None:
    card = fresh_card()
    purse_factor(card)
    assert x(card, "0020000003 111111") == b"\x63\xc2"
    assert x(card, "0020000003 123456") == OK
    assert x(card, "0020000000") == b"\x63\xc3"
    assert x(card, "805E010007 123456 FF 654321") == OK
    assert x(card, "0020000003 123456") == b"\x63\xc2"
    assert x(card, "0020000003 654321") == OK


def test_security_state_cleared_on_select_of_another_df() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    assert _health_auth(card, "RK_DDF1", 0x04, two_levels=True) == OK
    assert card.security == 1
    x(card, "00A4000002EF06")
    assert x(card, "00B2010400")[-2:] == OK
    x(card, "00A4000002DF01")
    assert card.security == 0
    x(card, "00A4000002EF05")
    assert x(card, "00B2010400") == b"\x69\x82"


def test_wrong_health_cryptogram_is_63cx() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    x(card, "0084000008")
    assert card.execute(bytes.fromhex("0082000411") + bytes(8) + TERMINAL + b"\x01") == b"\x63\xc2"


def _sm_update(card: VirtualCard, record: bytes, *, corrupt: bool = False, plain: bool = False) -> bytes:
    header = bytes.fromhex("04DC0104")
    if plain:
        return card.execute(bytes.fromhex("00DC0104") + bytes((len(record),)) + record)
    challenge = x(card, "0084000008")[:-2]
    body = health_sm_wrap(KEYS.card_key("STK_DDF1", CARD_NO, None), challenge, header, record)
    if corrupt:
        body = body[:-1] + bytes((body[-1] ^ 1,))
    return card.execute(header + bytes((len(body),)) + body)


def test_health_sm_update_record() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    x(card, "00A4000002EF06")
    new_name = Holder(name="李娜").to_records()[0]
    assert _sm_update(card, new_name) == b"\x69\x82"  # UK_DDF1 not yet
    assert _health_auth(card, "UK_DDF1", 0x05, two_levels=False) == OK
    x(card, "00A4000002EF06")
    assert _sm_update(card, new_name, plain=True) == b"\x69\x87"
    assert _sm_update(card, new_name, corrupt=True) == b"\x69\x88"
    assert _sm_update(card, new_name) == OK
    assert x(card, "00B2010400") == new_name + OK


def test_fmcos_mac_application_block_and_unblock() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    key = KEYS.card_key("line_protection", factor, None)

    def mac_cmd(ins: int, p2: int = 0) -> bytes:
        challenge = x(card, "0084000004")[:-2]
        return sm_mac_command(Algorithm.TDES, key, Command(0x84, ins, 0, p2), challenge).encode()

    bad = bytearray(mac_cmd(0x1E))
    bad[-1] ^= 1
    assert card.execute(bytes(bad)) == b"\x69\x88"
    assert card.execute(mac_cmd(0x1E)) == OK
    assert x(card, "805C000204") == b"\x6a\x81"
    assert x(card, "00A40000021001") == bytes.fromhex("6F13840C48434152442E455055525345A503880195") + b"\x62\x83"
    assert card.execute(mac_cmd(0x18)) == OK
    assert x(card, "805C000204")[-2:] == OK
    assert card.execute(mac_cmd(0x1E, 1)) == OK
    assert x(card, "805C000204") == b"\x93\x03"
    x(card, "00A4000002DDF1")
    assert x(card, "00A4000002EF05") == OK


def test_card_block_answers_6a81_to_everything() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    challenge = x(card, "0084000008")[:-2]
    sk = health_session_key(KEYS.card_key("STK_DDF1", CARD_NO, None), challenge)
    tag = mac(Algorithm.SM4, sk, bytes.fromhex("8416000004"))
    assert x(card, "8416000004", tag) == OK
    assert x(card, "00A4000002DDF1") == b"\x6a\x81"
    card.power_on()
    assert x(card, "0084000008") == b"\x6a\x81"
