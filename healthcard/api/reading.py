"""Reading the card in the fewest APDUs the profile allows.

Compared with the reference DLL flow (WS/T 543.3 record addressing, 健康卡应用接口规范 §6: SELECT by FID for every call,
one READ RECORD per item, an authentication per file), this module:

* selects each DF once and reads its EFs by SFI (``00 B2 rec SFI<<3|04 00``, ISO/IEC 7816-4 §11.4.3), so no
  SELECT EF is sent for record files (docs/profiles.md: SFI = low five bits of the FID);
* authenticates once per DF and only when the file's read right needs it (DDF1/EF05 is free; an update-key
  state also satisfies the ``F1`` read right) — :class:`~healthcard.api.access.CardAccess`;
* reads whole records (Le ``00``) and transparent files in the largest chunks the interface carries (256 bytes
  short Le; the photo stops at its 2-byte length, WS/T 543.3 photo);
* skips the contents of DF03 slots whose index flag is ``FF`` (free; the DLL answers error 112 for them).
"""

from __future__ import annotations

from collections.abc import Collection

from apdu import iso, pboc
from apdu.errors import DataError, LibraryError
from apdu.response_records import BalanceResponse
from apdu.status import SW
from healthcard.api.access import CardAccess
from healthcard.api.sections import CardData, PurseInfo, Section
from healthcard.codecs import (
    Allergy,
    Immunisation,
    InpatientRecord,
    IssuerData,
    OutpatientRecord,
    PurseApplicationData,
    TlvFile,
    VisitRecord,
)
from healthcard.codecs.fixed import INDEX_FREE, INDEX_VALID
from healthcard.profiles.model import DFSpec, EFSpec

__all__ = [
    "read_balance",
    "read_binary",
    "read_cyclic",
    "read_index",
    "read_key",
    "read_photo",
    "read_purse",
    "read_records",
    "read_sections",
    "read_tlv",
    "read_visit",
    "read_visits",
]

CHUNK = 256


def read_key(df: DFSpec) -> str | None:
    """The DF's read key: the first key whose name starts with ``RK_`` (WS/T 543.4 key table)."""
    return next((k.name for k in df.keys if k.name.startswith("RK_")), None)


def _open(access: CardAccess, df_name: str, ef_name: str) -> EFSpec:
    df = access.df(df_name)
    ef = df.ef(ef_name)
    access.ensure(df_name, ef.read, read_key(df))
    return ef


def read_records(access: CardAccess, df_name: str, ef_name: str) -> list[bytes]:
    """Every record of a record EF, by SFI and record number; stops at the first missing record (6A83)."""
    ef = _open(access, df_name, ef_name)
    if ef.sfi is None:
        access.select_ef(ef.fid)
    out: list[bytes] = []
    for n in range(1, ef.records + 1):
        r = access.send(iso.read_record(n, sfi=ef.sfi), accept=(SW.OK, SW.RECORD_NOT_FOUND))
        if r.sw == SW.RECORD_NOT_FOUND:
            break
        out.append(r.data)
    return out


def read_tlv(access: CardAccess, section: Section) -> TlvFile:
    """A TLV record section (issuer, holder, validity, DF01, DF02/EF05-EF06) as its typed object."""
    kind = section.tlv_type
    if kind is None:
        raise LibraryError(f"{section.value} is not a TLV record section")
    records = [r for r in read_records(access, section.df, section.ef) if r and r[0] not in (0x00, 0xFF)]
    value = kind.from_records(records)
    if isinstance(value, IssuerData):
        if value.city_code is not None:
            access.city_code = value.city_code
        access.card_number = value.card_number or ""
    return value


def read_binary(access: CardAccess, ef: EFSpec, length: int, *, offset: int = 0) -> bytes:
    """``length`` bytes of a transparent EF of the current DF from ``offset``, in 256-byte READ BINARY chunks.

    The first chunk uses the SFI form when the EF has one and ``offset`` < 256 (it also makes the EF current,
    ISO/IEC 7816-4 §11.3.3); otherwise the EF is selected by FID first.
    """
    parts: list[bytes] = []
    pos, end = offset, offset + length
    if ef.sfi is not None and pos < 0x100 and pos < end:
        n = min(CHUNK, end - pos)
        parts.append(access.send(iso.read_binary_sfi(ef.sfi, pos, n)).data)
        pos += n
    elif pos < end:
        access.select_ef(ef.fid)
    while pos < end:
        n = min(CHUNK, end - pos)
        parts.append(access.send(iso.read_binary(pos, n)).data)
        pos += n
    data = b"".join(parts)
    if len(data) != length:
        raise LibraryError(f"{ef.name}: read {len(data)} bytes, {length} expected")
    return data


def read_photo(access: CardAccess) -> bytes | None:
    """DDF1/EF07: the image after its 2-byte big-endian length (WS/T 543.3 photo); ``None`` if empty."""
    ef = _open(access, "DDF1", "EF07")
    first = read_binary(access, ef, min(CHUNK, ef.size))
    size = int.from_bytes(first[:2], "big")
    if size in (0, 0xFFFF):
        return None
    if size + 2 > ef.size:
        raise LibraryError(f"DDF1/EF07: photo length {size} exceeds the file ({ef.size} bytes)")
    rest = read_binary(access, ef, size + 2 - len(first), offset=len(first)) if size + 2 > len(first) else b""
    return (first + rest)[2 : 2 + size]


