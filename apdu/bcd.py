"""BCD dates and times of the PBOC / health-card commands and records, one codec for the whole project.

``YYYYMMDD`` (4 bytes), ``hhmmss`` (3 bytes) and their concatenation ``YYYYMMDDhhmmss`` (7 bytes), each decimal
digit one nibble (JR/T 0025 / JR/T 0025.1 data formats transaction date and time; 健康卡 SAM spec: files SAM dates;
the purse detail record, JR/T 0025.1 transaction detail file). Decoding raises :class:`~apdu.errors.ApduFormatError` (a
``ValueError``) naming ``field`` when the bytes are not a valid date or time.

>>> encode_datetime(_dt.datetime(2026, 3, 9, 14, 5, 7)).hex()
'20260309140507'
>>> decode_date(bytes.fromhex("20260309"))
datetime.date(2026, 3, 9)
"""

from __future__ import annotations

import datetime as _dt

from apdu.errors import ApduFormatError

__all__ = ["decode_date", "decode_datetime", "encode_date", "encode_datetime", "encode_time"]


def encode_date(when: _dt.date) -> bytes:
    """``YYYYMMDD`` as 4 BCD bytes."""
    return bytes.fromhex(f"{when.year:04d}{when.month:02d}{when.day:02d}")


def encode_time(when: _dt.datetime | _dt.time) -> bytes:
    """``hhmmss`` as 3 BCD bytes."""
    return bytes.fromhex(f"{when.hour:02d}{when.minute:02d}{when.second:02d}")


def encode_datetime(when: _dt.datetime) -> bytes:
    """Date ‖ time, 7 BCD bytes ``YYYYMMDDhhmmss``."""
    if not isinstance(when, _dt.datetime):
        raise ApduFormatError(f"a datetime is needed, got {type(when).__name__}", field="when")
    return encode_date(when) + encode_time(when)


def _digits(raw: bytes, length: int, field: str, what: str) -> str:
    text = bytes(raw).hex()
    if len(raw) != length or not text.isdigit():
        raise ApduFormatError(f"{field}: {text.upper()} is not a BCD {what}", field=field)
    return text


def decode_date(raw: bytes, *, field: str = "date") -> _dt.date:
    """The date of 4 BCD bytes ``YYYYMMDD``."""
    text = _digits(raw, 4, field, "date YYYYMMDD")
    try:
        return _dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise ApduFormatError(f"{field}: {text.upper()} is not a BCD date YYYYMMDD", field=field) from exc


def decode_datetime(raw: bytes, *, field: str = "date_time") -> _dt.datetime:
    """The date and time of 7 BCD bytes ``YYYYMMDDhhmmss``."""
    text = _digits(raw, 7, field, "date and time YYYYMMDDhhmmss")
    try:
        return _dt.datetime(
            int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14])
        )
    except ValueError as exc:
        raise ApduFormatError(f"{field}: {text.upper()} is not a BCD date and time", field=field) from exc
