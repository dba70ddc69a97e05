"""Secure-messaging verification of write commands, in the two forms of docs/decisions.md D2.

* FMCOS (JR/T 0025.1 secure messaging): CLA bit ``04``; MAC = PBOC MAC over ``CLA' INS P1 P2 Lc'`` ‖ data with the
  card's
  last challenge as IV, key = the DF's line-protection key (type 36) or its master key (39/00); files created with
  ``C0`` carry ``E(Ld ‖ data ‖ pad)`` under the same key.
* Resident health card (WS/T 543.4 SM UPDATE RECORD): session key ``SM4(STK, ch ‖ ~ch)`` from the last 8-byte challenge;
  ``SM4_ECB(SK, pad80(L ‖ data))`` ‖ SM4 CBC-MAC (IV 0) over ``CLA' INS P1 P2 Lc'`` ‖ ciphertext.

A file created with protection bits refuses plain writes (6987); a wrong MAC or cryptogram gives 6988. The
challenge is consumed by every verification, right or wrong.

Reads with CLA ``04`` (FMCOS scheme only; JR/T 0025.1 secure messaging "Response MAC"): the answer is
``data ‖ MAC ‖ SW`` with the MAC over the returned data, IV = the last challenge right-padded with ``00``, same key as
for commands. The command may carry its own MAC (``04 B0 P1 P2 04 MAC [Le]``, MAC over ``04 B0 P1 P2 04``), which
is checked with the same challenge. The health-card scheme defines no response MAC: 6882 there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.fmcos import KeyType, Protection, Scheme
from apdu.status import SW
from healthcard.fs.keys import Key, KeyFile
from sam.crypto import (
    Algorithm,
    CryptoError,
    health_session_key,
    health_sm_unwrap,
    mac,
    sm_decrypt_data,
    verify_mac,
    verify_sm_command,
)

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["MAX_SM_READ", "algorithm_of", "mac_response", "sm_key", "unwrap_write", "verify_command_mac"]

MAX_SM_READ = 252  # data bytes of a MAC'd read: data ‖ MAC(4) fits a short response (256 bytes)


def algorithm_of(code: int) -> Algorithm:
    """The card's 算法标识 byte as :class:`sam.crypto.Algorithm` (``04`` SM4, anything else 3DES)."""
    return Algorithm.SM4 if code == 0x04 else Algorithm.TDES


def sm_key(card: VirtualCard, kf: KeyFile) -> Key:
    """The DF's secure-messaging key: a type-36 key, else the DF master key 39/00 (JR/T 0025.1 secure messaging)."""
    key = kf.first_of_type(KeyType.LINE_PROTECTION) or kf.find(KeyType.EXTERNAL_AUTH, 0x00)
    if key is None:
        raise SwError(SW.KEY_NOT_FOUND)
    card.need(key.use_right)
    return key


def verify_command_mac(card: VirtualCard, cmd: Command) -> bytes:
    """Check the MAC of a MAC-protected command (no encryption) and return its data without the MAC."""
    kf = card.key_file()
    key = sm_key(card, kf)
    challenge = card.take_challenge()
    data = cmd.data
    try:
        if kf.scheme is Scheme.HEALTH:
            if len(data) < 4:
                raise SwError(SW.SM_OBJECTS_WRONG)
            body, tag = data[:-4], data[-4:]
            sk = health_session_key(key.value, challenge)
            verify_mac(Algorithm.SM4, sk, cmd.header + bytes((len(data),)) + body, tag)
            return body
        return verify_sm_command(algorithm_of(kf.algorithm), key.value, cmd, challenge)
    except CryptoError as exc:
        raise SwError(SW.SM_OBJECTS_WRONG) from exc


def unwrap_write(card: VirtualCard, cmd: Command, requirement: Protection) -> bytes:
    """The plain data of a write command, verifying and decrypting secure messaging when CLA bit 04 is set."""
    if not cmd.cla & 0x04:
        if requirement is not Protection.NONE:
            raise SwError(SW.SM_OBJECTS_MISSING)
        return cmd.data
    if requirement is not Protection.ENC_MAC:
        return verify_command_mac(card, cmd)
    kf = card.key_file()
    key = sm_key(card, kf)
    challenge = card.take_challenge()
    try:
        if kf.scheme is Scheme.HEALTH:
            return health_sm_unwrap(key.value, challenge, cmd.header, cmd.data)
        alg = algorithm_of(kf.algorithm)
        body = verify_sm_command(alg, key.value, cmd, challenge)
        return sm_decrypt_data(alg, key.value, body)
    except CryptoError as exc:
        raise SwError(SW.SM_OBJECTS_WRONG) from exc


def mac_response(card: VirtualCard, cmd: Command, data: bytes) -> bytes:
    """``data ‖ MAC`` for a CLA-04 read; checks the command's own MAC when it has one (see the module docstring)."""
    kf = card.key_file()
    if kf.scheme is not Scheme.FMCOS:
        raise SwError(SW.SM_NOT_SUPPORTED)
    body = cmd.data
    if body and len(body) != 4:
        raise SwError(SW.WRONG_LENGTH)
    key = sm_key(card, kf)
    challenge = card.take_challenge()
    alg = algorithm_of(kf.algorithm)
    try:
        if body:
            verify_sm_command(alg, key.value, cmd, challenge)
        return data + mac(alg, key.value, data, challenge)
    except CryptoError as exc:
        raise SwError(SW.SM_OBJECTS_WRONG) from exc