def read_cyclic(access: CardAccess, section: Section) -> tuple[Allergy, ...] | tuple[Immunisation, ...]:
    """Allergies (DF02/EF07) or immunisations (DF02/EF08), newest first (record 1, WS/T 543.3 cyclic files)."""
    records = read_records(access, section.df, section.ef)
    if section is Section.ALLERGIES:
        return tuple(a for a in (Allergy.from_record(r) for r in records) if a is not None)
    if section is Section.IMMUNISATIONS:
        return tuple(i for i in (Immunisation.from_record(r) for r in records) if i is not None)
    raise LibraryError(f"{section.value} is not a cyclic section")


def read_index(access: CardAccess, inpatient: bool) -> list[int]:
    """DF03/EF05 (in-patient, 3 slots) or EF06 (out-patient, 5 slots): one flag byte per slot (00 / FF)."""
    records = read_records(access, "DF03", "EF05" if inpatient else "EF06")
    return [r[0] if r else 0xFF for r in records]


def read_visit(access: CardAccess, inpatient: bool, slot: int, index_byte: int = 0x00) -> VisitRecord:
    """The whole EE0n / ED0n file of ``slot`` (data and signature areas) as a typed record.

    Bytes that do not decode give :meth:`~healthcard.codecs.VisitRecord.unreadable` (status ``UNREADABLE``, the
    bytes in ``raw``) instead of an error, so the other slots still read.
    """
    kind: type[VisitRecord] = InpatientRecord if inpatient else OutpatientRecord
    if not 1 <= slot <= kind.SLOTS:
        raise LibraryError(f"slot must be 1..{kind.SLOTS}")
    name = f"{'EE' if inpatient else 'ED'}{slot:02d}"
    if index_byte not in (INDEX_VALID, INDEX_FREE):
        raise DataError(f"DF03 index of {name}: {index_byte:02X} is neither 00 nor FF", field="index")
    ef = _open(access, "DF03", name)
    raw = read_binary(access, ef, ef.size)
    try:
        return kind.from_bytes(slot, raw, index_byte)
    except DataError:  # a torn write, another vendor's layout, a flipped bit: this slot only (docs/security.md)
        return kind.unreadable(slot, raw)


def read_visits(access: CardAccess, inpatient: bool) -> tuple[VisitRecord, ...]:
    """Every slot with its valid flag; only valid slots' files are read (free slots have empty items)."""
    kind: type[VisitRecord] = InpatientRecord if inpatient else OutpatientRecord
    out: list[VisitRecord] = []
    for slot, flag in enumerate(read_index(access, inpatient), 1):
        if flag == 0x00:
            out.append(read_visit(access, inpatient, slot, flag))
        else:
            out.append(kind(slot, valid=False))
    return tuple(out)


def read_balance(access: CardAccess) -> int:
    """GET BALANCE of the EP in the purse ADF (JR/T 0025.1 GET BALANCE), in fen."""
    purse = access.profile.purse
    if purse is None:
        raise LibraryError("the card profile has no purse")
    access.select_df(purse.adf.name)
    return BalanceResponse.parse(access.send(pboc.get_balance()).data).balance


def read_purse(access: CardAccess) -> PurseInfo:
    """EF15 (READ BINARY by SFI) and the balance."""
    purse = access.profile.purse
    if purse is None:
        raise LibraryError("the card profile has no purse")
    adf = access.select_df(purse.adf.name)
    ef15 = adf.ef("EF15")
    app = PurseApplicationData.from_bytes(read_binary(access, ef15, ef15.size))
    return PurseInfo(read_balance(access), app)


def read_sections(access: CardAccess, sections: Collection[Section] | None = None) -> CardData:
    """Read ``sections`` (all when ``None``; the purse only if the profile has one) in card order."""
    wanted = set(Section if sections is None else sections)
    if access.profile.purse is None:
        if sections is not None and Section.PURSE in wanted:
            raise LibraryError("the card profile has no purse")
        wanted.discard(Section.PURSE)
    values: dict[str, object] = {}
    for section in Section:  # enum order = card order: DDF1, DF01, DF02, DF03, purse
        if section not in wanted:
            continue
        if section.tlv_type is not None:
            values[section.value] = read_tlv(access, section)
        elif section is Section.PHOTO:
            values["photo"] = read_photo(access) or b""
        elif section in (Section.ALLERGIES, Section.IMMUNISATIONS):
            values[section.value] = read_cyclic(access, section)
        elif section in (Section.INPATIENT, Section.OUTPATIENT):
            values[section.value] = read_visits(access, section is Section.INPATIENT)
        elif section is Section.PURSE:
            values["purse"] = read_purse(access)
    issuer = values.get("issuer")
    card_number = issuer.card_number if isinstance(issuer, IssuerData) and issuer.card_number else ""
    return CardData(card_number=card_number, **values)  # type: ignore[arg-type]
