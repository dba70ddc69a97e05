"""What can be read from and written to a resident health card, section by section, as typed data.

A :class:`Section` is one business unit of the card (WS/T 543.3 file tree, WS/T 543.3 record layouts record
layouts): a TLV record file (issuer data, identity, ...), the photo, a cyclic file (allergies, immunisations), the DF03
visit records with their index flags, or the e-purse. :class:`CardData` holds the typed contents of the sections that
were read; ``to_json()`` gives stable field names (the attribute names of :mod:`healthcard.codecs`), ISO dates,
codes as ``{"code", "meaning"}``, binary as upper-case hex and the photo as base64.

The JSON shape of a section equals the shape of the same section in a person record (``examples/persons``),
so ``healthcard write --file`` accepts what ``healthcard read --json`` prints.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from apdu.errors import DataError
from healthcard.codecs import (
    Addresses,
    Allergy,
    ClinicalFlags,
    Contacts,
    Documents,
    Holder,
    Immunisation,
    InpatientRecord,
    IssuerData,
    OccupationMarriage,
    OutpatientRecord,
    PurseApplicationData,
    SpecialInfo,
    TlvFile,
    Validity,
)

__all__ = [
    "HEALTH_SECTIONS",
    "CardData",
    "CardUpdate",
    "PurseInfo",
    "Section",
    "photo_format",
]


class Section(enum.Enum):
    """One readable/writable unit of the card; the value is its stable JSON key."""

    ISSUER = "issuer"
    HOLDER = "holder"
    PHOTO = "photo"
    VALIDITY = "validity"
    ADDRESSES = "addresses"
    CONTACTS = "contacts"
    OCCUPATION_MARRIAGE = "occupation_marriage"
    DOCUMENTS = "documents"
    CLINICAL = "clinical"
    SPECIAL = "special"
    ALLERGIES = "allergies"
    IMMUNISATIONS = "immunisations"
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"
    PURSE = "purse"

    @property
    def df(self) -> str:
        """The DF holding the section: ``DDF1``, ``DF01``..``DF03`` or ``ADF1001`` (the purse)."""
        return _LOCATION[self][0]

    @property
    def ef(self) -> str:
        """The EF name in its DF (``EF05`` ...); DF03 sections name their index file."""
        return _LOCATION[self][1]

    @property
    def chinese(self) -> str:
        """The file's Chinese name (WS/T 543.3 file tree)."""
        return _LOCATION[self][2]

    @property
    def tlv_type(self) -> type[TlvFile] | None:
        """The :class:`~healthcard.codecs.TlvFile` class of a TLV record section, else ``None``."""
        return _TLV.get(self)

    @classmethod
    def parse(cls, name: str) -> Section:
        """A section from its name (``holder``), enum name (``HOLDER``) or proto name (``CARD_SECTION_HOLDER``).

        The daemon's former proto names (``clinical_flags``, ``special_info``, ``inpatient_records``,
        ``outpatient_records``) are accepted as aliases; anything else is a :class:`DataError` listing the names.
        """
        key = name.strip().lower().replace("-", "_").removeprefix("card_section_")
        key = _ALIASES.get(key, key)
        for section in cls:
            if section.value == key:
                return section
        allowed = ", ".join(s.value for s in cls)
        raise DataError(f"unknown section {name!r} (one of: {allowed})", field="section")


_ALIASES = {"clinical_flags": "clinical", "special_info": "special", "inpatient_records": "inpatient",
            "outpatient_records": "outpatient"}  # fmt: skip

_LOCATION: dict[Section, tuple[str, str, str]] = {
    Section.ISSUER: ("DDF1", "EF05", "发卡机构基本数据"),
    Section.HOLDER: ("DDF1", "EF06", "持卡人基本信息"),
    Section.PHOTO: ("DDF1", "EF07", "照片"),
    Section.VALIDITY: ("DDF1", "EF08", "有效期/电话/支付方式"),
    Section.ADDRESSES: ("DF01", "EF05", "地址信息"),
    Section.CONTACTS: ("DF01", "EF06", "联系人信息"),
    Section.OCCUPATION_MARRIAGE: ("DF01", "EF07", "职业婚姻信息"),
    Section.DOCUMENTS: ("DF01", "EF08", "证件记录信息"),
    Section.CLINICAL: ("DF02", "EF05", "临床基本数据"),
    Section.SPECIAL: ("DF02", "EF06", "特殊信息数据"),
    Section.ALLERGIES: ("DF02", "EF07", "过敏基本数据"),
    Section.IMMUNISATIONS: ("DF02", "EF08", "免疫基本数据"),
    Section.INPATIENT: ("DF03", "EF05", "住院信息"),
    Section.OUTPATIENT: ("DF03", "EF06", "门诊信息"),
    Section.PURSE: ("ADF1001", "EP", "电子钱包"),
}

