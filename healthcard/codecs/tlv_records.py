"""Typed contents of the TLV record files (WS/T 543.3 record layouts, WS/T 543.3 DDF1/EF05, DDF1/EF06,
DDF1/EF08, DF01 items, DF02 items elements).

Each class is a frozen dataclass whose attributes are declared once in ``FIELDS`` (attribute ↔ item number ↔
kind). ``to_records()`` gives the file's records in record-number order, one TLV per record (tag = item,
WS/T 543.3 record addressing; absent values are written as an empty TLV ``tag 00``); ``from_records()`` parses them
back in any order. ``to_json()`` / ``from_json()`` use the attribute names as stable keys.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from apdu.errors import DataError
from healthcard.codecs.fields import FieldSpec, Kind, Value
from healthcard.codecs.idnumber import validate_id_number
from healthcard.codecs.tlv import decode_tlv, encode_tlv

__all__ = [
    "Addresses",
    "ClinicalFlags",
    "Contacts",
    "Documents",
    "Holder",
    "IssuerData",
    "OccupationMarriage",
    "SpecialInfo",
    "TlvFile",
    "Validity",
]


class TlvFile:
    """Behaviour shared by the record-file dataclasses; subclasses set ``FILE`` and ``FIELDS``."""

    FILE: ClassVar[str]
    FIELDS: ClassVar[tuple[FieldSpec, ...]]
    REQUIRED: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        for spec in self.FIELDS:
            value = getattr(self, spec.attr)
            if value is None:
                if spec.attr in self.REQUIRED:
                    raise DataError(f"{spec.label}: required in {self.FILE}", field=spec.label)
                continue
            object.__setattr__(self, spec.attr, spec.validate(value))

    @classmethod
    def tags(cls) -> tuple[int, ...]:
        """The TLV tags in record-number order (record n holds ``tags()[n-1]``)."""
        return tuple(spec.item for spec in cls.FIELDS)

    def to_records(self) -> list[bytes]:
        """The file's records, record 1 first."""
        out = []
        for spec in self.FIELDS:
            value = getattr(self, spec.attr)
            out.append(encode_tlv(spec.item, b"" if value is None else spec.encode(value)))
        return out

    @classmethod
    def from_records(cls, records: Sequence[bytes]) -> Self:
        """Parse TLV records (any order); unknown tags and duplicates raise :class:`DataError`."""
        by_tag = {spec.item: spec for spec in cls.FIELDS}
        values: dict[str, Value | None] = {spec.attr: None for spec in cls.FIELDS}
        seen: set[int] = set()
        for record in records:
            tag, raw = decode_tlv(record)
            spec = by_tag.get(tag)
            if spec is None:
                raise DataError(f"{cls.FILE}: tag {tag:02X} does not belong to this file", field=f"tag_{tag}")
            if tag in seen:
                raise DataError(f"{cls.FILE}: tag {tag:02X} appears twice", field=spec.label)
            seen.add(tag)
            values[spec.attr] = spec.decode(raw)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly dict with the attribute names as keys (absent values omitted)."""
        out: dict[str, Any] = {}
        for spec in self.FIELDS:
            value = getattr(self, spec.attr)
            if value is not None:
                out[spec.attr] = spec.to_json(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build from :meth:`to_json` output; unknown keys raise :class:`DataError`."""
        return cls(**cls.fields_from_json(data))

    @classmethod
    def fields_from_json(cls, data: Mapping[str, Any]) -> dict[str, Value | None]:
        """The typed values of some fields given in :meth:`to_json` form (a partial document: what is not given
        is not in the result); each value is checked alone, unknown keys raise :class:`DataError`."""
        specs = {spec.attr: spec for spec in cls.FIELDS}
        unknown = sorted(set(data) - set(specs))
        if unknown:
            raise DataError(f"{cls.FILE}: unknown field(s) {', '.join(unknown)}", field=unknown[0])
        return {k: None if v is None else specs[k].from_json(v) for k, v in data.items()}

    @classmethod
    def attributes(cls) -> tuple[str, ...]:
        """The attribute names, in record order."""
        return tuple(spec.attr for spec in cls.FIELDS)

    def replace(self, **changes: Any) -> Self:
        """A copy with some attributes changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def merged(self, changes: Mapping[str, Any], clear: Collection[str] = ()) -> Self:
        """This value with ``changes`` (attribute -> typed value) applied and the ``clear`` attributes erased.

        A partial write is this merge of what the card holds with what was given (issue #11 item 4): fields that
        are neither changed nor cleared keep their value. The result is validated as a whole (a required field
        cleared, or a birth date that no longer matches the ID number, raises :class:`DataError`).
        """
        known = set(self.attributes())
        for name in (*changes, *clear):
            if name not in known:
                raise DataError(f"{self.FILE}: unknown field {name}", field=name)
        both = sorted(set(changes) & set(clear))
        if both:
            raise DataError(f"{self.FILE}: {both[0]} is both given and cleared", field=both[0])
        return self.replace(**{**changes, **dict.fromkeys(clear)})


def _f(attr: str, item: int, kind: Kind, *, pad: bool = False) -> FieldSpec:
    return FieldSpec(attr, item, kind, pad)


@dataclass(frozen=True)
class IssuerData(TlvFile):
    """DDF1/EF05 发卡机构基本数据 (WS/T 543.3 DDF1/EF05); records 1..10 = tags 01-06, 08, 09, 0A, 39."""

    FILE: ClassVar[str] = "DDF1/EF05"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("card_type", 1, Kind.TEXT),
        _f("spec_version", 2, Kind.TEXT),
        _f("issuer_name", 3, Kind.TEXT),
        _f("issuer_code", 4, Kind.DIGITS),
        _f("issuer_certificate", 5, Kind.BINARY, pad=True),
        _f("issue_date", 6, Kind.DATE),
        _f("card_number", 8, Kind.TEXT),
        _f("security_code", 9, Kind.TEXT),
        _f("chip_serial", 10, Kind.TEXT),
        _f("city_code", 57, Kind.DIGITS),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"card_number", "city_code"})

    card_type: str | None = "1"
    spec_version: str | None = "1.00"
    issuer_name: str | None = None
    issuer_code: str | None = None
    issuer_certificate: bytes | None = None
    issue_date: _dt.date | None = None
    card_number: str | None = None
    security_code: str | None = None
    chip_serial: str | None = None
    city_code: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.city_code is not None and len(self.city_code) != 6:
            raise DataError("YYCSDM: the application city code has 6 digits (GB/T 2260)", field="YYCSDM")


@dataclass(frozen=True)
class Holder(TlvFile):
    """DDF1/EF06 持卡人基本信息 (WS/T 543.3 DDF1/EF06): XM, XB, MZ, CSRQ, SFZH."""

    FILE: ClassVar[str] = "DDF1/EF06"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("name", 11, Kind.TEXT),
        _f("gender", 12, Kind.CODE),
        _f("ethnicity", 13, Kind.CODE),
        _f("birth_date", 14, Kind.DATE),
        _f("id_number", 15, Kind.ID),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"name"})

    name: str | None = None
    gender: str | None = None
    ethnicity: str | None = None
    birth_date: _dt.date | None = None
    id_number: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.id_number is not None and self.birth_date is not None:
            embedded = self.id_number[6:14]
            if embedded != self.birth_date.strftime("%Y%m%d"):
                raise DataError(
                    f"CSRQ: birth date {self.birth_date.isoformat()} differs from the ID number's {embedded}",
                    field="CSRQ",
                )


@dataclass(frozen=True)
class Validity(TlvFile):
    """DDF1/EF08 有效期/电话/支付方式 (WS/T 543.3 DDF1/EF08): KYXQ, BRDH1/2, YLFYZFFS1..3."""

    FILE: ClassVar[str] = "DDF1/EF08"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("expiry_date", 7, Kind.DATE),
        _f("phone1", 16, Kind.TEXT),
        _f("phone2", 17, Kind.TEXT),
        _f("payment_method1", 18, Kind.CODE),
        _f("payment_method2", 19, Kind.CODE),
        _f("payment_method3", 20, Kind.CODE),
    )

    expiry_date: _dt.date | None = None
    phone1: str | None = None
    phone2: str | None = None
    payment_method1: str | None = None
    payment_method2: str | None = None
    payment_method3: str | None = None


@dataclass(frozen=True)
class Addresses(TlvFile):
    """DF01/EF05 地址信息 (WS/T 543.3 DF01 items): DZLB1, DZ1, DZLB2, DZ2."""

    FILE: ClassVar[str] = "DF01/EF05"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("category1", 21, Kind.CODE),
        _f("address1", 22, Kind.TEXT),
        _f("category2", 23, Kind.CODE),
        _f("address2", 24, Kind.TEXT),
    )

    category1: str | None = None
    address1: str | None = None
    category2: str | None = None
    address2: str | None = None


@dataclass(frozen=True)
class Contacts(TlvFile):
    """DF01/EF06 联系人信息 (WS/T 543.3 DF01 items): three (name, relation, phone) triples."""

    FILE: ClassVar[str] = "DF01/EF06"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = tuple(
        spec
        for n in range(3)
        for spec in (
            _f(f"name{n + 1}", 25 + 3 * n, Kind.TEXT),
            _f(f"relation{n + 1}", 26 + 3 * n, Kind.CODE),
            _f(f"phone{n + 1}", 27 + 3 * n, Kind.TEXT),
        )
    )

    name1: str | None = None
    relation1: str | None = None
    phone1: str | None = None
    name2: str | None = None
    relation2: str | None = None
    phone2: str | None = None
    name3: str | None = None
    relation3: str | None = None
    phone3: str | None = None


@dataclass(frozen=True)
class OccupationMarriage(TlvFile):
    """DF01/EF07 职业婚姻信息 (WS/T 543.3 DF01 items): WHCD, HYZK, ZY (GB/T 6565 occupation code as text)."""

    FILE: ClassVar[str] = "DF01/EF07"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("education", 34, Kind.CODE),
        _f("marital_status", 35, Kind.CODE),
        _f("occupation", 36, Kind.TEXT),
    )

    education: str | None = None
    marital_status: str | None = None
    occupation: str | None = None


@dataclass(frozen=True)
class Documents(TlvFile):
    """DF01/EF08 证件记录信息 (WS/T 543.3 DF01 items): ZJLB, ZJHM, JKDAH, XNHZH."""

    FILE: ClassVar[str] = "DF01/EF08"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("document_type", 37, Kind.CODE),
        _f("document_number", 38, Kind.TEXT),
        _f("health_record_number", 39, Kind.TEXT),
        _f("ncms_number", 40, Kind.TEXT),
    )

    document_type: str | None = None
    document_number: str | None = None
    health_record_number: str | None = None
    ncms_number: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.document_type == "01" and self.document_number is not None:
            object.__setattr__(self, "document_number", validate_id_number(self.document_number, field="ZJHM"))


@dataclass(frozen=True)
class ClinicalFlags(TlvFile):
    """DF02/EF05 临床基本数据 (WS/T 543.3 DF02 items): blood groups, 12 condition flags, other warning."""

    FILE: ClassVar[str] = "DF02/EF05"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _f("abo", 41, Kind.CODE),
        _f("rh", 42, Kind.CODE),
        _f("asthma", 43, Kind.FLAG),
        _f("heart_disease", 44, Kind.FLAG),
        _f("cardiovascular_disease", 45, Kind.FLAG),
        _f("epilepsy", 46, Kind.FLAG),
        _f("coagulation_disorder", 47, Kind.FLAG),
        _f("diabetes", 48, Kind.FLAG),
        _f("glaucoma", 49, Kind.FLAG),
        _f("dialysis", 50, Kind.FLAG),
        _f("organ_transplant", 51, Kind.FLAG),
        _f("organ_missing", 52, Kind.FLAG),
        _f("removable_prosthesis", 53, Kind.FLAG),
        _f("pacemaker", 54, Kind.FLAG),
        _f("other_warning", 55, Kind.TEXT),
    )

    abo: str | None = None
    rh: str | None = None
    asthma: bool | None = None
    heart_disease: bool | None = None
    cardiovascular_disease: bool | None = None
    epilepsy: bool | None = None
    coagulation_disorder: bool | None = None
    diabetes: bool | None = None
    glaucoma: bool | None = None
    dialysis: bool | None = None
    organ_transplant: bool | None = None
    organ_missing: bool | None = None
    removable_prosthesis: bool | None = None
    pacemaker: bool | None = None
    other_warning: str | None = None


@dataclass(frozen=True)
class SpecialInfo(TlvFile):
    """DF02/EF06 特殊信息 (WS/T 543.3 DF02 items): JSBBZ."""

    FILE: ClassVar[str] = "DF02/EF06"
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (_f("mental_illness", 56, Kind.FLAG),)

    mental_illness: bool | None = None
