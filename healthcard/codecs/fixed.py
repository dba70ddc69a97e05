"""Fixed-layout (non-TLV) records of DF02 and DF03 (WS/T 543.3 record layouts, WS/T 543.3 cyclic files, WS/T 543.3 DF03
index files, WS/T 543.3 DF02 items, WS/T 543.3 DF03 items).

* DF02/EF07 过敏基本数据: cyclic, 3 × 120 B = GMWZMC (20 an) ‖ GMFY (100 an).
* DF02/EF08 免疫基本数据: cyclic, 10 × 24 B = MYJZMC (20 an) ‖ MYJZSJ (4 cn YYYYMMDD).
* DF03/EF05, EF06: 1-byte valid flags (``00`` valid, ``FF`` free) for EE01..EE03 and ED01..ED05.
* DF03/EE0n, ED0n: the areas of :mod:`healthcard.codecs.df03`.

Byte layouts are :mod:`construct` structs behind typed dataclasses.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import construct as cs

from apdu.errors import DataError
from healthcard.codecs.df03 import ED_LAYOUT, EE_LAYOUT, AreaLayout
from healthcard.codecs.encoding import decode_an, decode_date, encode_an, encode_date, parse_date
from healthcard.codecs.signature import RecordSignature, SignatureStatus

__all__ = [
    "ALLERGY_RECORD",
    "IMMUNISATION_RECORD",
    "INDEX_FREE",
    "INDEX_VALID",
    "Allergy",
    "Immunisation",
    "InpatientRecord",
    "OutpatientRecord",
    "VisitRecord",
]

ALLERGY_RECORD = cs.Struct("substance" / cs.Bytes(20), "reaction" / cs.Bytes(100))
IMMUNISATION_RECORD = cs.Struct("name" / cs.Bytes(20), "date" / cs.Bytes(4))
INDEX_VALID = 0x00
INDEX_FREE = 0xFF


def _split(struct: cs.Struct, record: bytes, where: str, field: str) -> Any:
    """``record`` split by ``struct``; a :class:`DataError` naming ``field`` unless it has exactly the struct's size."""
    size: int = struct.sizeof()
    if len(record) != size:
        raise DataError(f"{where}: record of {len(record)} bytes, {size} expected", field=field)
    return struct.parse(record)


