"""GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, VERIFY, CHANGE / RELOAD PIN, PIN UNBLOCK.

Sources: ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE (FMCOS EXTERNAL AUTHENTICATE ``00 82 00 KID 08``, 63Cx / 6983 /
6984), JR/T 0025.1 PIN commands, WS/T 543.4 EXTERNAL AUTHENTICATE with docs/decisions.md D3 (the 17-byte
health-card form, told apart by Lc). Keys with an error counter lose one try per failure (persisted atomically) and get
all back on success; a key with no tries left answers 6983. Successful authentication sets the DF's security state to
the key's follow-up state (FMCOS 2.0 access rights, sources.md V1).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_length, require_p1p2
from apdu.fmcos import KeyType
from apdu.status import SW, tries_left
from healthcard.cos.sm import algorithm_of
from healthcard.fs.journal import PutKey, SetKeyTries
from healthcard.fs.keys import Key
from sam.crypto import (
    CryptoError,
    external_auth_cryptogram,
    health_auth_cryptogram,
    internal_auth_response,
    session_mac,
    sm_decrypt_data,
    tac_session_key,
    verify_sm_command,
)

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = [
    "change_or_reload_pin",
    "external_authenticate",
    "get_challenge",
    "internal_authenticate",
    "pin_unblock",
    "verify",
]

HEALTH_AUTH_LENGTH = 0x11


def _iso(cmd: Command) -> None:
    if cmd.cla & 0xF0:
        raise SwError(SW.CLA_NOT_SUPPORTED)


def _usable(card: VirtualCard, key: Key | None) -> Key:
    if key is None:
        raise SwError(SW.KEY_NOT_FOUND)
    if key.blocked:
        raise SwError(SW.AUTH_BLOCKED)
    card.need(key.use_right)
    return key


def _success(card: VirtualCard, key: Key, label: str) -> None:
    if key.counted and key.tries_left != key.max_tries:
        card.commit([SetKeyTries(card.df_path, key.key_type, key.key_id, key.max_tries)], label)
    if key.follow_state is not None:
        card.security = key.follow_state


def _failure(card: VirtualCard, key: Key, label: str) -> SwError:
    if not key.counted:
        return SwError(SW.VERIFICATION_FAILED)
    left = max(key.tries_left - 1, 0)
    card.commit([SetKeyTries(card.df_path, key.key_type, key.key_id, left)], label)
    return SwError(tries_left(left))


def get_challenge(card: VirtualCard, cmd: Command) -> bytes:
    """``00 84 00 00 Le`` with Le 4, 8 or 16: a fresh random number, remembered for the next command."""
    _iso(cmd)
    require_p1p2(cmd, 0, 0)
    le = cmd.le
    if cmd.data or le not in (4, 8, 16):
        raise SwError(SW.WRONG_LENGTH)
    card.challenge = card.rng(le)
    return card.challenge


def external_authenticate(card: VirtualCard, cmd: Command) -> bytes:
    """``00 82 00 KID Lc``: Lc 8/16 FMCOS cryptogram, Lc 17 health-card form (docs/decisions.md D3)."""
    _iso(cmd)
    if cmd.p1:
        raise SwError(SW.WRONG_P1P2)
    data = require_length(cmd, 8, 16, HEALTH_AUTH_LENGTH)
    kf = card.key_file()
    key = _usable(card, kf.find(KeyType.EXTERNAL_AUTH, cmd.p2))
    challenge = card.take_challenge()
    try:
        if len(data) == HEALTH_AUTH_LENGTH:
            expected = health_auth_cryptogram(key.value, challenge, data[8:16])
            given = data[:8]
        else:
            expected = external_auth_cryptogram(algorithm_of(kf.algorithm), key.value, challenge)
            given = data
    except CryptoError:
        expected, given = b"\x00", b"\x01"
    if not hmac.compare_digest(expected, given):
        raise _failure(card, key, "external-auth")
    _success(card, key, "external-auth")
    return b""


def internal_authenticate(card: VirtualCard, cmd: Command) -> bytes:
    """``00 88 00 KID Lc data``: the data encrypted with the internal key 34/KID (ISO/IEC 7816-4 EXTERNAL/INTERNAL
    AUTHENTICATE)."""
    _iso(cmd)
    kf = card.key_file()
    key = _usable(card, kf.find(KeyType.INTERNAL, cmd.p2))
    try:
        return internal_auth_response(algorithm_of(key.algorithm), key.value, cmd.data)
    except CryptoError as exc:
        raise SwError(SW.WRONG_LENGTH) from exc


def verify(card: VirtualCard, cmd: Command) -> bytes:
    """``00 20 00 KID Lc PIN``; without data it reports the tries left (``63Cx``)."""
    _iso(cmd)
    if cmd.p1:
        raise SwError(SW.WRONG_P1P2)
    data = cmd.data
    key = card.key_file().find(KeyType.PIN, cmd.p2)
    if key is None:
        raise SwError(SW.KEY_NOT_FOUND)
    if not data:
        raise SwError(tries_left(key.tries_left))
    key = _usable(card, key)
    if not hmac.compare_digest(data, key.value):
        raise _failure(card, key, "verify")
    _success(card, key, "verify")
    return b""


def _valid_pin(pin: bytes) -> bool:
    return 2 <= len(pin) <= 6 and all((b >> 4) <= 9 and (b & 0x0F) <= 9 for b in pin)


def _new_pin(card: VirtualCard, key: Key, pin: bytes, label: str) -> bytes:
    if not _valid_pin(pin):
        raise SwError(SW.DATA_INVALID)
    new = replace(key, value=pin, tries_left=key.max_tries)
    card.commit([PutKey(card.df_path, new)], label)
    return b""


def change_or_reload_pin(card: VirtualCard, cmd: Command) -> bytes:
    """``80 5E 01 KID old ‖ FF ‖ new`` (change) and ``80 5E 00 KID new ‖ MAC`` (reload), JR/T 0025.1 PIN commands

    The reload MAC is the DES MAC (IV 0) of the new PIN under ``L ⊕ R`` of the PIN-reload key 38/00. A wrong
    reload MAC costs the reload key one try (``63Cx``; ``6983`` once it has none left), as a wrong cryptogram
    costs an authentication key one: without the count the 4-byte MAC could be searched for (issue #11 item 8).
    """
    if cmd.cla & 0xF0 != 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    data = cmd.data
    kf = card.key_file()
    key = kf.find(KeyType.PIN, cmd.p2)
    if key is None:
        raise SwError(SW.KEY_NOT_FOUND)
    if cmd.p1 == 0x01:
        key = _usable(card, key)
        sep = data.find(b"\xff")
        if sep < 0:
            raise SwError(SW.DATA_INVALID)
        old, new = data[:sep], data[sep + 1 :]
        if not hmac.compare_digest(old, key.value):
            raise _failure(card, key, "change-pin")
        return _new_pin(card, key, new, "change-pin")
    if cmd.p1 == 0x00:
        reload_key = _usable(card, kf.find(KeyType.PIN_RELOAD, 0x00))
        if len(data) < 6:
            raise SwError(SW.WRONG_LENGTH)
        new, tag = data[:-4], data[-4:]
        try:
            alg = algorithm_of(reload_key.algorithm)
            expected = session_mac(alg, tac_session_key(alg, reload_key.value), new)
        except CryptoError:
            expected = b""
        if not hmac.compare_digest(expected, tag):
            raise _failure(card, reload_key, "reload-pin")
        _success(card, reload_key, "reload-pin")
        return _new_pin(card, key, new, "reload-pin")
    raise SwError(SW.WRONG_P1P2)


def pin_unblock(card: VirtualCard, cmd: Command) -> bytes:
    """``84 24 KID 00 Lc E(Ld ‖ PIN) ‖ MAC`` with the PIN-unblock key 37/00: restores the PIN's tries.

    A wrong MAC or cryptogram costs the unblock key one try (``63Cx``, then ``6983``), as for PIN RELOAD.
    """
    if cmd.cla != 0x84:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    kf = card.key_file()
    pin = kf.find(KeyType.PIN, cmd.p1)
    if pin is None:
        raise SwError(SW.KEY_NOT_FOUND)
    unblock = _usable(card, kf.find(KeyType.PIN_UNBLOCK, 0x00))
    challenge = card.take_challenge()
    alg = algorithm_of(kf.algorithm) if unblock.algorithm in (0, 0xFF) else algorithm_of(unblock.algorithm)
    try:
        body = verify_sm_command(alg, unblock.value, cmd, challenge)
        given = sm_decrypt_data(alg, unblock.value, body)
    except CryptoError:
        raise _failure(card, unblock, "pin-unblock") from None
    _success(card, unblock, "pin-unblock")
    if not hmac.compare_digest(given, pin.value):
        raise SwError(SW.DATA_INVALID)
    card.commit([SetKeyTries(card.df_path, pin.key_type, pin.key_id, pin.max_tries)], "pin-unblock")
    return b""
