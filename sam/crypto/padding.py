"""ISO/IEC 9797-1 padding method 2 (``80`` then ``00``): JR/T 0025.2 MAC algorithm"""

from __future__ import annotations

from sam.crypto.errors import CryptoError

__all__ = ["pad80", "pad80_if_needed", "unpad80"]


def pad80(data: bytes, block: int) -> bytes:
    """Always append ``80`` and then ``00`` up to a multiple of ``block`` (a full block when already aligned).

    >>> pad80(bytes.fromhex("0102"), 8).hex().upper()
    '0102800000000000'
    >>> len(pad80(bytes(8), 8))  # a full block is always added
    16
    """
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % block)


def pad80_if_needed(data: bytes, block: int) -> bytes:
    """Pad with method 2 only when ``data`` is not already a multiple of ``block`` (JR/T 0025.1 secure messaging,
    S8)."""
    return data if data and len(data) % block == 0 else pad80(data, block)


def unpad80(data: bytes) -> bytes:
    """Remove method-2 padding; raise :class:`CryptoError` when there is none.

    >>> unpad80(bytes.fromhex("0102800000")).hex().upper()
    '0102'
    """
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise CryptoError("padding: no 80 00.. padding found")
    return stripped[:-1]
