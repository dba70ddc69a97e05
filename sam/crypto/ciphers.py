"""Block ciphers: single DES, two- and three-key 3DES, and SM4, in ECB and CBC mode.

* 3DES/DES: ``cryptography``'s decrepit ``TripleDES`` (OpenSSL). A DES key ``k`` is run as 3DES ``k k k`` and a
  two-key key ``k1 k2`` as ``k1 k2 k1`` (crypto libraries, sources.md F2, des_mac.json "verified_with"). Keys with equal
  halves, such as the FMCOS transport key ``FF``×16 (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE), are accepted —
  pycryptodome refuses them.
* SM4: GB/T 32907-2016 through ``cryptography``'s ``algorithms.SM4``.

Inputs must be whole blocks: padding is the caller's decision (:mod:`sam.crypto.padding`).
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, modes
from cryptography.hazmat.primitives.ciphers.algorithms import SM4

from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.errors import CryptoError

__all__ = ["decrypt_cbc", "decrypt_ecb", "encrypt_cbc", "encrypt_ecb", "expand_des_key"]

_DES_KEY_LENGTHS = (8, 16, 24)


def expand_des_key(key: bytes) -> bytes:
    """Return the 24-byte EDE key for an 8-, 16- or 24-byte DES/3DES key."""
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise CryptoError(f"key: a DES/3DES key is 8, 16 or 24 bytes, not {len(key)}")


def _algorithm(alg: Algorithm, key: bytes) -> CipherAlgorithm:
    if alg is Algorithm.SM4:
        if len(key) != 16:
            raise CryptoError(f"key: an SM4 key is 16 bytes, not {len(key)}")
        return SM4(key)
    return TripleDES(expand_des_key(key))


def _check_blocks(alg: Algorithm, data: bytes, what: str = "data") -> None:
    size = block_size(alg)
    if len(data) % size:
        raise CryptoError(f"{what}: length {len(data)} is not a multiple of the {size}-byte block")


def _check_iv(alg: Algorithm, iv: bytes) -> None:
    if len(iv) != block_size(alg):
        raise CryptoError(f"iv: must be {block_size(alg)} bytes, not {len(iv)}")


def encrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """ECB-encrypt whole blocks.

    Example: GB/T 32907-2016 Example 1 (``sm4.json``).

    >>> from sam.crypto.algorithm import Algorithm
    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> encrypt_ecb(Algorithm.SM4, k, k).hex().upper()
    '681EDF34D206965E86B3E94F536E4246'
    """
    _check_blocks(alg, data)
    enc = Cipher(_algorithm(alg, key), modes.ECB()).encryptor()  # noqa: S305 - ECB is what the cards specify
    return enc.update(data) + enc.finalize()


def decrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """ECB-decrypt whole blocks."""
    _check_blocks(alg, data)
    dec = Cipher(_algorithm(alg, key), modes.ECB()).decryptor()  # noqa: S305
    return dec.update(data) + dec.finalize()


def encrypt_cbc(alg: Algorithm, key: bytes, data: bytes, iv: bytes) -> bytes:
    """CBC-encrypt whole blocks with the given IV."""
    _check_blocks(alg, data)
    _check_iv(alg, iv)
    enc = Cipher(_algorithm(alg, key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt_cbc(alg: Algorithm, key: bytes, data: bytes, iv: bytes) -> bytes:
    """CBC-decrypt whole blocks with the given IV."""
    _check_blocks(alg, data)
    _check_iv(alg, iv)
    dec = Cipher(_algorithm(alg, key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()
