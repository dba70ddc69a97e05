"""Argument checks shared by the command builders: each failure is an ApduFormatError naming the argument."""

from __future__ import annotations

from apdu.errors import ApduFormatError

__all__ = ["check_bytes", "check_int", "check_length", "check_sfi"]


def check_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high`` (and an ``int``, not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApduFormatError(f"{name} must be an integer in {low}..{high}, got {value!r}", field=name)
    return value


def check_bytes(name: str, value: bytes, *lengths: int, low: int | None = None, high: int | None = None) -> bytes:
    """``value`` as ``bytes``; its length must be one of ``lengths`` or within ``low..high``."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ApduFormatError(f"{name} must be bytes, got {type(value).__name__}", field=name)
    value = bytes(value)
    n = len(value)
    if lengths and n not in lengths:
        allowed = " or ".join(str(x) for x in lengths)
        raise ApduFormatError(f"{name} must be {allowed} bytes long, got {n}", field=name)
    if (low is not None and n < low) or (high is not None and n > high):
        raise ApduFormatError(f"{name} must be {low}..{high} bytes long, got {n}", field=name)
    return value


def check_sfi(sfi: int, name: str = "sfi") -> int:
    """A short EF identifier 1..30 (ISO/IEC 7816-4 §7.2.2: 0 means the current EF, 31 is reserved)."""
    return check_int(name, sfi, 1, 30)


def check_length(name: str, value: int) -> int:
    """An expected response length Ne (1..65536; 256 encodes as a short Le ``00``)."""
    return check_int(name, value, 1, 65536)
