"""FMCOS / PBOC secure messaging (线路保护 and 线路加密), JR/T 0025.1 secure messaging

* MAC protection: CLA bit ``04`` set; the MAC input is ``CLA' INS P1 P2 Lc'`` ‖ data with ``Lc' = len(data) + 4``;
  the IV is the card's challenge right-padded with ``00``; the left 4 MAC bytes are appended to the data.
* Encryption: ``Ld ‖ data`` padded with ``80 00..`` and ECB-encrypted under the same kind of key; the MAC is then
  computed over the ciphertext. Mainstream code pads only when ``Ld ‖ data`` is not block-aligned; klks always
  pads. ``pad_always`` chooses (regression.json ``reg-line-encryption-padding``); the project default is
  pad-if-needed (docs/decisions.md).
"""

from __future__ import annotations

from apdu.command import Command
from apdu.errors import ApduFormatError
from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.ciphers import decrypt_ecb, encrypt_ecb
from sam.crypto.errors import CryptoError
from sam.crypto.mac import MAC_BYTES, mac, verify_mac
from sam.crypto.padding import pad80, pad80_if_needed

__all__ = [
    "sm_decrypt_data",
    "sm_encrypt_and_mac_command",
    "sm_encrypt_data",
    "sm_mac_command",
    "verify_sm_command",
]


def _mac_input(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    if len(data) + MAC_BYTES > 255:
        raise CryptoError("data: too long for a short secure-messaging command (Lc' is one byte)")
    return bytes((cla, ins, p1, p2, len(data) + MAC_BYTES)) + data


def sm_mac_command(alg: Algorithm, key: bytes, command: Command, challenge: bytes) -> Command:
    """Return ``command`` with CLA bit 04 set and the 4-byte MAC appended to its data."""
    cla = command.cla | 0x04
    if len(command.data) + MAC_BYTES > 255:
        raise CryptoError("data: too long for a short secure-messaging command")
    tag = mac(alg, key, _mac_input(cla, command.ins, command.p1, command.p2, command.data), challenge)
    return Command(cla, command.ins, command.p1, command.p2, command.data + tag, command.le, redact=command.redact)


def sm_encrypt_data(alg: Algorithm, key: bytes, data: bytes, *, pad_always: bool = False) -> bytes:
    """Encrypt ``Ld ‖ data`` (line encryption)."""
    if len(data) > 255:
        raise CryptoError("data: at most 255 bytes can be line-encrypted")
    plain = bytes((len(data),)) + data
    size = block_size(alg)
    return encrypt_ecb(alg, key, pad80(plain, size) if pad_always else pad80_if_needed(plain, size))


def sm_decrypt_data(alg: Algorithm, key: bytes, cryptogram: bytes) -> bytes:
    """Decrypt a line-encrypted field and return ``data`` (``Ld`` checked against the plaintext)."""
    plain = decrypt_ecb(alg, key, cryptogram)
    length = plain[0] if plain else 0
    if not plain or 1 + length > len(plain):
        raise CryptoError("cryptogram: the length byte does not match the decrypted data")
    return plain[1 : 1 + length]


def sm_encrypt_and_mac_command(
    alg: Algorithm, enc_key: bytes, mac_key: bytes, command: Command, challenge: bytes, *, pad_always: bool = False
) -> Command:
    """Encrypt the command data, then MAC-protect the command."""
    cryptogram = sm_encrypt_data(alg, enc_key, command.data, pad_always=pad_always)
    encrypted = Command(command.cla, command.ins, command.p1, command.p2, cryptogram, command.le, redact=command.redact)
    return sm_mac_command(alg, mac_key, encrypted, challenge)


def verify_sm_command(alg: Algorithm, key: bytes, apdu: bytes | Command, challenge: bytes) -> bytes:
    """Check the MAC of a secure-messaging command APDU (card side) and return its data without the MAC.

    ``apdu`` is the command as sent, or as the card's engine already parsed it (:mod:`apdu.engine`).
    """
    if isinstance(apdu, Command):
        command = apdu
    else:
        try:
            command = Command.decode(apdu)
        except ApduFormatError as exc:
            raise CryptoError(f"command: {exc.message}") from exc
    if len(command.data) < MAC_BYTES:
        raise CryptoError("command: no room for a MAC in the data field")
    body, tag = command.data[:-MAC_BYTES], command.data[-MAC_BYTES:]
    verify_mac(alg, key, _mac_input(command.cla, command.ins, command.p1, command.p2, body), tag, challenge)
    return body
