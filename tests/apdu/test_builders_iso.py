# ruff: noqa: E501, PLW0108  (one table row per command: long rows read better than wrapped ones)
"""Exact bytes of the ISO/FMCOS builders, hand-derived from the layouts in the reference.

HC = WS/T 543, PB = JR/T 0025.1-2, ISO = ISO/IEC 7816-4:2013 §11.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apdu import iso
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

CRYPT = bytes.fromhex("6233F9C8BFBEB899")  # ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE FM1208 cryptogram (S13)
MAC = bytes.fromhex("A1B2C3D4")
AID = bytes.fromhex("A00000000386980701")  # FMCOS 2.0 CREATE FILE, sources.md V1 S13 DF name

CASES: list[tuple[str, Callable[[], Command], str]] = [
    # SELECT
    ("WS/T 543.1-.6 SELECT DDF1", lambda: iso.select_fid(0xDDF1), "00A4000002DDF1"),
    ("FMCOS 2.0 base commands, sources.md V1 SELECT FID", lambda: iso.select_fid(0xDF01), "00A4000002DF01"),
    ("ISO SELECT MF", lambda: iso.select_mf(), "00A40000023F00"),
    ("ISO SELECT FID, FCI, Le", lambda: iso.select_fid(0xEF05, le=256), "00A4000002EF0500"),
    ("ISO SELECT FID no response", lambda: iso.select_fid(0xEF05, info=iso.FileInfo.NONE), "00A4000C02EF05"),
    ("ISO SELECT FID, FCP", lambda: iso.select_fid(0xEF05, info=iso.FileInfo.FCP), "00A4000402EF05"),
    ("FMCOS 2.0 base commands, sources.md V1 SELECT AID", lambda: iso.select_df_name(AID), "00A4040009A00000000386980701"),
    ("ISO SELECT AID next", lambda: iso.select_df_name(AID, occurrence=iso.Occurrence.NEXT), "00A4040209A00000000386980701"),
    ("ISO SELECT PSE with Le", lambda: iso.select_df_name(b"1PAY.SYS.DDF01", le=256), "00A404000E315041592E5359532E444446303100"),
    ("ISO SELECT path from MF", lambda: iso.select_path([0xDDF1, 0xDF01]), "00A4080004DDF1DF01"),
    ("ISO SELECT path from current", lambda: iso.select_path([0xDF03, 0xEE01], from_mf=False), "00A4090004DF03EE01"),
    ("ISO SELECT parent", lambda: iso.select_parent(), "00A40300"),
    # binary
    ("健康卡 SAM spec: files READ BINARY EF0015", lambda: iso.read_binary(0, 0x0E), "00B000000E"),
    ("WS/T 543.3 photo READ BINARY photo chunk", lambda: iso.read_binary(0x0180, 0x80), "00B0018080"),
    ("ISO READ BINARY whole", lambda: iso.read_binary(), "00B0000000"),
    ("PSAM files, sources.md V2 READ BINARY SFI 16", lambda: iso.read_binary_sfi(0x16, 0, 6), "00B0960006"),
    ("PSAM files, sources.md V2 READ BINARY SFI 15", lambda: iso.read_binary_sfi(0x15, 0, 0x0A), "00B095000A"),
    ("WS/T 543.4 plain writes UPDATE BINARY", lambda: iso.update_binary(0x0100, b"\x01\x02\x03"), "00D6010003010203"),
    ("ISO UPDATE BINARY SFI", lambda: iso.update_binary_sfi(0x15, 4, b"\xaa"), "00D6950401AA"),
    # records
    ("WS/T 543.3 record addressing READ RECORD by number", lambda: iso.read_record(3), "00B2030400"),
    ("ISO READ RECORD SFI 18", lambda: iso.read_record(1, sfi=0x18, length=0x17), "00B201C417"),
    ("ISO READ RECORD current", lambda: iso.read_record(0), "00B2000400"),
    ("WS/T 543.3 record addressing READ RECORD KH by id", lambda: iso.read_record_by_id(0x08, length=0x14), "00B2080014"),
    ("WS/T 543.3 record addressing READ RECORD KLB by id", lambda: iso.read_record_by_id(0x01, length=0x03), "00B2010003"),
    ("WS/T 543.3 record addressing READ RECORD YYCSDM by id", lambda: iso.read_record_by_id(0x39, length=0x05), "00B2390005"),
    ("ISO READ RECORD next", lambda: iso.read_record_by_id(occurrence=iso.Occurrence.NEXT), "00B2000200"),
    ("ISO READ RECORD last", lambda: iso.read_record_by_id(occurrence=iso.Occurrence.LAST), "00B2000100"),
    ("ISO READ RECORD previous SFI 1", lambda: iso.read_record_by_id(0, occurrence=iso.Occurrence.PREVIOUS, sfi=1, length=10), "00B2000B0A"),
    ("WS/T 543.4 SM UPDATE RECORD by number", lambda: iso.update_record(2, bytes.fromhex("0C0101")), "00DC0204030C0101"),
    ("ISO UPDATE RECORD SFI 5", lambda: iso.update_record(1, b"\x01", sfi=5), "00DC012C0101"),
    ("ISO UPDATE RECORD by id", lambda: iso.update_record_by_id(0x08, b"\x08\x00"), "00DC0800020800"),
    ("WS/T 543.3 cyclic files cyclic write", lambda: iso.update_record_cyclic(b"ABC"), "00DC000303414243"),
    ("ISO APPEND RECORD", lambda: iso.append_record(bytes.fromhex("010131")), "00E2000003010131"),
    ("ISO APPEND RECORD SFI 18", lambda: iso.append_record(b"\x00", sfi=0x18), "00E200C00100"),
    ("WS/T 543.4 plain writes index set valid", lambda: iso.write_record(2, cla=0x84), "84D20204"),
    ("ISO WRITE RECORD", lambda: iso.write_record(1, b"\x00"), "00D201040100"),
    ("WS/T 543.4 plain writes index erase", lambda: iso.erase_record(3, cla=0x84), "840C0304"),
    ("ISO ERASE RECORD SFI", lambda: iso.erase_record(1, sfi=6), "000C0134"),
    # PIN
    ("JR/T 0025.1 PIN commands VERIFY", lambda: iso.verify(bytes.fromhex("123456"), key_id=0x01), "0020000103123456"),
    ("健康卡 SAM spec: commands SAM VERIFY", lambda: iso.verify(bytes.fromhex("123456")), "0020000003123456"),
    ("ISO VERIFY tries query", lambda: iso.verify(b"", key_id=0x01), "00200001"),
    ("JR/T 0025.1 PIN commands CHANGE PIN", lambda: iso.change_pin(bytes.fromhex("123456"), bytes.fromhex("654321"), key_id=0x01), "805E010107123456FF654321"),
    ("JR/T 0025.1 PIN commands RELOAD PIN", lambda: iso.reload_pin(bytes.fromhex("123456"), MAC), "805E000007123456A1B2C3D4"),
    ("JR/T 0025.1 PIN commands PIN UNBLOCK", lambda: iso.unblock_pin(bytes(range(8)), MAC, key_id=0x01), "842401000C0001020304050607A1B2C3D4"),
    # authentication
    ("ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE GET CHALLENGE 8", lambda: iso.get_challenge(), "0084000008"),
    ("ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE GET CHALLENGE 4", lambda: iso.get_challenge(4), "0084000004"),
    ("ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE EXTERNAL AUTHENTICATE", lambda: iso.external_authenticate(CRYPT, key_id=0x00), "00820000086233F9C8BFBEB899"),
    ("WS/T 543.4 EXTERNAL AUTHENTICATE RK", lambda: iso.external_authenticate_health(CRYPT, bytes.fromhex("1122334455667788"), key_ref=0x84), "00820084116233F9C8BFBEB899112233445566778801"),
    ("ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE", lambda: iso.internal_authenticate(bytes(8), key_id=0x00), "00880000080000000000000000"),
    ("ISO INTERNAL AUTHENTICATE Le", lambda: iso.internal_authenticate(b"\x01", key_id=1, le=256), "0088000101 01 00"),
    # responses and data
    ("WS/T 543.4 EXTERNAL AUTHENTICATE GET RESPONSE", lambda: iso.get_response(0x10), "00C0000010"),
    ("ISO GET DATA ATC (PBOC CLA)", lambda: iso.get_data(0x9F36, cla=0x80), "80CA9F3600"),
    ("ISO GET DATA", lambda: iso.get_data(0x0042, length=8), "00CA004208"),
    # block commands
    ("JR/T 0025.1 APPLICATION/CARD BLOCK APPLICATION BLOCK temporary", lambda: iso.application_block(MAC), "841E000004A1B2C3D4"),
    ("JR/T 0025.1 APPLICATION/CARD BLOCK APPLICATION BLOCK permanent", lambda: iso.application_block(MAC, permanent=True), "841E000104A1B2C3D4"),
    ("JR/T 0025.1 APPLICATION/CARD BLOCK APPLICATION UNBLOCK", lambda: iso.application_unblock(MAC), "8418000004A1B2C3D4"),
    ("JR/T 0025.1 APPLICATION/CARD BLOCK", lambda: iso.card_block(MAC), "8416000004A1B2C3D4"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "build", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_exact_bytes(source: str, build: Callable[[], Command], hex_: str) -> None:
    command = build()
    expected = bytes.fromhex(hex_.replace(" ", ""))
    assert command.encode() == expected, source
    assert Command.decode(expected) == command


@pytest.mark.parametrize(
    ("build", "flag"),
    [
        (lambda: iso.verify(b"\x12\x34"), Redact.COMMAND_DATA),
        (lambda: iso.change_pin(b"\x12\x34", b"\x56\x78"), Redact.COMMAND_DATA),
        (lambda: iso.reload_pin(b"\x12\x34", MAC), Redact.COMMAND_DATA),
        (lambda: iso.unblock_pin(bytes(8), MAC), Redact.COMMAND_DATA),
        (lambda: iso.external_authenticate(CRYPT, key_id=0), Redact.COMMAND_DATA),
        (lambda: iso.external_authenticate_health(CRYPT, bytes(8), key_ref=4), Redact.COMMAND_DATA),
        (lambda: iso.internal_authenticate(bytes(8), key_id=0), Redact.RESPONSE_DATA),
        (lambda: iso.select_fid(0xDDF1), Redact.NOTHING),
        (lambda: iso.read_binary(0, 4), Redact.NOTHING),
    ],
)
def test_redaction_flags(build: Callable[[], Command], flag: Redact) -> None:
    assert build().redact == flag


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: iso.select_fid(0x10000), "fid"),
        (lambda: iso.select_df_name(b""), "df_name"),
        (lambda: iso.select_df_name(bytes(17)), "df_name"),
        (lambda: iso.select_path([]), "path"),
        (lambda: iso.select_fid(0xDDF1, info=iso.FileInfo.NONE, le=256), "le"),
        (lambda: iso.read_binary(0x8000), "offset"),
        (lambda: iso.read_binary(0, 0), "length"),
        (lambda: iso.read_binary_sfi(0, 0, 1), "sfi"),
        (lambda: iso.read_binary_sfi(31, 0, 1), "sfi"),
        (lambda: iso.read_binary_sfi(1, 256, 1), "offset"),
        (lambda: iso.read_record(0xFF), "record"),
        (lambda: iso.read_record(1, sfi=31), "sfi"),
        (lambda: iso.update_record(1, b""), "data"),
        (lambda: iso.update_record_by_id(0x100, b"\x01"), "identifier"),
        (lambda: iso.verify(bytes(17)), "pin"),
        (lambda: iso.change_pin(b"", b"\x12"), "old_pin"),
        (lambda: iso.reload_pin(b"\x12", b"\x01\x02\x03"), "mac"),
        (lambda: iso.unblock_pin(bytes(7), MAC), "encrypted_pin"),
        (lambda: iso.get_challenge(0), "length"),
        (lambda: iso.external_authenticate(bytes(7), key_id=0), "cryptogram"),
        (lambda: iso.external_authenticate(CRYPT, key_id=256), "key_id"),
        (lambda: iso.external_authenticate_health(CRYPT, bytes(7), key_ref=4), "terminal_data"),
        (lambda: iso.get_data(0x10000), "tag"),
        (lambda: iso.application_block(b"\x01\x02\x03"), "mac"),
        (lambda: iso.card_block(bytes(5)), "mac"),
        (lambda: iso.write_record(1, cla=0x100), "cla"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], Command], field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        build()
    assert info.value.field == field
