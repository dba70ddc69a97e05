"""Secure messaging on reads: READ BINARY / READ RECORD with CLA 04 answer data ‖ MAC ‖ SW.

JR/T 0025.1 secure messaging "Response MAC": same IV rule as commands (the last challenge right-padded with 00),
computed over the returned data with the DF's SM key (type 36, else the master key 39/00). Files created with the
read-protection byte 80 (docs/virtual-card.md) refuse plain reads with 6987.
"""

from __future__ import annotations

import random

import pytest

from apdu.command import Command
from apdu.fmcos import Protection
from healthcard.cos import VirtualCard
from healthcard.fs.nodes import RecordEF, TransparentEF
from healthcard.image import dumps, loads
from healthcard.virtual import TRANSPORT_KEY, blank_card
from sam.crypto import Algorithm, external_auth_cryptogram, iv_from_challenge, mac, sm_mac_command, verify_mac
from tests.healthcard.vcard_tools import KEYS, OK, fresh_card, purse_factor, x

TDES = Algorithm.TDES
BIN = bytes(range(256)) + bytes(range(32))  # 288 bytes: more than one MAC'd read can return
REC = [bytes.fromhex("0102030405060708"), bytes.fromhex("A1A2A3A4A5A6A7A8")]


def _protected_files_card() -> VirtualCard:
    """A blank card with, in the MF, binary EF 0016 (288 B) and linear fixed EF 0017 (2 × 8 B), both read-MAC."""
    card = blank_card(bytes(8), rng=random.Random(5).randbytes)
    challenge = x(card, "0084000008")[:-2]
    assert card.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, TRANSPORT_KEY, challenge)) == OK
    assert x(card, "80E0001607 28 0120 F0 F0 80 FF") == OK
    assert x(card, "80E0001707 2A 02 08 F0 F0 80 FF") == OK
    assert x(card, "00A4000002 0016") == OK
    assert x(card, "00D6000080", BIN[:0x80]) == OK
    assert x(card, "00D6008080", BIN[0x80:0x100]) == OK
    assert x(card, "00D6010020", BIN[0x100:]) == OK
    assert x(card, "00DC01BC08", REC[0]) == OK
    assert x(card, "00DC02BC08", REC[1]) == OK
    return card


def _challenge(card: VirtualCard, n: int = 4) -> bytes:
    answer = x(card, f"00840000{n:02X}")
    assert answer[-2:] == OK
    return answer[:-2]


def test_create_file_read_protection_byte_and_image_round_trip() -> None:
    card = _protected_files_card()
    binary, record = card.state.mf.children[0x0016], card.state.mf.children[0x0017]
    assert isinstance(binary, TransparentEF) and binary.read_sm is Protection.MAC and binary.sm is Protection.NONE
    assert isinstance(record, RecordEF) and record.read_sm is Protection.MAC
    text = dumps(card.state)
    assert text.count('"read_sm": "mac"') == 2
    assert loads(text) == card.state and dumps(loads(text)) == text
    assert '"read_sm"' not in dumps(fresh_card().state)  # images without protected reads are unchanged


def test_plain_read_of_a_read_mac_file_is_6987() -> None:
    card = _protected_files_card()
    assert x(card, "00B0960008") == b"\x69\x87"
    assert x(card, "00B0000008") == b"\x69\x87"
    assert x(card, "00B201BC08") == b"\x69\x87"


def test_binary_read_with_response_mac() -> None:
    card = _protected_files_card()
    assert x(card, "04B0960008") == b"\x69\x84"  # no challenge yet
    challenge = _challenge(card)
    answer = x(card, "04B0960108")
    assert answer[-2:] == OK and len(answer) == 8 + 4 + 2
    data, tag = answer[:8], answer[8:12]
    assert data == BIN[1:9]
    verify_mac(TDES, TRANSPORT_KEY, data, tag, challenge)
    assert iv_from_challenge(TDES, challenge) == challenge + bytes(4)
    assert tag != mac(TDES, TRANSPORT_KEY, data)  # the IV is the challenge, not zero
    assert x(card, "04B0960108") == b"\x69\x84"  # the challenge was consumed


