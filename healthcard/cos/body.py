"""Splitting a raw command APDU into data and Le without building objects (ISO/IEC 7816-3 §12.1.3 cases).

The COS works on the raw bytes so the hot path (READ BINARY) allocates nothing beyond the answer.
"""

from __future__ import annotations

from apdu.card import SwError
from apdu.status import SW

__all__ = ["split", "u16", "u32"]


def split(apdu: bytes) -> tuple[bytes, int | None]:
    """``(data, Ne)`` of a short or extended command; ``Ne`` is ``None`` without Le. Raises ``SwError(6700)``."""
    n = len(apdu)
    if n == 4:
        return b"", None
    if n == 5:
        return b"", apdu[4] or 256
    lc = apdu[4]
    if lc:
        if n == 5 + lc:
            return apdu[5:], None
        if n == 6 + lc:
            return apdu[5 : 5 + lc], apdu[-1] or 256
        raise SwError(SW.WRONG_LENGTH)
    if n == 7:
        return b"", int.from_bytes(apdu[5:7], "big") or 65536
    if n < 7:
        raise SwError(SW.WRONG_LENGTH)
    lc = int.from_bytes(apdu[5:7], "big")
    if lc == 0:
        raise SwError(SW.WRONG_LENGTH)
    if n == 7 + lc:
        return apdu[7:], None
    if n == 9 + lc:
        return apdu[7 : 7 + lc], int.from_bytes(apdu[-2:], "big") or 65536
    raise SwError(SW.WRONG_LENGTH)


def u16(data: bytes, offset: int = 0) -> int:
    """Big-endian 2-byte integer."""
    return int.from_bytes(data[offset : offset + 2], "big")


def u32(data: bytes, offset: int = 0) -> int:
    """Big-endian 4-byte integer."""
    return int.from_bytes(data[offset : offset + 4], "big")