_TLV: dict[Section, type[TlvFile]] = {
    Section.ISSUER: IssuerData,
    Section.HOLDER: Holder,
    Section.VALIDITY: Validity,
    Section.ADDRESSES: Addresses,
    Section.CONTACTS: Contacts,
    Section.OCCUPATION_MARRIAGE: OccupationMarriage,
    Section.DOCUMENTS: Documents,
    Section.CLINICAL: ClinicalFlags,
    Section.SPECIAL: SpecialInfo,
}

HEALTH_SECTIONS: tuple[Section, ...] = tuple(s for s in Section if s is not Section.PURSE)


def photo_format(image: bytes) -> str:
    """``jpeg``, ``png``, ``bmp`` or ``unknown`` from the magic bytes (the format is not specified, §13.9)."""
    if image.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if image.startswith(b"BM"):
        return "bmp"
    return "unknown"


@dataclass(frozen=True)
class PurseInfo:
    """The e-purse as read: balance (fen) and the EF15 application data (JR/T 0025.1 GET BALANCE, PSAM files, sources.md
    V2)."""

    balance_fen: int
    application: PurseApplicationData | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"balance_fen", "application": {...}}``."""
        out: dict[str, Any] = {"balance_fen": self.balance_fen}
        if self.application is not None:
            out["application"] = self.application.to_json()
        return out


@dataclass(frozen=True)
class CardData:
    """Typed contents of the sections that were read; ``None`` means "not read" (or, for TLV files, empty).

    ``inpatient`` / ``outpatient`` hold one record per slot (3 / 5) with its ``valid`` flag; the contents of free
    slots (index ``FF``) are not read, so their ``items`` are empty (WS/T 543.3 DF03 index files, DLL error 112).
    """

    card_number: str = ""
    issuer: IssuerData | None = None
    holder: Holder | None = None
    photo: bytes | None = None
    validity: Validity | None = None
    addresses: Addresses | None = None
    contacts: Contacts | None = None
    occupation_marriage: OccupationMarriage | None = None
    documents: Documents | None = None
    clinical: ClinicalFlags | None = None
    special: SpecialInfo | None = None
    allergies: tuple[Allergy, ...] | None = None
    immunisations: tuple[Immunisation, ...] | None = None
    inpatient: tuple[InpatientRecord, ...] | None = None
    outpatient: tuple[OutpatientRecord, ...] | None = None
    purse: PurseInfo | None = None

    def get(self, section: Section) -> Any:
        """The value of ``section`` (``None`` when not read)."""
        return getattr(self, section.value)

    @property
    def sections(self) -> tuple[Section, ...]:
        """The sections present, in card order."""
        return tuple(s for s in Section if self.get(s) is not None)

    def valid_inpatient(self) -> tuple[InpatientRecord, ...]:
        """The in-patient records whose index flag is ``00``."""
        return tuple(r for r in self.inpatient or () if r.valid)

    def valid_outpatient(self) -> tuple[OutpatientRecord, ...]:
        """The out-patient records whose index flag is ``00``."""
        return tuple(r for r in self.outpatient or () if r.valid)

    def merged(self, other: CardData) -> CardData:
        """A copy with every section ``other`` has replacing this one's."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        if not other.card_number:
            changes.pop("card_number", None)
        return CardData(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})

    def to_json(self) -> dict[str, Any]:
        """Stable JSON: ``card_number`` then one key per section read (see the module docstring)."""
        out: dict[str, Any] = {"card_number": self.card_number}
        for section in Section:
            value = self.get(section)
            if value is None:
                continue
            out[section.value] = _section_json(section, value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse :meth:`to_json` output or a person-record-shaped dict; unknown keys raise :class:`DataError`.

        The photo is accepted as ``{"base64": ...}`` (read output) or ``photo_base64`` (person records).
        """
        known = {s.value for s in Section} | {"card_number", "photo_base64", "comment"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"card data: unknown section(s) {', '.join(unknown)}", field=unknown[0])
        values: dict[str, Any] = {"card_number": str(data.get("card_number", ""))}
        for section, kind in _TLV.items():
            if data.get(section.value) is not None:
                values[section.value] = kind.from_json(data[section.value])
        photo = data.get("photo")
        if isinstance(photo, Mapping):
            photo = photo.get("base64")
        if photo is None:
            photo = data.get("photo_base64")
        if photo is not None:
            try:
                values["photo"] = base64.b64decode(str(photo), validate=True)
            except binascii.Error as exc:
                raise DataError("photo: not valid base64", field="ZHAOPIAN") from exc
        if data.get("allergies") is not None:
            values["allergies"] = tuple(Allergy.from_json(a) for a in data["allergies"])
        if data.get("immunisations") is not None:
            values["immunisations"] = tuple(Immunisation.from_json(i) for i in data["immunisations"])
        if data.get("inpatient") is not None:
            values["inpatient"] = tuple(InpatientRecord.from_json(r) for r in data["inpatient"])
        if data.get("outpatient") is not None:
            values["outpatient"] = tuple(OutpatientRecord.from_json(r) for r in data["outpatient"])
        if data.get("purse") is not None:
            raise DataError("the purse cannot be written as data: use load/debit", field="purse")
        return cls(**values)


def _section_json(section: Section, value: Any) -> Any:
    if section is Section.PHOTO:
        return {"size": len(value), "format": photo_format(value), "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return [item.to_json() for item in value]
    return value.to_json()


@dataclass(frozen=True)
class CardUpdate:
    """A partial write (issue #11 item 4): the fields given are merged into what the card holds.

    ``fields``: per TLV section, the typed values of the fields to set (attribute -> value); every other field of
    the section keeps what the card holds. ``clear``: per TLV section, the fields to erase (written as an empty
    TLV): clearing is always explicit. ``data``: the other sections, written as before — the photo replaces the
    photo, allergies and immunisations are appended, visit records go into their slots.
    """

    fields: Mapping[Section, Mapping[str, Any]]
    clear: Mapping[Section, frozenset[str]]
    data: CardData = CardData()

    @property
    def sections(self) -> tuple[Section, ...]:
        """The sections this update touches, in card order."""
        touched = set(self.fields) | set(self.clear) | set(self.data.sections)
        return tuple(s for s in Section if s in touched)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CardUpdate:
        """Parse a ``read --json``-shaped document whose TLV sections may be partial, plus an optional ``clear``
        list of ``"section.field"`` names (``["validity.phone1", "holder.ethnicity"]``).

        Unknown sections or fields, a field both given and cleared, or a bad value raise :class:`DataError`
        before anything is written.
        """
        rest = dict(doc)
        clear_names = rest.pop("clear", None) or ()
        if isinstance(clear_names, str) or not isinstance(clear_names, Iterable):
            raise DataError('clear: a list of "section.field" names is expected', field="clear")
        fields: dict[Section, Mapping[str, Any]] = {}
        for section, kind in _TLV.items():
            part = rest.pop(section.value, None)
            if part is None:
                continue
            if not isinstance(part, Mapping):
                raise DataError(f"{section.value}: an object of fields is expected", field=section.value)
            fields[section] = kind.fields_from_json(part)
        return cls.of(fields, parse_clear(clear_names), CardData.from_json(rest))

    @classmethod
    def from_card_data(cls, data: CardData, clear: Collection[str] = ()) -> CardUpdate:
        """The update that sets every field ``data`` holds (``None`` fields are kept, not erased) and clears the
        ``"section.field"`` names in ``clear``."""
        fields: dict[Section, Mapping[str, Any]] = {}
        for section in _TLV:
            value = data.get(section)
            if value is not None:
                fields[section] = {a: getattr(value, a) for a in value.attributes() if getattr(value, a) is not None}
        others = {s.value: data.get(s) for s in data.sections if s not in _TLV}
        return cls.of(fields, parse_clear(clear), CardData(**others))

    @classmethod
    def of(
        cls, fields: Mapping[Section, Mapping[str, Any]], clear: Mapping[Section, frozenset[str]], data: CardData
    ) -> CardUpdate:
        """Checked construction: the cleared fields exist and are not also given."""
        for section, names in clear.items():
            kind = section.tlv_type
            assert kind is not None
            known = set(kind.attributes())
            for name in sorted(names):
                label = f"{section.value}.{name}"
                if name not in known:
                    raise DataError(f"clear: {section.value} has no field {name}", field=label)
                if name in fields.get(section, {}):
                    raise DataError(f"{label} is both given and cleared", field=label)
        if data.purse is not None:
            raise DataError("the purse cannot be written as data: use load/debit", field="purse")
        return cls(dict(fields), dict(clear), data)


def parse_clear(names: Iterable[Any]) -> dict[Section, frozenset[str]]:
    """``["validity.phone1", ...]`` by section; only fields of TLV sections can be cleared."""
    out: dict[Section, set[str]] = {}
    for raw in names:
        text = str(raw)
        section_name, dot, field_name = text.partition(".")
        if not dot or not field_name:
            raise DataError(f'clear: {text!r} is not a "section.field" name', field="clear")
        section = Section.parse(section_name)
        if section.tlv_type is None:
            raise DataError(f"clear: only fields of record sections can be cleared, not {section.value}", field=text)
        out.setdefault(section, set()).add(field_name)
    return {s: frozenset(n) for s, n in out.items()}
