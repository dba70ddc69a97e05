"""Resident Health Card cryptography (WS/T 543.4 keys, commands; docs/decisions.md D1).

* Card keys are SM4 and stored on the card already diversified: one level ``div(MK, cardNo)``, two levels
  ``div(div(MK, city), cardNo)`` (D1: the most general factor first).
* Session key per authentication: ``SK = SM4_ECB(K, challenge ‖ ~challenge)`` with the card's 8-byte challenge.
* EXTERNAL AUTHENTICATE cryptogram (WS/T 543.4 EXTERNAL AUTHENTICATE): ``E = SM4_ECB(SK, terminal data(8) ‖ 00×8)``,
  cryptogram = left half
  XOR right half of ``E`` (8 bytes).
* Secure-messaging write (WS/T 543.4 SM UPDATE RECORD): ``SM4_ECB(SK, pad80(L ‖ data, 16))`` followed by a 4-byte SM4
  CBC-MAC (IV zero)
  over ``CLA' INS P1 P2 Lc'`` ‖ ciphertext, padded the same way.
"""

from __future__ import annotations

from sam.crypto.algorithm import Algorithm
from sam.crypto.ciphers import decrypt_ecb, encrypt_ecb
from sam.crypto.diversify import diversify, invert
from sam.crypto.errors import CryptoError
from sam.crypto.mac import MAC_BYTES, mac, verify_mac
from sam.crypto.padding import pad80, unpad80

__all__ = [
    "health_auth_cryptogram",
    "health_card_key",
    "health_session_key",
    "health_sm_unwrap",
    "health_sm_wrap",
]


def health_card_key(master_key: bytes, card_number: bytes, city_factor: bytes | None = None) -> bytes:
    """The card's SM4 key diversified from ``master_key`` (one level, or two with ``city_factor`` first)."""
    key = master_key if city_factor is None else diversify(Algorithm.SM4, master_key, city_factor)
    return diversify(Algorithm.SM4, key, card_number)


def health_session_key(card_key: bytes, challenge: bytes) -> bytes:
    """``SM4_ECB(K, challenge ‖ ~challenge)`` for the card's 8-byte challenge."""
    if len(challenge) != 8:
        raise CryptoError(f"challenge: the health card's challenge is 8 bytes, not {len(challenge)}")
    return encrypt_ecb(Algorithm.SM4, card_key, challenge + invert(challenge))


def health_auth_cryptogram(card_key: bytes, challenge: bytes, terminal_data: bytes) -> bytes:
    """The 8-byte EXTERNAL AUTHENTICATE cryptogram of WS/T 543.4 EXTERNAL AUTHENTICATE"""
    if len(terminal_data) != 8:
        raise CryptoError(f"terminal_data: 8 bytes expected, not {len(terminal_data)}")
    block = encrypt_ecb(Algorithm.SM4, health_session_key(card_key, challenge), terminal_data + bytes(8))
    return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))


def _mac_input(header: bytes, cipher: bytes) -> bytes:
    if len(header) != 4:
        raise CryptoError(f"header: CLA INS P1 P2 is 4 bytes, not {len(header)}")
    if len(cipher) + MAC_BYTES > 255:
        raise CryptoError("data: too long for a short secure-messaging command (Lc' is one byte)")
    return header + bytes((len(cipher) + MAC_BYTES,)) + cipher


def health_sm_wrap(card_key: bytes, challenge: bytes, header: bytes, plain: bytes) -> bytes:
    """The data field of a secure-messaging write: ciphertext ‖ MAC (WS/T 543.4 SM UPDATE RECORD). ``header`` has CLA
    bit 04 set."""
    if len(plain) > 255 - 16 - MAC_BYTES:
        raise CryptoError("data: too long for one secure-messaging command")
    sk = health_session_key(card_key, challenge)
    cipher = encrypt_ecb(Algorithm.SM4, sk, pad80(bytes((len(plain),)) + plain, 16))
    return cipher + mac(Algorithm.SM4, sk, _mac_input(header, cipher))


def health_sm_unwrap(card_key: bytes, challenge: bytes, header: bytes, body: bytes) -> bytes:
    """Card side of :func:`health_sm_wrap`: verify the MAC, decrypt, and return the plaintext."""
    if len(body) < 16 + MAC_BYTES or (len(body) - MAC_BYTES) % 16:
        raise CryptoError("data: not a ciphertext of whole 16-byte blocks followed by a 4-byte MAC")
    sk = health_session_key(card_key, challenge)
    cipher, tag = body[:-MAC_BYTES], body[-MAC_BYTES:]
    verify_mac(Algorithm.SM4, sk, _mac_input(header, cipher), tag)
    plain = unpad80(decrypt_ecb(Algorithm.SM4, sk, cipher))
    if not plain or plain[0] != len(plain) - 1:
        raise CryptoError("data: the length byte does not match the decrypted data")
    return plain[1:]
