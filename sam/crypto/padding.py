"""ISO/IEC 9797-1 padding method 2 (``80`` then ``00``): pboc-purse.md §3.1."""

from __future__ import annotations

from sam.crypto.errors import CryptoError

__all__ = ["pad80", "pad80_if_needed", "unpad80"]


def pad80(data: bytes, block: int) -> bytes:
    """Always append ``80`` and then ``00`` up to a multiple of ``block`` (a full block when already aligned)."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % block)


def pad80_if_needed(data: bytes, block: int) -> bytes:
    """Pad with method 2 only when ``data`` is not already a multiple of ``block`` (pboc-purse.md §7.1, S8)."""
    return data if data and len(data) % block == 0 else pad80(data, block)


def unpad80(data: bytes) -> bytes:
    """Remove method-2 padding; raise :class:`CryptoError` when there is none."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise CryptoError("padding: no 80 00.. padding found")
    return stripped[:-1]