@dataclass(frozen=True)
class Allergy:
    """One DF02/EF07 record: 过敏物质名称 GMWZMC (item 58) and 过敏反应 GMFY (item 59)."""

    SIZE: ClassVar[int] = ALLERGY_RECORD.sizeof()
    substance: str
    reaction: str = ""

    def __post_init__(self) -> None:
        if not self.substance:
            raise DataError("GMWZMC: the allergen name is required", field="GMWZMC")
        encode_an(self.substance, 20, field="GMWZMC")
        encode_an(self.reaction, 100, field="GMFY")

    def to_record(self) -> bytes:
        """The 120-byte record (``00``-padded an fields)."""
        out: bytes = ALLERGY_RECORD.build(
            {
                "substance": encode_an(self.substance, 20, field="GMWZMC", pad=True),
                "reaction": encode_an(self.reaction, 100, field="GMFY", pad=True),
            }
        )
        return out

    @classmethod
    def from_record(cls, record: bytes) -> Self | None:
        """Parse a record; ``None`` for an empty (never written) record."""
        parsed = _split(ALLERGY_RECORD, record, "DF02/EF07", "GMWZMC")
        substance = decode_an(parsed.substance, field="GMWZMC")
        if not substance:
            return None
        return cls(substance, decode_an(parsed.reaction, field="GMFY"))

    def to_json(self) -> dict[str, Any]:
        """``{"substance", "reaction"}``."""
        return {"substance": self.substance, "reaction": self.reaction}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_json`."""
        return cls(str(data.get("substance", "")), str(data.get("reaction", "")))


@dataclass(frozen=True)
class Immunisation:
    """One DF02/EF08 record: 免疫接种名称 MYJZMC (item 60) and 免疫接种时间 MYJZSJ (item 61)."""

    SIZE: ClassVar[int] = IMMUNISATION_RECORD.sizeof()
    name: str
    date: _dt.date | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise DataError("MYJZMC: the vaccine name is required", field="MYJZMC")
        encode_an(self.name, 20, field="MYJZMC")

    def to_record(self) -> bytes:
        """The 24-byte record; an unknown date is ``FFFFFFFF``."""
        date = b"\xff" * 4 if self.date is None else encode_date(self.date, field="MYJZSJ")
        name = encode_an(self.name, 20, field="MYJZMC", pad=True)
        out: bytes = IMMUNISATION_RECORD.build({"name": name, "date": date})
        return out

    @classmethod
    def from_record(cls, record: bytes) -> Self | None:
        """Parse a record; ``None`` for an empty record."""
        parsed = _split(IMMUNISATION_RECORD, record, "DF02/EF08", "MYJZMC")
        name = decode_an(parsed.name, field="MYJZMC")
        if not name:
            return None
        return cls(name, decode_date(parsed.date, field="MYJZSJ"))

    def to_json(self) -> dict[str, Any]:
        """``{"name", "date"}`` with an ISO date or null."""
        return {"name": self.name, "date": None if self.date is None else self.date.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_json`."""
        raw = data.get("date")
        return cls(str(data.get("name", "")), None if raw is None else parse_date(str(raw), field="MYJZSJ"))


@dataclass(frozen=True)
class VisitRecord:
    """A DF03 visit record (EE住院 / ED门诊): slot number, valid flag (index file) and item values."""

    LAYOUT: ClassVar[AreaLayout]
    SLOTS: ClassVar[int]
    slot: int
    valid: bool = True
    items: Mapping[int, str | bytes] = field(default_factory=dict)
    #: What checking the stored signature found (set by the card API when it reads a valid slot; not compared).
    signature: RecordSignature | None = field(default=None, compare=False)
    #: The file's bytes when they do not decode as a record (:meth:`unreadable`); ``b""`` otherwise.
    raw: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.slot <= self.SLOTS:
            raise DataError(f"{self.LAYOUT.name}: slot must be 1..{self.SLOTS}, got {self.slot}", field="slot")
        self.LAYOUT.encode(self.items)  # validates item numbers, lengths, encodings

    @property
    def index_byte(self) -> int:
        """The slot's index record: ``00`` valid, ``FF`` free (WS/T 543.3 DF03 index files)."""
        return INDEX_VALID if self.valid else INDEX_FREE

    def to_bytes(self) -> bytes:
        """The whole transparent file content."""
        return self.LAYOUT.encode(self.items)

    @classmethod
    def from_bytes(cls, slot: int, data: bytes, index_byte: int) -> Self:
        """Parse the file content and the slot's index byte."""
        if index_byte not in (INDEX_VALID, INDEX_FREE):
            raise DataError(f"index byte {index_byte:02X} is neither 00 nor FF", field="index")
        return cls(slot, index_byte == INDEX_VALID, cls.LAYOUT.decode(data))

    @classmethod
    def unreadable(cls, slot: int, raw: bytes) -> Self:
        """A valid slot whose bytes do not decode (:meth:`from_bytes` refused them): no items, the bytes in
        :attr:`raw`, signature status ``UNREADABLE`` — so one damaged slot does not hide the others."""
        return cls(slot, True, {}, RecordSignature(SignatureStatus.UNREADABLE), bytes(raw))

    @property
    def is_unreadable(self) -> bool:
        """True for a record made by :meth:`unreadable`."""
        return self.signature is not None and self.signature.status is SignatureStatus.UNREADABLE

    def to_json(self) -> dict[str, Any]:
        """``{"slot", "valid", "items": {"item_064": text/digits/hex}}``, ``"signature"`` when checked, and
        ``"raw"`` (upper-case hex of the file) for an unreadable record."""
        items = {f"item_{k:03d}": v.hex().upper() if isinstance(v, bytes) else v for k, v in sorted(self.items.items())}
        out: dict[str, Any] = {"slot": self.slot, "valid": self.valid, "items": items}
        if self.signature is not None:
            out["signature"] = self.signature.to_json()
        if self.raw:
            out["raw"] = self.raw.hex().upper()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_json` (a ``"signature"`` is what a read found, not data: it is ignored).

        An unreadable record (``"raw"``) is refused: written back it would replace the slot's bytes with an empty
        record, and those bytes are all that is left of it.
        """
        if data.get("raw"):
            raise DataError(f"{cls.LAYOUT.name} slot {data.get('slot')}: the record was read as unreadable (raw bytes "
                            "only); leave it out of the document or give its items", field="raw")  # fmt: skip
        items: dict[int, str | bytes] = {}
        for key, value in dict(data.get("items", {})).items():
            item = int(str(key).removeprefix("item_"))
            is_b = cls.LAYOUT.field(item).encoding.value == "b"
            items[item] = bytes.fromhex(value) if is_b else str(value)
        return cls(int(data["slot"]), bool(data.get("valid", True)), items)


@dataclass(frozen=True)
class InpatientRecord(VisitRecord):
    """DF03/EE0n 住院信息 (1893 B, slots 1..3; index DF03/EF05)."""

    LAYOUT: ClassVar[AreaLayout] = EE_LAYOUT
    SLOTS: ClassVar[int] = 3


@dataclass(frozen=True)
class OutpatientRecord(VisitRecord):
    """DF03/ED0n 门诊信息 (3267 B, slots 1..5; index DF03/EF06)."""

    LAYOUT: ClassVar[AreaLayout] = ED_LAYOUT
    SLOTS: ClassVar[int] = 5
