"""The PBOC/FMCOS MAC (pboc-purse.md §3.1, §3.5, §7.1).

* Padding: method 2, always (``80 00..``).
* 3DES, 8-byte key: single-DES CBC-MAC (ISO/IEC 9797-1 algorithm 1) — session keys, TAC keys.
* 3DES, 16-byte key: ISO/IEC 9797-1 algorithm 3 ("retail MAC"): single DES with K_L over every block, then the
  last block decrypted with K_R and encrypted with K_L. Not full 3DES-CBC (regression.json
  ``reg-retail-mac-distinct-halves`` pins the difference).
* SM4: CBC-MAC with 16-byte blocks.
* The IV is the zero block for transaction MACs; secure messaging uses the challenge right-padded with ``00``.
* The MAC is the left 4 bytes of the final block.
"""

from __future__ import annotations

import hmac

from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.ciphers import decrypt_ecb, encrypt_cbc, encrypt_ecb
from sam.crypto.errors import CryptoError
from sam.crypto.padding import pad80

__all__ = ["MAC_BYTES", "full_mac", "iv_from_challenge", "mac", "verify_mac"]

MAC_BYTES = 4


def iv_from_challenge(alg: Algorithm, challenge: bytes | None) -> bytes:
    """The IV for a MAC: the zero block, or the challenge right-padded with ``00`` (pboc-purse.md §7.1)."""
    size = block_size(alg)
    if challenge is None:
        return bytes(size)
    if len(challenge) > size:
        raise CryptoError(f"iv: a challenge of {len(challenge)} bytes does not fit a {size}-byte block")
    return challenge + bytes(size - len(challenge))


def full_mac(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """The whole final MAC block (the card uses its left 4 bytes)."""
    start = iv_from_challenge(alg, iv)
    padded = pad80(data, block_size(alg))
    if alg is Algorithm.SM4:
        return encrypt_cbc(alg, key, padded, start)[-16:]
    if len(key) == 8:
        return encrypt_cbc(alg, key, padded, start)[-8:]
    if len(key) != 16:
        raise CryptoError(f"key: a 3DES MAC key is 8 or 16 bytes, not {len(key)}")
    left, right = key[:8], key[8:]
    last = encrypt_cbc(alg, left, padded, start)[-8:]
    return encrypt_ecb(alg, left, decrypt_ecb(alg, right, last))


def mac(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """The 4-byte PBOC MAC of ``data``."""
    return full_mac(alg, key, data, iv)[:MAC_BYTES]


def verify_mac(alg: Algorithm, key: bytes, data: bytes, expected: bytes, iv: bytes | None = None) -> None:
    """Raise :class:`CryptoError` unless ``expected`` is the MAC of ``data`` (constant-time compare)."""
    if not hmac.compare_digest(mac(alg, key, data, iv), expected):
        raise CryptoError("MAC does not verify")
