"""Typed value kinds of data elements and their byte/JSON conversions.

A :class:`FieldSpec` ties a Python attribute to a data element (WS/T 543.3 data items): its item number gives the
encoding and length (:mod:`healthcard.codecs.elements`), its :class:`Kind` the Python type:

=========  ===============  ===========================================================
kind       Python type      bytes
=========  ===============  ===========================================================
TEXT       ``str``          ``an`` GBK text
DIGITS     ``str``          ``cn`` BCD digits
DATE       ``date``         ``cn`` YYYYMMDD
CODE       ``str``          code of the element's table; ``cn`` BCD, ``b`` one byte, ``an`` text
FLAG       ``bool``         ``b`` one byte 00 / 01 (project choice, docs/data-elements.md)
BINARY     ``bytes``        ``b``
ID         ``str``          ``an``; validated with the GB 11643 check digit
=========  ===============  ===========================================================
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass
from typing import Any

from apdu.errors import DataError
from apdu.hexdata import from_hex
from healthcard.codecs.codetables import table
from healthcard.codecs.elements import DataElement, element
from healthcard.codecs.encoding import (
    Encoding,
    decode_an,
    decode_cn,
    decode_date,
    encode_an,
    encode_cn,
    encode_date,
    parse_date,
)
from healthcard.codecs.idnumber import validate_id_number

__all__ = ["FieldSpec", "Kind", "Value"]

Value = str | bool | bytes | _dt.date


class Kind(enum.Enum):
    """How a data element is represented in Python."""

    TEXT = "text"
    DIGITS = "digits"
    DATE = "date"
    CODE = "code"
    FLAG = "flag"
    BINARY = "binary"
    ID = "id"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Attribute ``attr`` holds item ``item`` as ``kind``; ``pad`` pads the value to the full length."""

    attr: str
    item: int
    kind: Kind
    pad: bool = False

    @property
    def element(self) -> DataElement:
        """The data element of this field."""
        return element(self.item)

    @property
    def label(self) -> str:
        """``PINYIN`` used in error messages and as ``DataError.field``."""
        return self.element.pinyin

    def validate(self, value: Value) -> Value:
        """Check a Python value (type, length, code table, check digit); return it normalised."""
        el, name = self.element, self.label
        if self.kind is Kind.FLAG:
            if not isinstance(value, bool):
                raise DataError(f"{name}: a flag must be true/false", field=name)
            return value
        if self.kind is Kind.DATE:
            if not isinstance(value, _dt.date):
                raise DataError(f"{name}: a date is required", field=name)
            encode_date(value, field=name)
            return value
        if self.kind is Kind.BINARY:
            if not isinstance(value, bytes):
                raise DataError(f"{name}: bytes are required", field=name)
            if len(value) > el.length:
                raise DataError(f"{name}: {len(value)} bytes, at most {el.length} allowed", field=name)
            return value
        if not isinstance(value, str):
            raise DataError(f"{name}: text is required", field=name)
        if self.kind is Kind.ID:
            return validate_id_number(value, field=name)
        if self.kind is Kind.CODE:
            assert el.table is not None
            table(el.table).validate(value, field=name)
        self.encode(value)
        return value

    def encode(self, value: Value) -> bytes:
        """The value bytes of the element (without TLV header)."""
        el, name = self.element, self.label
        if self.kind is Kind.FLAG:
            return b"\x01" if value else b"\x00"
        if isinstance(value, _dt.date):
            return encode_date(value, field=name)
        if isinstance(value, bytes):
            return value.ljust(el.length, b"\x00") if self.pad else value
        assert isinstance(value, str)
        if self.kind is Kind.CODE and el.encoding is Encoding.B:
            return bytes((int(value),))
        if el.encoding is Encoding.CN:
            return encode_cn(value, el.length, field=name)
        return encode_an(value, el.length, field=name, pad=self.pad)

    def decode(self, raw: bytes) -> Value | None:
        """Inverse of :meth:`encode`; ``None`` for an empty value."""
        el, name = self.element, self.label
        if len(raw) > el.length:
            raise DataError(f"{name}: {len(raw)} bytes, the element has {el.length}", field=name)
        if not raw:
            return None
        if self.kind is Kind.FLAG:
            if raw[0] not in (0, 1):
                raise DataError(f"{name}: flag byte {raw[0]:02X} is neither 00 nor 01", field=name)
            return raw[0] == 1
        if self.kind is Kind.DATE:
            return decode_date(raw, field=name)
        if self.kind is Kind.BINARY:
            return bytes(raw)
        if self.kind is Kind.CODE and el.encoding is Encoding.B:
            code = str(raw[0])
        elif el.encoding is Encoding.CN:
            code = decode_cn(raw, field=name)
        else:
            code = decode_an(raw, field=name)
        if code == "":
            return None
        return self.validate(code)

    def to_json(self, value: Value) -> Any:
        """JSON-friendly form: ISO dates, hex bytes, ``{"code", "meaning"}`` for codes."""
        if isinstance(value, _dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.hex().upper()
        if self.kind is Kind.CODE:
            assert isinstance(value, str) and self.element.table is not None
            return {"code": value, "meaning": table(self.element.table).meaning(value)}
        return value

    def from_json(self, raw: Any) -> Value:
        """Parse the JSON form (codes also as a bare string; dates as ISO or YYYYMMDD) and validate."""
        name = self.label
        value: Value
        if self.kind is Kind.CODE and isinstance(raw, dict):
            raw = raw.get("code")
        if self.kind is Kind.DATE:
            if not isinstance(raw, str):
                raise DataError(f"{name}: a date string is required", field=name)
            value = parse_date(raw, field=name)
        elif self.kind is Kind.BINARY:
            value = from_hex(raw, name, lambda message: DataError(message, field=name))
        elif self.kind is Kind.FLAG:
            if not isinstance(raw, bool):
                raise DataError(f"{name}: true or false required", field=name)
            value = raw
        else:
            if isinstance(raw, int) and not isinstance(raw, bool):
                raw = str(raw)
            if not isinstance(raw, str):
                raise DataError(f"{name}: text required", field=name)
            value = raw
        return self.validate(value)
