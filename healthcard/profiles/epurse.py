"""The e-purse application profile (FMCOS 2.0 issuance, sources.md V1 issuance, PSAM files, sources.md V2; JR/T 0025.2
key diversification keys, JR/T 0025.1 transaction detail file detail records).

ADF ``1001`` under the MF, DF name ``HCARD.EPURSE`` (project choice, docs/profiles.md). Files: EF15 public
application data (30 B, transparent, read free by SFI 0x15), EP purse ``0002`` with its cyclic detail file
SFI 0x18 (23-byte records). Keys are 3DES, diversified one level with the rightmost 8 bytes of the
application serial (sam/data/demo-keys.json "purse_app").

States: PIN (3A) → 1, external authentication (39, id 00) → 2. Load and unload need the PIN (use right F1 of the load
key 3F and the unload key 3D, both diversified like the others; docs/decisions.md D13);
EF15 is written after external authentication (F2).
"""

from __future__ import annotations

from dataclasses import dataclass

from apdu.fmcos import ALWAYS, NEVER, FileType, Scheme
from healthcard.profiles.model import DFSpec, EFSpec, KeySpec, right

__all__ = ["PURSE_DF_NAME", "EPurseProfile", "epurse_profile"]

PURSE_DF_NAME = b"HCARD.EPURSE"


def _k(name: str, key_type: int, key_id: int, *, use: int = ALWAYS, state: int | None = None, p: str = "") -> KeySpec:
    return KeySpec(name=name, key_type=key_type, key_id=key_id, use_right=use, follow_state=state, master=name,
                   levels=1, purpose=p)  # fmt: skip


@dataclass(frozen=True)
class EPurseProfile:
    """The purse ADF, the key index of purchase/load keys, detail records and PIN length."""

    adf: DFSpec
    key_index: int = 0x01
    detail_records: int = 10
    pin_length: int = 3


def epurse_profile(*, detail_records: int = 10) -> EPurseProfile:
    """Build the e-purse profile."""
    keys = (
        _k("external_auth", 0x39, 0x00, state=2, p="ADF master / external authentication"),
        _k("purchase", 0x3E, 0x01, p="purchase (消费)"),
        _k("load", 0x3F, 0x01, use=right(1), p="load (圈存), needs the PIN"),
        _k("unload", 0x3D, 0x01, use=right(1), p="unload (圈提), needs the PIN"),
        _k("tac", 0x34, 0x00, p="TAC (internal key)"),
        _k("line_protection", 0x36, 0x00, p="line protection (维护)"),
        _k("pin_unblock", 0x37, 0x00, p="PIN unblock"),
        _k("pin_reload", 0x38, 0x00, p="PIN reload"),
        KeySpec(name="PIN", key_type=0x3A, key_id=0x00, follow_state=1, master="", levels=0, length=3,
                purpose="cardholder PIN"),
    )  # fmt: skip
    adf = DFSpec(
        fid=0x1001, name="ADF1001", df_name=PURSE_DF_NAME, scheme=Scheme.FMCOS, algorithm=0x00, keys=keys,
        description="e-purse (PBOC EP)",
        children=(
            EFSpec(0x0015, "EF15", FileType.BINARY, ALWAYS, right(2), size=30, sfi=0x15, write_keys=("external_auth",),
                   content="PurseApplicationData"),
            EFSpec(0x0018, "EF18", FileType.CYCLIC, ALWAYS, NEVER, records=detail_records, record_size=23, sfi=0x18,
                   content="PurseDetail"),
            EFSpec(0x0002, "EP", FileType.PURSE, ALWAYS, NEVER, detail_sfi=0x18, content="purse"),
        ),
    )  # fmt: skip
    return EPurseProfile(adf=adf, detail_records=detail_records)
