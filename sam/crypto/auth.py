"""External and internal authentication cryptograms, FMCOS form (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE).

EXTERNAL AUTHENTICATE: ``00 82 00 KID 08 | E_ECB(ExtAuthKey, challenge ‖ 00..)``; a 4-byte challenge is right-padded
with ``00`` to the block (real-card vector in des_mac.json ``fm1208-external-authenticate``). With SM4 keys the
cryptogram is the whole 16-byte block. INTERNAL AUTHENTICATE: the card encrypts the terminal's data with its
internal key. The health-card form lives in :mod:`sam.crypto.health`.
"""

from __future__ import annotations

from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.ciphers import encrypt_ecb
from sam.crypto.errors import CryptoError

__all__ = ["external_auth_cryptogram", "internal_auth_response"]


def _block(alg: Algorithm, data: bytes, what: str) -> bytes:
    size = block_size(alg)
    if not data or len(data) > size:
        raise CryptoError(f"{what}: 1..{size} bytes expected, not {len(data)}")
    return data + bytes(size - len(data))


def external_auth_cryptogram(alg: Algorithm, key: bytes, challenge: bytes) -> bytes:
    """``E_ECB(key, challenge ‖ 00..)`` — 8 bytes for 3DES, 16 for SM4."""
    return encrypt_ecb(alg, key, _block(alg, challenge, "challenge"))


def internal_auth_response(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """What a card answers to INTERNAL AUTHENTICATE: ``E_ECB(key, data ‖ 00..)``."""
    return encrypt_ecb(alg, key, _block(alg, data, "data"))
