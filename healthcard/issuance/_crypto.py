"""Issuer-side card cryptography used while personalising (docs/decisions.md D1-D3, pboc-purse.md §6-§7,
health-card.md §6).

Interim: these primitives belong to ``sam.crypto`` (diversify_3des / diversify_sm4, session keys, secure
messaging), which is being written in parallel; switch the imports when it lands. Nothing here logs or
formats key bytes.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "diversify_3des",
    "diversify_sm4",
    "fmcos_cryptogram",
    "health_cryptogram",
    "health_session_key",
    "health_sm_wrap",
]


def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def _sm4_ecb(key: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - ECB is the card's algorithm
    return enc.update(data) + enc.finalize()


def _tdes_ecb(key: bytes, data: bytes) -> bytes:
    if len(key) != 16:
        raise ValueError("a 16-byte two-key 3DES key is required")
    enc = Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(data) + enc.finalize()


def _pad(data: bytes, block: int) -> bytes:
    data += b"\x80"
    return data + b"\x00" * (-len(data) % block)


def diversify_3des(master: bytes, factor: bytes) -> bytes:
    """``3DES(MK, F) ‖ 3DES(MK, ~F)`` (pboc-purse.md §6.1)."""
    return _tdes_ecb(master, factor) + _tdes_ecb(master, _not(factor))


def diversify_sm4(master: bytes, factor: bytes) -> bytes:
    """``SM4(MK, F ‖ ~F)`` (pboc-purse.md §6.2)."""
    return _sm4_ecb(master, factor + _not(factor))


def fmcos_cryptogram(key: bytes, challenge: bytes) -> bytes:
    """FMCOS EXTERNAL AUTHENTICATE: ``3DES_ECB(key, challenge ‖ 00…)`` (pboc-purse.md §7.2)."""
    return _tdes_ecb(key, challenge.ljust(8, b"\x00")[:8])


def health_session_key(card_key: bytes, challenge: bytes) -> bytes:
    """``SK = SM4_ECB(K, challenge ‖ ~challenge)`` (docs/decisions.md D1)."""
    return _sm4_ecb(card_key, challenge + _not(challenge))


def health_cryptogram(card_key: bytes, challenge: bytes, terminal_data: bytes) -> bytes:
    """XOR of the halves of ``SM4_ECB(SK, terminal data ‖ 00×8)`` (health-card.md §6.1)."""
    block = _sm4_ecb(health_session_key(card_key, challenge), terminal_data + b"\x00" * 8)
    return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))


def health_sm_wrap(stk: bytes, challenge: bytes, header: bytes, plain: bytes) -> bytes:
    """Encrypted ``L ‖ data`` + 4-byte MAC of a health-card SM write (health-card.md §6.2).

    ``header`` is ``CLA' INS P1 P2`` (CLA with bit 04 set). Padding is always ``80 00…`` to 16 bytes; the MAC is
    SM4 CBC-MAC (IV 16×00) over ``header ‖ Lc' ‖ ciphertext`` padded the same way, left 4 bytes.
    """
    sk = health_session_key(stk, challenge)
    cipher = _sm4_ecb(sk, _pad(bytes((len(plain),)) + plain, 16))
    mac_input = _pad(header + bytes((len(cipher) + 4,)) + cipher, 16)
    enc = Cipher(algorithms.SM4(sk), modes.CBC(b"\x00" * 16)).encryptor()
    mac = (enc.update(mac_input) + enc.finalize())[-16:][:4]
    return cipher + mac
