"""SELECT, binary and record commands, access refusals and malformed APDUs on the virtual card.

Sources: ISO/IEC 7816-4 §7, §11; WS/T 543.3 file tree, record addressing (tree, record addressing); FMCOS 2.0 issuance,
sources.md V1 (issuance commands and rights), ISO/IEC 7816-4 and JR/T 0025.1 status words.
"""

from __future__ import annotations

import pytest

from healthcard.cos import VirtualCard
from healthcard.virtual import blank_card
from sam.crypto import Algorithm, external_auth_cryptogram
from tests.healthcard.vcard_tools import OK, fresh_card, x


def _transport(card: VirtualCard) -> None:
    """EXTERNAL AUTHENTICATE with the blank card's transport key FF×16: state F, which the blank MF's rights need."""
    challenge = x(card, "0084000008")[:-2]
    assert x(card, "0082000008", external_auth_cryptogram(Algorithm.TDES, b"\xff" * 16, challenge)) == OK


def test_select_paths_and_fci() -> None:
    card = fresh_card()
    answer = x(card, "00A4040010", b"HEALTHCARD.DDF1\x00"[:15].ljust(16, b"\x00"))
    assert answer == b"\x6a\x82"
    answer = x(card, "00A404000F", b"HEALTHCARD.DDF1")
    assert answer[-2:] == OK and answer[:2] == b"\x6f\x16" and b"HEALTHCARD.DDF1" in answer
    assert x(card, "00A4000002DF03")[-2:] == OK
    assert x(card, "00A4000002EE02") == OK
    assert x(card, "00A4000002DF01")[-2:] == OK  # a sibling DF
    assert x(card, "00A40000023F00")[-2:] == OK
    assert x(card, "00A4080C06DDF1DF02EF07") == OK
    assert card.df.fid == 0xDF02 and card.ef is not None and card.ef.fid == 0xEF07
    assert x(card, "00A4000002EF99") == b"\x6a\x82"
    assert x(card, "00A4000003EF0501") == b"\x67\x00"
    assert x(card, "00A4070000") == b"\x6a\x86"


def test_read_binary_by_sfi_offsets_and_le() -> None:
    card = fresh_card()
    x(card, "00A40000021001")
    ef15 = x(card, "00B095001E")
    assert len(ef15) == 32 and ef15[-2:] == OK
    assert x(card, "00B0000A04") == ef15[10:14] + OK  # EF15 is now current
    assert x(card, "00B0001C00") == ef15[28:30] + OK  # Le 00: to the end of the file
    assert x(card, "00B0001C04") == b"\x6c\x02"
    assert x(card, "00B0001E02") == b"\x6b\x00"
    assert x(card, "00B0990001") == b"\x6a\x82"


def test_read_binary_needs_rk_and_a_current_ef() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    assert x(card, "00B0000010") == b"\x69\x86"
    x(card, "00A4000002EF07")
    assert x(card, "00B0000010") == b"\x69\x82"
    x(card, "00A4000002EF05")
    assert x(card, "00B0000010") == b"\x69\x81"


def test_record_reads_by_number_and_identifier() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    x(card, "00A4000002EF05")
    by_number = x(card, "00B2070400")
    assert by_number[:1] == b"\x08" and x(card, "00B2080000") == by_number
    assert x(card, "00B2080003") == bytes((0x6C, len(by_number) - 2))
    assert x(card, "00B20B0400") == b"\x6a\x83"
    assert x(card, "00B2010500") == b"\x6a\x86"
    assert x(card, "00B20F0000") == b"\x6a\x83"


def test_writes_refused_without_authentication() -> None:
    card = fresh_card()
    x(card, "00A4000002DDF1")
    x(card, "00A4000002EF07")
    assert x(card, "00D6000002ABCD") == b"\x69\x82"
    x(card, "00A4000002DF03")
    x(card, "00A4000002EF05")
    assert x(card, "84D2010400") == b"\x69\x82"


def test_issuance_commands_on_a_blank_card() -> None:
    card = blank_card(bytes(8))
    assert x(card, "800E000000") == b"\x69\x82"  # erase needs the transport key
    assert x(card, "80E0DF000D 38 0200 F0 F0 95 FFFF 4142434445") == b"\x69\x82"  # so does create
    _transport(card)
    assert x(card, "80E0DF000D 38 0200 F0 F0 95 FFFF 4142434445") == OK
    assert x(card, "80E0DF000D 38 0200 F0 F0 95 FFFF 4142434445") == b"\x6a\x89"
    assert x(card, "80E0DF010D 38 0200 F0 F0 95 FFFF 4142434445") == b"\x6a\x8a"
    assert x(card, "80E0EF0107 99 0010 F0 F0 FFFF") == b"\x6a\x80"
    assert x(card, "80E0EF0107 28 0010 F0 F0 FFFF") == OK
    assert x(card, "00A4000002EF01") == OK
    assert x(card, "00D6000003 010203") == OK
    assert x(card, "00B0000004") == bytes.fromhex("01020300") + OK
    assert x(card, "00D6000E03 010203") == b"\x6a\x84"
    assert x(card, "80D401010D 39F0EF0133 0102030405060708") == OK  # add: right FF of the MF key file, state F
    assert x(card, "80D401010D 39F0EF0133 0102030405060708") == b"\x6a\x89"
    assert x(card, "80D439010D 39F0EF0133 0102030405060708") == b"\x69\x82"  # change right EF
    assert x(card, "80D4010105 39F0EF0133") == b"\x67\x00"


def test_linear_variable_append_and_update() -> None:
    card = blank_card(bytes(8))
    _transport(card)
    assert x(card, "80E0EF0207 2C 0205 F0 F0 FFFF") == OK
    x(card, "00A4000002EF02")
    assert x(card, "00E2000003 010161") == OK
    assert x(card, "00E2000002 0200") == OK
    assert x(card, "00E2000002 0300") == b"\x6a\x84"
    assert x(card, "00DC020403 020162") == OK
    assert x(card, "00B2020400") == bytes.fromhex("020162") + OK
    assert x(card, "00DC020406 020162636465") == b"\x67\x00"


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("", b"\x67\x00"), ("00", b"\x67\x00"), ("00A400", b"\x67\x00"), ("00CA0000", b"\x6d\x00"),
        ("A0A4000002DDF1", b"\x6e\x00"), ("00A4000005DDF1", b"\x67\x00"), ("8050000205", b"\x67\x00"),
        ("00A40000020000000000", b"\x67\x00"), ("0050000000", b"\x6e\x00"),
    ],
)  # fmt: skip
def test_malformed_apdus_get_status_words(apdu: str, sw: bytes) -> None:
    card = fresh_card()
    assert card.execute(bytes.fromhex(apdu)) == sw
