"""Data-element encodings ``an`` / ``cn`` / ``b`` and dates (WS/T 543.3 record addressing, WS/T 543.3 data items
"Encodings").

* ``an`` — bytes as-is: ASCII, or GBK (a superset of GB 2312) for Chinese text. Left-justified. TLV records
  carry the value only (no padding); DF03 fixed areas pad with ``00`` (WS/T 543.3 record addressing).
* ``cn`` — compressed numeric BCD, left-justified, right-padded with ``F`` nibbles.
* ``b`` — binary; DF03 fixed areas pad with ``00``.

Dates are ``cn`` YYYYMMDD (4 bytes) and map to :class:`datetime.date`.
"""

from __future__ import annotations

import datetime as _dt
import enum

from apdu import bcd
from apdu.errors import DataError

__all__ = [
    "Encoding",
    "decode_an",
    "decode_cn",
    "decode_date",
    "decode_value",
    "encode_an",
    "encode_cn",
    "encode_date",
    "encode_value",
]


class Encoding(enum.Enum):
    """The three data-element encodings (W1 constants AN_style 0x01, CN_style 0x0F, B_style 0xFF)."""

    AN = "an"
    CN = "cn"
    B = "b"

    @property
    def style(self) -> int:
        """The DLL's ``nStyle`` constant (健康卡应用接口规范 §6.2)."""
        return {Encoding.AN: 0x01, Encoding.CN: 0x0F, Encoding.B: 0xFF}[self]


def encode_an(text: str, length: int, *, field: str, pad: bool = False) -> bytes:
    """Encode ``text`` in GBK; at most ``length`` bytes. ``pad=True`` right-pads with ``00`` (DF03 areas)."""
    try:
        raw = text.encode("gbk")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise DataError(f"{field}: character {bad!r} cannot be encoded in GBK", field=field) from exc
    if len(raw) > length:
        raise DataError(f"{field}: text is {len(raw)} bytes in GBK, at most {length} allowed", field=field)
    if b"\x00" in raw:
        raise DataError(f"{field}: text must not contain NUL characters", field=field)
    return raw.ljust(length, b"\x00") if pad else raw


def decode_an(raw: bytes, *, field: str) -> str:
    """Decode GBK text, dropping ``00`` padding (and ``FF`` of erased areas) on the right."""
    raw = raw.rstrip(b"\x00")
    if raw and set(raw) == {0xFF}:
        return ""
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError as exc:
        raise DataError(f"{field}: bytes are not valid GBK text", field=field) from exc


def encode_cn(digits: str, length: int, *, field: str) -> bytes:
    """Encode a digit string as ``cn``: BCD, left-justified, right-padded with ``F`` to ``length`` bytes."""
    if digits and not (digits.isascii() and digits.isdigit()):
        raise DataError(f"{field}: cn value must contain digits 0-9 only, got {digits!r}", field=field)
    if len(digits) > 2 * length:
        raise DataError(f"{field}: {len(digits)} digits, at most {2 * length} fit in {length} bytes", field=field)
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(raw: bytes, *, field: str) -> str:
    """Decode ``cn`` BCD: digits up to the first ``F`` nibble; anything after it must be ``F`` too."""
    nibbles = raw.hex().upper()
    digits = nibbles.rstrip("F")
    if not digits.isdigit() and digits:
        raise DataError(f"{field}: not a cn (BCD) value: {nibbles}", field=field)
    return digits


def encode_date(value: _dt.date, *, field: str) -> bytes:
    """Encode a date as 4-byte ``cn`` YYYYMMDD."""
    if not 1 <= value.year <= 9999:
        raise DataError(f"{field}: year out of range", field=field)
    return bcd.encode_date(value)


def decode_date(raw: bytes, *, field: str) -> _dt.date | None:
    """Decode a 4-byte ``cn`` YYYYMMDD; ``None`` for an empty (all ``F`` or all ``0``) value."""
    digits = decode_cn(raw, field=field)
    if digits == "" or set(digits) == {"0"}:
        return None
    return parse_date(digits, field=field)


def parse_date(digits: str, *, field: str) -> _dt.date:
    """Parse ``YYYYMMDD`` (or ISO ``YYYY-MM-DD``) with a clear error for impossible dates."""
    text = digits.replace("-", "")
    if len(text) != 8 or not text.isdigit():
        raise DataError(f"{field}: date must be YYYYMMDD, got {digits!r}", field=field)
    try:
        return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise DataError(f"{field}: {digits!r} is not a valid date ({exc})", field=field) from exc


def encode_value(value: str | bytes, encoding: Encoding, length: int, *, field: str, pad: bool) -> bytes:
    """Encode one element value. ``an`` takes text, ``cn`` digits, ``b`` bytes (or a hex string).

    ``pad`` selects the fixed-area form (DF03, cyclic records): the value is padded to exactly ``length``
    (``00`` for an/b, ``F`` for cn). Without it ``an``/``b`` values keep their own length (TLV records).
    """
    if encoding is Encoding.AN:
        if not isinstance(value, str):
            raise DataError(f"{field}: an value must be text", field=field)
        return encode_an(value, length, field=field, pad=pad)
    if encoding is Encoding.CN:
        if not isinstance(value, str):
            raise DataError(f"{field}: cn value must be a digit string", field=field)
        return encode_cn(value, length, field=field)
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(raw) > length:
        raise DataError(f"{field}: {len(raw)} bytes, at most {length} allowed", field=field)
    return raw.ljust(length, b"\x00") if pad else raw


def decode_value(raw: bytes, encoding: Encoding, *, field: str) -> str | bytes:
    """Inverse of :func:`encode_value`: ``an`` → text, ``cn`` → digits, ``b`` → bytes (as stored)."""
    if encoding is Encoding.AN:
        return decode_an(raw, field=field)
    if encoding is Encoding.CN:
        return decode_cn(raw, field=field)
    return bytes(raw)
