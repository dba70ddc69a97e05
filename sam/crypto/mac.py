"""The PBOC/FMCOS MAC (JR/T 0025.2 MAC algorithm, SM4 purse variant, sources.md F1, JR/T 0025.1 secure messaging).

* Padding: method 2, always (``80 00..``).
* One function per algorithm, named after it (as pyemv does); none picks an algorithm from the key's length,
  a key of the wrong length is refused:

  * :func:`des_mac`: single-DES CBC-MAC (ISO/IEC 9797-1 algorithm 1), 8-byte 3DES session keys (MAC1/2, TAC);
  * :func:`retail_mac_3des`: ISO/IEC 9797-1 algorithm 3 ("retail MAC"), 16-byte 3DES keys (secure messaging);
  * :func:`sm4_mac`: SM4 CBC-MAC with 16-byte blocks.

  :func:`mac` (card keys) and :func:`session_mac` (session keys) choose among them by the card's algorithm.
* The IV is the zero block for transaction MACs; secure messaging uses the challenge right-padded with ``00``.
* The MAC is the left 4 bytes of the final block.
"""

from __future__ import annotations

import hmac

from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.ciphers import decrypt_ecb, encrypt_cbc, encrypt_ecb
from sam.crypto.errors import CryptoError
from sam.crypto.padding import pad80

__all__ = [
    "MAC_BYTES",
    "des_mac",
    "iv_from_challenge",
    "mac",
    "retail_mac_3des",
    "session_mac",
    "sm4_mac",
    "verify_mac",
    "verify_session_mac",
]

MAC_BYTES = 4


def iv_from_challenge(alg: Algorithm, challenge: bytes | None) -> bytes:
    """The IV for a MAC: the zero block, or the challenge right-padded with ``00`` (JR/T 0025.1 secure messaging)."""
    size = block_size(alg)
    if challenge is None:
        return bytes(size)
    if len(challenge) > size:
        raise CryptoError(f"iv: a challenge of {len(challenge)} bytes does not fit a {size}-byte block")
    return challenge + bytes(size - len(challenge))


def _cbc_last(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None) -> bytes:
    size = block_size(alg)
    return encrypt_cbc(alg, key, pad80(data, size), iv_from_challenge(alg, iv))[-size:]


def _need(name: str, key: bytes, length: int) -> None:
    if len(key) != length:
        raise CryptoError(f"key: {name} takes a {length}-byte key, not {len(key)}")


def des_mac(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 1 with single DES (8-byte key), padding method 2: the whole last block.

    The PBOC transaction MACs under a 3DES card's 8-byte session keys (MAC1, MAC2, TAC; SM4 purse variant, sources.md
    F1).

    Example: MAC1 of the published load example (``pboc_purse.json`` V1): session key ``9B1D924E05595603``, data
    old balance ‖ amount ‖ type 01 ‖ terminal id; the MAC is the left 4 bytes of the result.

    >>> des_mac(bytes.fromhex("9B1D924E05595603"), bytes.fromhex("000000000000100001001122334455")).hex().upper()
    '2988AE5A165CF0C0'
    """
    _need("des_mac", key, 8)
    return _cbc_last(Algorithm.TDES, key, data, iv)


def retail_mac_3des(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", 16-byte key K_L ‖ K_R), padding method 2: the last block.

    Single DES with K_L over every block, then the last block decrypted with K_R and encrypted with K_L; not
    full 3DES-CBC (regression.json ``reg-retail-mac-distinct-halves``). Secure messaging and key-protected
    commands of a 3DES card (JR/T 0025.2 MAC algorithm, JR/T 0025.1 secure messaging).

    Example: the secure-messaging MAC of an UPDATE BINARY with CLA 04 (``des_mac.json`` fmcos-sm-mac-1,
    klks/fmcos-python), IV = 4-byte card challenge ‖ ``00``×4; the MAC sent is ``F2F62231``.

    >>> key = bytes.fromhex("FF" * 16)
    >>> data = bytes.fromhex("04D600001411223344556677889900AABBCCDDEEFF")
    >>> retail_mac_3des(key, data, bytes.fromhex("44A47DEB00000000"))[:4].hex().upper()
    'F2F62231'
    """
    _need("retail_mac_3des", key, 16)
    left, right = key[:8], key[8:]
    last = _cbc_last(Algorithm.TDES, left, data, iv)
    return encrypt_ecb(Algorithm.TDES, left, decrypt_ecb(Algorithm.TDES, right, last))


def sm4_mac(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """SM4 CBC-MAC (16-byte key and blocks), padding method 2: the whole last block (JR/T 0025.2 MAC algorithm)."""
    _need("sm4_mac", key, 16)
    return _cbc_last(Algorithm.SM4, key, data, iv)


def mac(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """The 4-byte PBOC MAC under a card key: :func:`retail_mac_3des` for 3DES, :func:`sm4_mac` for SM4."""
    whole = retail_mac_3des(key, data, iv) if alg is Algorithm.TDES else sm4_mac(key, data, iv)
    return whole[:MAC_BYTES]


def session_mac(alg: Algorithm, session_key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """The 4-byte PBOC MAC under a session key: :func:`des_mac` for 3DES (8-byte session keys), :func:`sm4_mac`
    for SM4."""
    whole = des_mac(session_key, data, iv) if alg is Algorithm.TDES else sm4_mac(session_key, data, iv)
    return whole[:MAC_BYTES]


def verify_mac(alg: Algorithm, key: bytes, data: bytes, expected: bytes, iv: bytes | None = None) -> None:
    """Raise :class:`CryptoError` unless ``expected`` is the MAC of ``data`` (constant-time compare)."""
    if not hmac.compare_digest(mac(alg, key, data, iv), expected):
        raise CryptoError("MAC does not verify")


def verify_session_mac(alg: Algorithm, session_key: bytes, data: bytes, expected: bytes) -> None:
    """Raise :class:`CryptoError` unless ``expected`` is the :func:`session_mac` of ``data`` (constant time)."""
    if not hmac.compare_digest(session_mac(alg, session_key, data), expected):
        raise CryptoError("MAC does not verify")
