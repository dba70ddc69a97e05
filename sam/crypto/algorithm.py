"""The card's algorithm identifier (算法标识) and the block size it implies.

Source: SM4 purse variant, sources.md F1 (ReaderFrame labels ``0 = 3DES``, ``4 = SM4``; the INITIALIZE FOR LOAD/PURCHASE
response carries the same byte).
"""

from __future__ import annotations

import enum

__all__ = ["Algorithm", "block_size"]


class Algorithm(enum.IntEnum):
    """算法标识 as it appears in purse responses and in the project's key files (docs/decisions.md D2)."""

    TDES = 0x00
    SM4 = 0x04


def block_size(alg: Algorithm) -> int:
    """8 for 3DES, 16 for SM4."""
    return 16 if alg is Algorithm.SM4 else 8
