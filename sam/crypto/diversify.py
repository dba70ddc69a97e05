"""Key diversification (密钥分散), JR/T 0025.2 key diversification

* 3DES: ``DK = 3DES_ECB(MK, F) ‖ 3DES_ECB(MK, ~F)`` (EMV option A without the parity adjustment;
  diversification.json anchors it on pyemv's published example).
* SM4: ``DK = SM4_ECB(MK, F ‖ ~F)``.
* Several levels apply the one-level function left to right, the previous result becoming the master key
  (JR/T 0025.2 key diversification "Multi-level"). Which factor comes first is the caller's choice: the PSAM's order is
  an open point (JR/T 0025.2 key diversification) and a SAM-profile setting in this project (docs/decisions.md D1).
"""

from __future__ import annotations

from collections.abc import Sequence

from sam.crypto.algorithm import Algorithm
from sam.crypto.ciphers import encrypt_ecb
from sam.crypto.errors import CryptoError

__all__ = ["diversify", "diversify_path", "invert"]


def invert(data: bytes) -> bytes:
    """Bitwise NOT of every byte (``~F``)."""
    return bytes(b ^ 0xFF for b in data)


def diversify(alg: Algorithm, master_key: bytes, factor: bytes) -> bytes:
    """One level of diversification with an 8-byte factor; returns a 16-byte key.

    Example: pyemv's EMV Option A vector before the parity adjustment (``diversification.json``).

    >>> from sam.crypto.algorithm import Algorithm
    >>> mk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> diversify(Algorithm.TDES, mk, bytes.fromhex("1234567890123445")).hex().upper()
    '67F8292358083F5EA6AB7FDA58D43A6B'
    """
    if len(factor) != 8:
        raise CryptoError(f"factor: a diversification factor is 8 bytes, not {len(factor)}")
    if alg is Algorithm.SM4:
        return encrypt_ecb(alg, master_key, factor + invert(factor))
    if len(master_key) != 16:
        raise CryptoError(f"key: a 3DES master key for diversification is 16 bytes, not {len(master_key)}")
    return encrypt_ecb(alg, master_key, factor) + encrypt_ecb(alg, master_key, invert(factor))


def diversify_path(alg: Algorithm, master_key: bytes, factors: Sequence[bytes]) -> bytes:
    """Diversify through each factor in the order given (no factors: the master key itself)."""
    key = master_key
    for factor in factors:
        key = diversify(alg, key, factor)
    return key
