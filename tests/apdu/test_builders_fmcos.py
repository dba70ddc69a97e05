# ruff: noqa: E501, PLW0108  (one table row per command: long rows read better than wrapped ones)
"""Exact bytes of the FMCOS issuance builders (FMCOS 2.0 issuance, sources.md V1, docs/decisions.md D2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apdu import fmcos
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

FF8 = b"\xff" * 8
FF16 = b"\xff" * 16
K16 = bytes(range(16))

CASES: list[tuple[str, Callable[[], Command], str]] = [
    ("ERASE DF", lambda: fmcos.erase_df(), "800E000000"),
    ("DF (S17)", lambda: fmcos.create_df(0x3F01, b"DDF01", space=0x0520), "80E03F010D380520F0F095FFFF4444463031"),
    ("ADF (S13)", lambda: fmcos.create_df(0x3F01, bytes.fromhex("A00000000386980701"), space=0x036F, create_right=0xF0, erase_right=0xF0, app_sfi=0x95), "80E03F0111 38 036F F0 F0 95 FFFF A00000000386980701"),
    ("DF rights", lambda: fmcos.create_df(0xDF01, b"12345", space=0x0100, create_right=0xF1, erase_right=0xEF, app_sfi=0x96), "80E0DF010D 38 0100 F1 EF 96 FFFF 3132333435"),
    ("key file (S13/S18)", lambda: fmcos.create_key_file(0x0000, space=0x0050, df_sfi=0x01, add_key_right=0xF0), "80E00000073F005001F0FFFF"),
    ("D2 key file SM4 + health scheme", lambda: fmcos.create_key_file(space=0x0200, df_sfi=0x95, algorithm=0x04, scheme=0x01), "80E00000073F020095F00401"),
    ("binary EF (S15)", lambda: fmcos.create_binary_ef(0x0001, 0x0050, read_right=0xF0, write_right=0xF0), "80E00001072800 50F0F0FFFF"),
    ("binary EF, MAC", lambda: fmcos.create_binary_ef(0x0015, 0x001E, read_right=0xF0, write_right=0xF1, protection=fmcos.Protection.MAC), "80E0001507A8001EF0F1FFFF"),
    ("fixed record EF (S18)", lambda: fmcos.create_linear_fixed_ef(0x0005, 2, 0x13, read_right=0xF0, write_right=0xF0), "80E00005072A0213F0F0FFFF"),
    ("variable record EF, enc+MAC", lambda: fmcos.create_linear_variable_ef(0xEF05, 10, 0xC8, read_right=0xF0, write_right=0xF2, protection=fmcos.Protection.ENC_MAC), "80E0EF0507EC0AC8F0F2FFFF"),
    ("cyclic EF (klks 2E 0517)", lambda: fmcos.create_cyclic_ef(0x0018, 5, 0x17, read_right=0xF0, write_right=0xEF), "80E00018072E0517F0EFFFFF"),
    ("purse EP (S3)", lambda: fmcos.create_purse_ef(0x0002, use_right=0xF0, detail_sfi=0x18), "80E00002072F0208F000FF18"),
    ("passbook ED", lambda: fmcos.create_purse_ef(fmcos.ED_FID, use_right=0xF1, detail_sfi=0x18), "80E00001072F0208F100FF18"),
    ("line protection (S13)", lambda: fmcos.write_maintenance_key(0x36, 0x00, FF8, use_right=0xF0, change_right=0xF0, error_counter=0x33), "80D401000D36F0F0FF33FFFFFFFFFFFFFFFF"),
    ("external auth (S13)", lambda: fmcos.write_external_auth_key(0x00, FF16, use_right=0xF0, change_right=0xF0, follow_state=0xAA, error_counter=0x33), "80D401001539F0F0AA33" + "FF" * 16),
    ("purchase key", lambda: fmcos.write_transaction_key(fmcos.KeyType.PURCHASE, 0x01, K16, use_right=0xF0, change_right=0xF0, version=0x01, algorithm=0x00), "80D40101153EF0F00100" + K16.hex()),
    ("TAC key, 8 bytes", lambda: fmcos.write_transaction_key(0x34, 0x00, FF8, use_right=0xF0, change_right=0xF0, version=0x02, algorithm=0x04), "80D401000D34F0F00204FFFFFFFFFFFFFFFF"),
    ("PIN", lambda: fmcos.write_pin(0x00, bytes.fromhex("123456"), use_right=0xF0, follow_state=0x01, error_counter=0x33), "80D40100083AF0EF0133123456"),
    ("PIN unblock key", lambda: fmcos.write_maintenance_key(fmcos.KeyType.PIN_UNBLOCK, 0x00, K16, use_right=0xF0, change_right=0xEF, error_counter=0x55), "80D401001537F0EFFF55" + K16.hex()),
    ("update (P1 = type)", lambda: fmcos.write_transaction_key(0x3F, 0x01, K16, use_right=0xF1, change_right=0xF0, update=True), "80D43F01153FF1F00100" + K16.hex()),
    ("ciphertext+MAC key type 39 -> F9", lambda: fmcos.write_external_auth_key(0x00, FF16, use_right=0xF0, change_right=0xF0, follow_state=0x01, error_counter=0x33, protected=True), "80D4010015F9F0F00133" + "FF" * 16),
]  # fmt: skip


@pytest.mark.parametrize(("source", "build", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_exact_bytes(source: str, build: Callable[[], Command], hex_: str) -> None:
    expected = bytes.fromhex(hex_.replace(" ", ""))
    assert build().encode() == expected, source


@pytest.mark.parametrize(
    "build",
    [
        lambda: fmcos.write_pin(0, b"\x12\x34"),
        lambda: fmcos.write_external_auth_key(0, FF16),
        lambda: fmcos.write_transaction_key(0x3E, 1, FF16),
        lambda: fmcos.write_maintenance_key(0x38, 0, FF16),
    ],
)
def test_write_key_is_redacted(build: Callable[[], Command]) -> None:
    command = build()
    assert command.redact & Redact.COMMAND_DATA
    assert "FFFFFFFF" not in repr(command).replace(" ", "").upper()
    assert "FF FF" not in str(command)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: fmcos.create_df(0xDF01, b"1234", space=1), "df_name"),
        (lambda: fmcos.create_df(0xDF01, bytes(17), space=1), "df_name"),
        (lambda: fmcos.create_df(0x10000, b"12345", space=1), "fid"),
        (lambda: fmcos.create_key_file(space=0x10000), "space"),
        (lambda: fmcos.create_binary_ef(1, 0, read_right=0xF0, write_right=0xF0), "size"),
        (lambda: fmcos.create_linear_fixed_ef(1, 0, 1, read_right=0xF0, write_right=0xF0), "records"),
        (lambda: fmcos.create_cyclic_ef(1, 1, 256, read_right=0xF0, write_right=0xF0), "record_length"),
        (lambda: fmcos.create_purse_ef(use_right=0xF0, detail_sfi=0), "detail_sfi"),
        (lambda: fmcos.write_transaction_key(0x39, 0, FF16), "key_type"),
        (lambda: fmcos.write_transaction_key(0x99, 0, FF16), "key_type"),
        (lambda: fmcos.write_maintenance_key(0x3E, 0, FF16), "key_type"),
        (lambda: fmcos.write_transaction_key(0x3E, 0, bytes(7)), "key"),
        (lambda: fmcos.write_external_auth_key(0, bytes(12)), "key"),
        (lambda: fmcos.write_pin(0, b"\x12"), "pin"),
        (lambda: fmcos.write_pin(0, bytes(9)), "pin"),
        (lambda: fmcos.write_pin(256, b"\x12\x34"), "key_id"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], Command], field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        build()
    assert info.value.field == field
