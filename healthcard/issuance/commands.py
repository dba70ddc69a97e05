"""FMCOS issuance command bytes built from profile specs (FMCOS 2.0 base commands, sources.md V1; FMCOS 2.0 CREATE FILE,
sources.md V1; FMCOS 2.0 access rights, sources.md V1; FMCOS 2.0 WRITE KEY, sources.md V1, docs/decisions.md D2, D4).

Thin adapters from the profile model (:mod:`healthcard.profiles.model`) to the typed builders of
:mod:`apdu.iso` and :mod:`apdu.fmcos`; the byte layouts live there. WRITE KEY commands carry
``Redact.COMMAND_DATA``.
"""

from __future__ import annotations

from apdu import fmcos, iso
from apdu.command import Command
from apdu.fmcos import FileType
from healthcard.profiles.model import DFSpec, EFSpec, KeySpec

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

_RECORD_EF = {
    FileType.LINEAR_FIXED: fmcos.create_linear_fixed_ef,
    FileType.LINEAR_VARIABLE: fmcos.create_linear_variable_ef,
    FileType.CYCLIC: fmcos.create_cyclic_ef,
}


def select_fid(fid: int) -> Command:
    """SELECT by file identifier ``00 A4 00 00 02 FID``."""
    return iso.select_fid(fid)


def get_challenge(length: int = 8) -> Command:
    """GET CHALLENGE ``00 84 00 00 Le``."""
    return iso.get_challenge(length)


def erase_df() -> Command:
    """ERASE DF ``80 0E 00 00 00`` (FMCOS 2.0 base commands, sources.md V1)."""
    return fmcos.erase_df()


def df_space(df: DFSpec) -> int:
    """Bytes reserved for a DF: its EFs, key file and sub-DFs plus a fixed overhead, capped at 0xFFFF."""
    total = df.key_file_space + 0x40
    for ef in df.efs:
        total += ef.size + ef.records * ef.record_size + 0x20
    total += sum(df_space(d) for d in df.dfs)
    return min(total, 0xFFFF)


def create_df(df: DFSpec) -> Command:
    """``80 E0 FID Lc | 38 ‖ space(2) ‖ create ‖ erase ‖ app SFI ‖ FF FF ‖ DF name`` (FMCOS 2.0 CREATE FILE, sources.md
    V1)."""
    return fmcos.create_df(
        df.fid,
        df.df_name,
        space=df_space(df),
        create_right=df.create,
        erase_right=df.erase,
        app_sfi=df.app_sfi,
    )


def create_key_file(df: DFSpec) -> Command:
    """``3F ‖ space(2) ‖ DF SFI ‖ add-key right ‖ algorithm ‖ scheme`` (FMCOS 2.0 CREATE FILE, sources.md V1 + D2)."""
    return fmcos.create_key_file(
        df.key_file_fid,
        space=df.key_file_space,
        df_sfi=df.app_sfi,
        add_key_right=df.add_key,
        algorithm=df.algorithm,
        scheme=df.scheme.value,
    )


def create_ef(ef: EFSpec) -> Command:
    """Binary, record or purse EF (FMCOS 2.0 CREATE FILE, sources.md V1); the type byte includes the SM protection
    bits."""
    protection = fmcos.Protection(ef.sm.value)
    if ef.kind is FileType.BINARY:
        return fmcos.create_binary_ef(ef.fid, ef.size, read_right=ef.read, write_right=ef.write, protection=protection)
    if ef.kind is FileType.PURSE:
        if ef.detail_sfi is None:
            raise ValueError(f"{ef.name}: a purse EF needs the SFI of its detail file")
        return fmcos.create_purse_ef(ef.fid, use_right=ef.read, detail_sfi=ef.detail_sfi, protection=protection)
    return _RECORD_EF[ef.kind](
        ef.fid, ef.records, ef.record_size, read_right=ef.read, write_right=ef.write, protection=protection
    )


def write_key(key: KeySpec, value: bytes, *, algorithm: int) -> Command:
    """WRITE KEY (add) ``80 D4 01 <id> Lc data`` with the layout of the key type (FMCOS 2.0 WRITE KEY, sources.md
    V1)."""
    t = key.key_type
    if t == fmcos.KeyType.EXTERNAL_AUTH:
        return fmcos.write_external_auth_key(
            key.key_id,
            value,
            use_right=key.use_right,
            change_right=key.change_right,
            follow_state=key.follow_state or 0,
            error_counter=key.error_counter,
        )
    if t == fmcos.KeyType.PIN:
        return fmcos.write_pin(
            key.key_id, value, use_right=key.use_right, follow_state=key.follow_state or 0,
            error_counter=key.error_counter,
        )  # fmt: skip
    if t in (fmcos.KeyType.LINE_PROTECTION, fmcos.KeyType.PIN_UNBLOCK, fmcos.KeyType.PIN_RELOAD):
        return fmcos.write_maintenance_key(
            t, key.key_id, value, use_right=key.use_right, change_right=key.change_right,
            error_counter=key.error_counter,
        )  # fmt: skip
    return fmcos.write_transaction_key(
        t, key.key_id, value, use_right=key.use_right, change_right=key.change_right, version=key.version,
        algorithm=algorithm,
    )  # fmt: skip


def append_record(record: bytes) -> Command:
    """APPEND RECORD to the current EF ``00 E2 00 00 Lc record``."""
    return iso.append_record(record)


def update_record_cyclic(record: bytes) -> Command:
    """Cyclic write ``00 DC 00 03 Lc record`` (WS/T 543.3 cyclic files: the new record becomes record 1)."""
    return iso.update_record_cyclic(record)


def update_binary(offset: int, chunk: bytes) -> Command:
    """UPDATE BINARY of the current EF at ``offset`` (< 0x8000)."""
    return iso.update_binary(offset, chunk)


def write_index_valid(record: int) -> Command:
    """``84 D2 <rec> 04``: index record := 00 (docs/decisions.md D4)."""
    return iso.write_record(record, cla=0x84)


def erase_index(record: int) -> Command:
    """``84 0C <rec> 04``: index record := FF (docs/decisions.md D4)."""
    return iso.erase_record(record, cla=0x84)