def test_binary_read_with_8_byte_challenge_le_00_and_wrong_le() -> None:
    card = _protected_files_card()
    challenge = _challenge(card, 8)
    answer = x(card, "04B0960000")  # Le 00: to the end, at most 252 data bytes
    assert answer[-2:] == OK and answer[:252] == BIN[:252]
    assert answer[252:256] == mac(TDES, TRANSPORT_KEY, BIN[:252], challenge) and len(answer) == 258
    challenge = _challenge(card)
    assert x(card, "04B0011040") == b"\x6c\x10"  # 16 bytes left; the challenge is kept for the retry
    answer = x(card, "04B0011010")
    assert answer == BIN[0x110:] + mac(TDES, TRANSPORT_KEY, BIN[0x110:], challenge) + OK
    _challenge(card)
    assert x(card, "04B00000FD") == b"\x67\x00"  # 253 data bytes + MAC would not fit a short answer


def test_binary_read_carrying_a_command_mac() -> None:
    card = _protected_files_card()
    challenge = _challenge(card)
    command = sm_mac_command(TDES, TRANSPORT_KEY, Command(0x00, 0xB0, 0x96, 0x00, le=4), challenge).encode()
    assert command[:5] == bytes.fromhex("04B0960004") and len(command) == 10
    answer = card.execute(command)
    assert answer == BIN[:4] + mac(TDES, TRANSPORT_KEY, BIN[:4], challenge) + OK
    challenge = _challenge(card)
    bad = bytearray(sm_mac_command(TDES, TRANSPORT_KEY, Command(0x00, 0xB0, 0x96, 0x00, le=4), challenge).encode())
    bad[8] ^= 0xFF
    assert card.execute(bytes(bad)) == b"\x69\x88"
    _challenge(card)
    assert x(card, "04B0960003 010203 04") == b"\x67\x00"  # a command MAC is exactly 4 bytes


def test_record_read_with_response_mac() -> None:
    card = _protected_files_card()
    challenge = _challenge(card)
    answer = x(card, "04B202BC00")
    assert answer == REC[1] + mac(TDES, TRANSPORT_KEY, REC[1], challenge) + OK
    challenge = _challenge(card)
    answer = x(card, "04B2A1B808")  # by identifier: first byte A1
    assert answer == REC[1] + mac(TDES, TRANSPORT_KEY, REC[1], challenge) + OK
    _challenge(card)
    assert x(card, "04B203BC00") == b"\x6a\x83"


def test_read_right_still_applies_to_mac_reads() -> None:
    card = _protected_files_card()
    card.power_on()  # security state back to 0; the files' read right F0 still allows the read
    challenge = _challenge(card)
    assert x(card, "04B0960004") == BIN[:4] + mac(TDES, TRANSPORT_KEY, BIN[:4], challenge) + OK
    card2 = fresh_card()
    x(card2, "00A4000002DDF1")
    x(card2, "00A4000002EF06")  # read right needs RK_DDF1 (state 1)
    _challenge(card2)
    assert x(card2, "04B2010400") == b"\x69\x82"


def test_mac_read_of_a_plain_file_uses_the_line_protection_key() -> None:
    card = fresh_card()
    factor = purse_factor(card)
    ef15 = x(card, "00B095001E")[:-2]
    challenge = _challenge(card)
    answer = x(card, "04B095001E")
    key = KEYS.card_key("line_protection", factor, None)
    assert answer == ef15 + mac(TDES, key, ef15, challenge) + OK
    assert mac(TDES, KEYS.card_key("external_auth", factor, None), ef15, challenge) != answer[30:34]


def test_health_scheme_has_no_response_mac() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    x(card, "00A4000002EF05")
    _challenge(card, 8)
    assert x(card, "04B2010400") == b"\x68\x82"


@pytest.mark.parametrize("apdu", ["84B0960004", "80B0960004"])
def test_proprietary_class_read_binary_is_6e00(apdu: str) -> None:
    card = _protected_files_card()
    assert x(card, apdu) == b"\x6e\x00"


def test_create_file_rejects_protection_bits_40() -> None:
    card = _protected_files_card()
    assert x(card, "80E0001807 68 0010 F0 F0 FF FF") == b"\x6a\x80"
    assert 0x0018 not in card.state.mf.children
