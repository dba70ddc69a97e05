"""Citizen ID number (公民身份号码) validation: GB 11643-1999, check digit ISO 7064 MOD 11-2.

18 characters: 6-digit address code (GB/T 2260), 8-digit birth date YYYYMMDD, 3-digit sequence (odd = male),
check character ``0``-``9`` or ``X`` (value 10). Referenced by WS/T 543.1-.6; WS/T 543.3 DDF1/EF06 (SFZH).
"""

from __future__ import annotations

import datetime as _dt

from apdu.errors import DataError

__all__ = ["birth_date_of", "check_character", "validate_id_number"]

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise DataError("the first 17 characters of an ID number must be digits", field="SFZH")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def validate_id_number(value: str, *, field: str = "SFZH") -> str:
    """Validate an 18-character ID number and return it normalised (upper-case ``X``)."""
    text = value.strip().upper()
    if len(text) != 18:
        raise DataError(f"{field}: an ID number has 18 characters, got {len(text)}", field=field)
    if not text[:17].isascii() or not text[:17].isdigit() or text[17] not in "0123456789X":
        raise DataError(f"{field}: 17 digits and a check character 0-9/X expected", field=field)
    expected = check_character(text[:17])
    if text[17] != expected:
        raise DataError(f"{field}: check character is {text[17]!r}, GB 11643 requires {expected!r}", field=field)
    try:
        birth_date_of(text)
    except ValueError as exc:
        raise DataError(f"{field}: the birth date {text[6:14]} in the ID number is invalid", field=field) from exc
    return text


def birth_date_of(id_number: str) -> _dt.date:
    """The birth date embedded in an 18-character ID number (characters 7..14)."""
    part = id_number[6:14]
    return _dt.date(int(part[:4]), int(part[4:6]), int(part[6:]))
