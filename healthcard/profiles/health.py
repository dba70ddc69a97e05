"""The resident health card profile (WS/T 543.3 file tree, WS/T 543.3 record layouts, WS/T 543.3
access rules, WS/T 543.4 keys keys).

Security states (FMCOS ``XY`` rights, FMCOS 2.0 access rights, sources.md V1), per DF:

* RK_xxx (read key) → state 1; reads need ``F1`` (any authenticated state).
* UK_DDF1, UK_DF01, UK_DF02_1, UK_DF03_1 → state 2; UK_DF02_2, UK_DF03_2 → state 3; UK_DF02_3 → state 4.
  Writes name exactly one state (``22``, ``33``, ``44``), so DF02/EF05 can only be written after UK_DF02_1.
  DF03 index files accept ``32`` (UK_DF03_1 sets valid, UK_DF03_2 erases: WS/T 543.3 access rules).
* STK_xxx (type 36) is the DF's secure-messaging key; files written with SM have the ``0xC0`` protection bits.
* MK_xxx (39/00) is the DF master key → state F; the DF's create, erase and add-key rights are ``FF`` (master key
  only, docs/decisions.md D10). Diversified from the issuer's master key (not held by terminal SAMs).

Decided open points (sources.md O1, docs/profiles.md): DF names, SFIs (low five bits of the FID where
unique; DF03's EE/ED files have none), record sizes (2 + element length for TLV files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apdu.fmcos import ALWAYS, FileType, Protection, Scheme
from healthcard.codecs.df03 import ED_LAYOUT, EE_LAYOUT
from healthcard.codecs.elements import element
from healthcard.codecs.fixed import Allergy, Immunisation
from healthcard.codecs.tlv_records import (
    Addresses,
    ClinicalFlags,
    Contacts,
    Documents,
    Holder,
    IssuerData,
    OccupationMarriage,
    SpecialInfo,
    TlvFile,
    Validity,
)
from healthcard.profiles.model import AtrLayout, DFSpec, EFSpec, KeySpec, right

__all__ = ["HEALTH_ALGORITHM_SM4", "HealthCardProfile", "city_factor", "health_card_profile"]

HEALTH_ALGORITHM_SM4 = 0x04
READ = right(1)  # F1


def city_factor(yycsdm: str) -> bytes:
    """Second-level factor from YYCSDM: first two digits as ASCII ‖ ASCII "000000" (WS/T 543.4 diversification
    factors)."""
    if len(yycsdm) != 6 or not yycsdm.isdigit():
        raise ValueError("YYCSDM must be 6 digits")
    return (yycsdm[:2] + "000000").encode("ascii")


def _key(name: str, key_type: int, key_id: int, state: int | None, p1: int, p2: int, purpose: str) -> KeySpec:
    return KeySpec(
        name=name,
        key_type=key_type,
        key_id=key_id,
        follow_state=state,
        master=name,
        levels=1 if p1 >> 4 == 2 else 2,
        sam_p1=p1,
        sam_p2=p2,
        purpose=purpose,
    )


def _master(df: str) -> KeySpec:
    """The DF master key 39/00 → state F: CREATE FILE, ERASE DF and WRITE KEY after issuance (docs/decisions.md D10).

    Held by the issuer's key source, not by terminal SAMs (no ``80 DE`` index): a hospital SAM can read and write
    records but cannot restructure a card.
    """
    return KeySpec(name=f"MK_{df}", key_type=0x39, key_id=0x00, follow_state=0x0F, master=f"MK_{df}", levels=1,
                   purpose=f"{df} master key: create files, erase the DF, add keys")  # fmt: skip


def _tlv_ef(fid: int, name: str, content: type[TlvFile], write: int, sm: Protection, read: int, wkey: str) -> EFSpec:
    tags = content.tags()
    size = max(2 + element(t).length for t in tags)
    return EFSpec(
        fid=fid, name=name, kind=FileType.LINEAR_VARIABLE, read=read, write=write, records=len(tags),
        record_size=size, sfi=fid & 0x1F, sm=sm, write_keys=(wkey,), tags=tags, content=content.__name__,
    )  # fmt: skip


def _df(name: str, description: str, keys: tuple[KeySpec, ...], children: tuple[EFSpec | DFSpec, ...]) -> DFSpec:
    """A health-card DF: FID and DF name from ``name`` (``DF01`` → ``DF01``, ``HEALTHCARD.DF01``; WS/T 543.3 file tree),
    SM4 keys under the health scheme (decisions.md D2), the DF master key first (decisions.md D10)."""
    return DFSpec(
        fid=int(name, 16), name=name, df_name=b"HEALTHCARD." + name.encode("ascii"), description=description,
        algorithm=HEALTH_ALGORITHM_SM4, scheme=Scheme.HEALTH, keys=(_master(name), *keys), children=children,
    )  # fmt: skip


@dataclass(frozen=True)
class HealthCardProfile:
    """The health application: DDF1 with DF01..DF03, the ATR layout and the SM option."""

    ddf1: DFSpec
    atr: AtrLayout = field(default_factory=AtrLayout)
    sm_writes: bool = True

    def df(self, name: str) -> DFSpec:
        """``"DDF1"``, ``"DF01"`` ... ``"DF03"``."""
        if name == "DDF1":
            return self.ddf1
        for d in self.ddf1.dfs:
            if d.name == name:
                return d
        raise KeyError(name)


def health_card_profile(*, sm_writes: bool = True, atr: AtrLayout | None = None) -> HealthCardProfile:
    """Build the profile. ``sm_writes=False`` is the plain-write variant (WS/T 543.3 access rules "Profile variant")."""
    sm = Protection.ENC_MAC if sm_writes else Protection.NONE
    s2, s3, s4 = right(2, 2), right(3, 3), right(4, 4)
    ddf1_keys = (
        _key("RK_DDF1", 0x39, 0x04, 1, 0x47, 0x31, "read DDF1/EF06-EF08"),
        _key("UK_DDF1", 0x39, 0x05, 2, 0x27, 0x2A, "update DDF1 files"),
        _key("STK_DDF1", 0x36, 0x01, None, 0x28, 0x02, "secure messaging of DDF1 writes"),
    )
    df01 = _df(
        "DF01", "demographic / contact",
        keys=(
            _key("RK_DF01", 0x39, 0x84, 1, 0x47, 0x32, "read DF01"),
            _key("UK_DF01", 0x39, 0x85, 2, 0x27, 0x2B, "update DF01"),
            _key("STK_DF01", 0x36, 0x01, None, 0x28, 0x03, "secure messaging of DF01 writes"),
        ),
        children=(
            _tlv_ef(0xEF05, "EF05", Addresses, s2, sm, READ, "UK_DF01"),
            _tlv_ef(0xEF06, "EF06", Contacts, s2, sm, READ, "UK_DF01"),
            _tlv_ef(0xEF07, "EF07", OccupationMarriage, s2, sm, READ, "UK_DF01"),
            _tlv_ef(0xEF08, "EF08", Documents, s2, sm, READ, "UK_DF01"),
        ),
    )  # fmt: skip
    df02 = _df(
        "DF02", "clinical",
        keys=(
            _key("RK_DF02", 0x39, 0x84, 1, 0x47, 0x33, "read DF02"),
            _key("UK_DF02_1", 0x39, 0x85, 2, 0x47, 0x2C, "update DF02/EF05"),
            _key("UK_DF02_2", 0x39, 0x86, 3, 0x47, 0x2D, "update DF02/EF06"),
            _key("UK_DF02_3", 0x39, 0x87, 4, 0x47, 0x2E, "update DF02/EF07, EF08"),
            _key("STK_DF02", 0x36, 0x01, None, 0x48, 0x04, "secure messaging of DF02 writes"),
        ),
        children=(
            _tlv_ef(0xEF05, "EF05", ClinicalFlags, s2, sm, READ, "UK_DF02_1"),
            _tlv_ef(0xEF06, "EF06", SpecialInfo, s3, sm, READ, "UK_DF02_2"),
            EFSpec(0xEF07, "EF07", FileType.CYCLIC, READ, s4, records=3, record_size=Allergy.SIZE, sfi=0x07,
                   write_keys=("UK_DF02_3",), content="Allergy"),
            EFSpec(0xEF08, "EF08", FileType.CYCLIC, READ, s4, records=10, record_size=Immunisation.SIZE, sfi=0x08,
                   write_keys=("UK_DF02_3",), content="Immunisation"),
        ),
    )  # fmt: skip
    index_write = right(2, 3)
    df03 = _df(
        "DF03", "visit records",
        keys=(
            _key("RK_DF03", 0x39, 0x84, 1, 0x47, 0x34, "read DF03"),
            _key("UK_DF03_1", 0x39, 0x85, 2, 0x47, 0x2F, "set index valid; write EE/ED"),
            _key("UK_DF03_2", 0x39, 0x86, 3, 0x27, 0x30, "erase index"),
            _key("STK_DF03", 0x36, 0x01, None, 0x48, 0x05, "secure messaging (index MAC form, unused: D4)"),
        ),
        children=(
            EFSpec(0xEF05, "EF05", FileType.LINEAR_FIXED, READ, index_write, records=3, record_size=1, sfi=0x05,
                   write_keys=("UK_DF03_1", "UK_DF03_2"), content="ZYJLBS"),
            EFSpec(0xEF06, "EF06", FileType.LINEAR_FIXED, READ, index_write, records=5, record_size=1, sfi=0x06,
                   write_keys=("UK_DF03_1", "UK_DF03_2"), content="MZJLBS"),
            *(EFSpec(0xEE00 + n, f"EE{n:02d}", FileType.BINARY, READ, s2, size=EE_LAYOUT.size,
                     write_keys=("UK_DF03_1",), content="InpatientRecord") for n in range(1, 4)),
            *(EFSpec(0xED00 + n, f"ED{n:02d}", FileType.BINARY, READ, s2, size=ED_LAYOUT.size,
                     write_keys=("UK_DF03_1",), content="OutpatientRecord") for n in range(1, 6)),
        ),
    )  # fmt: skip
    ddf1 = _df(
        "DDF1", "resident health card application",
        keys=ddf1_keys,
        children=(
            _tlv_ef(0xEF05, "EF05", IssuerData, s2, sm, ALWAYS, "UK_DDF1"),
            _tlv_ef(0xEF06, "EF06", Holder, s2, sm, READ, "UK_DDF1"),
            EFSpec(0xEF07, "EF07", FileType.BINARY, READ, s2, size=3072, sfi=0x07, write_keys=("UK_DDF1",),
                   content="photo"),
            _tlv_ef(0xEF08, "EF08", Validity, s2, sm, READ, "UK_DDF1"),
            df01,
            df02,
            df03,
        ),
    )  # fmt: skip
    return HealthCardProfile(ddf1=ddf1, atr=atr or AtrLayout(), sm_writes=sm_writes)
