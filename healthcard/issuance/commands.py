"""FMCOS issuance command bytes built from profile specs (pboc-purse.md §8.1-§8.4, docs/decisions.md D2, D4).

Interim local builders: switch to ``apdu.fmcos`` / ``apdu.iso`` when they land. WRITE KEY commands carry
``Redact.COMMAND_DATA``.
"""

from __future__ import annotations

from apdu.command import Command, Redact
from healthcard.profiles.model import DFSpec, EFKind, EFSpec, KeySpec

__all__ = [
    "append_record",
    "create_df",
    "create_ef",
    "create_key_file",
    "df_space",
    "erase_df",
    "erase_index",
    "get_challenge",
    "select_fid",
    "update_binary",
    "update_record_cyclic",
    "write_index_valid",
    "write_key",
]


def select_fid(fid: int) -> Command:
    """SELECT by file identifier ``00 A4 00 00 02 FID``."""
    return Command(0x00, 0xA4, 0x00, 0x00, fid.to_bytes(2, "big"))


def get_challenge(length: int = 8) -> Command:
    """GET CHALLENGE ``00 84 00 00 Le``."""
    return Command(0x00, 0x84, 0x00, 0x00, le=length)


def erase_df() -> Command:
    """ERASE DF ``80 0E 00 00 00`` (pboc-purse.md §8.1)."""
    return Command(0x80, 0x0E, 0x00, 0x00, le=256)


def df_space(df: DFSpec) -> int:
    """Bytes reserved for a DF: its EFs, key file and sub-DFs plus a fixed overhead, capped at 0xFFFF."""
    total = df.key_file_space + 0x40
    for ef in df.efs:
        total += ef.size + ef.records * ef.record_size + 0x20
    total += sum(df_space(d) for d in df.dfs)
    return min(total, 0xFFFF)


def create_df(df: DFSpec) -> Command:
    """``80 E0 FID Lc | 38 ‖ space(2) ‖ create ‖ erase ‖ app SFI ‖ FF FF ‖ DF name`` (pboc-purse.md §8.2)."""
    data = (
        bytes((0x38,))
        + df_space(df).to_bytes(2, "big")
        + bytes((df.create_right, df.erase_right, df.app_sfi, 0xFF, 0xFF))
        + df.df_name
    )
    return Command(0x80, 0xE0, df.fid >> 8, df.fid & 0xFF, data)


def create_key_file(df: DFSpec) -> Command:
    """``3F ‖ space(2) ‖ DF SFI ‖ add-key right ‖ algorithm ‖ scheme`` (pboc-purse.md §8.2 + D2)."""
    data = (
        bytes((0x3F,))
        + df.key_file_space.to_bytes(2, "big")
        + bytes((df.app_sfi, df.add_key_right, df.algorithm, df.scheme.value))
    )
    return Command(0x80, 0xE0, df.key_file_fid >> 8, df.key_file_fid & 0xFF, data)


def create_ef(ef: EFSpec) -> Command:
    """Binary, record or purse EF (pboc-purse.md §8.2); the type byte includes the SM protection bits."""
    if ef.kind is EFKind.BINARY:
        body = ef.size.to_bytes(2, "big") + bytes((ef.read, ef.write, 0xFF, 0xFF))
    elif ef.kind is EFKind.PURSE:
        assert ef.detail_sfi is not None
        body = bytes((0x02, 0x08, ef.read, 0x00, 0xFF, ef.detail_sfi))
    else:
        body = bytes((ef.records, ef.record_size, ef.read, ef.write, 0xFF, 0xFF))
    return Command(0x80, 0xE0, ef.fid >> 8, ef.fid & 0xFF, bytes((ef.type_byte,)) + body)


def write_key(key: KeySpec, value: bytes, *, algorithm: int) -> Command:
    """WRITE KEY (add) ``80 D4 01 <id> Lc data`` with the layout of the key type (pboc-purse.md §8.4)."""
    t = key.key_type
    if t in (0x39,):
        head = (t, key.use_right, key.change_right, key.follow_state or 0, key.error_counter)
    elif t == 0x3A:
        head = (t, key.use_right, 0xEF, key.follow_state or 0, key.error_counter)
    elif t in (0x36, 0x37, 0x38):
        head = (t, key.use_right, key.change_right, 0xFF, key.error_counter)
    else:  # 30-32, 34, 3C-3F
        head = (t, key.use_right, key.change_right, key.version, algorithm)
    return Command(0x80, 0xD4, 0x01, key.key_id, bytes(head) + value, redact=Redact.COMMAND_DATA)


def append_record(record: bytes) -> Command:
    """APPEND RECORD to the current EF ``00 E2 00 00 Lc record``."""
    return Command(0x00, 0xE2, 0x00, 0x00, record)


def update_record_cyclic(record: bytes) -> Command:
    """Cyclic write ``00 DC 00 03 Lc record`` (health-card.md §2.5: the new record becomes record 1)."""
    return Command(0x00, 0xDC, 0x00, 0x03, record)


def update_binary(offset: int, chunk: bytes) -> Command:
    """UPDATE BINARY of the current EF at ``offset`` (< 0x8000)."""
    return Command(0x00, 0xD6, offset >> 8, offset & 0xFF, chunk)


def write_index_valid(record: int) -> Command:
    """``84 D2 <rec> 04``: index record := 00 (docs/decisions.md D4)."""
    return Command(0x84, 0xD2, record, 0x04)


def erase_index(record: int) -> Command:
    """``84 0C <rec> 04``: index record := FF (docs/decisions.md D4)."""
    return Command(0x84, 0x0C, record, 0x04)
