"""Issuance commands: ERASE DF, CREATE FILE, WRITE KEY (FMCOS 2.0 base commands, sources.md V1, FMCOS 2.0 CREATE FILE,
sources.md V1, FMCOS 2.0 WRITE KEY, sources.md V1; docs/decisions.md D2).

CREATE FILE data by type byte (protection bits ``80``/``C0`` OR-ed into EF types):

* ``38`` DF: ``38 ‖ space(2) ‖ create right ‖ erase right ‖ app SFI ‖ FF FF ‖ DF name (5..16)``;
* ``3F`` key file: ``3F ‖ space(2) ‖ DF SFI ‖ add-key right ‖ algorithm ‖ scheme`` (``FF`` = 3DES / FMCOS);
* ``28`` binary: ``28 ‖ size(2) ‖ read ‖ write ‖ FF FF``;
* ``2A``/``2C``/``2E`` record: ``type ‖ count ‖ length ‖ read ‖ write ‖ FF FF``;
* in binary and record files the first ``FF`` is read as the *read protection* byte (project extension,
  docs/virtual-card.md): ``FF`` plain reads, ``80`` reads only with CLA ``04`` and a response MAC (JR/T 0025.1 secure
  messaging);
* ``2F`` purse: ``2F 02 08 ‖ use right ‖ 00 FF ‖ detail SFI`` (FID ``0001`` ED, ``0002`` EP).

Rights (FMCOS 2.0 access rights, sources.md V1; issue #11 item 1; docs/decisions.md D10): ERASE DF needs the current
DF's erase right, CREATE FILE its create right, WRITE KEY (add) its key file's add right and (replace) the key's change
right, always — with one exception, the *transport window* of a DF that was just created: while a DF has no key
file, creating its key file is free, and while that key file is empty, adding the DF master key 39/00 is free.
Issuance then authenticates with the new master key and goes on under the rights it gave the DF (the master key's
state). A DF whose key file holds any key never reopens, so an issued card has no free right left.

WRITE KEY ``80 D4 P1 KID``: P1 ``01`` adds (add-key right of the key file), otherwise P1 is the type of the key
to replace (its change right). Layouts by type: ``39`` use ‖ change ‖ follow-up state ‖ error counter ‖ key;
``3A`` use ‖ ``EF`` ‖ follow-up state ‖ error counter ‖ PIN; ``36``-``38`` use ‖ change ‖ ``FF`` ‖ error counter
‖ key; ``30``-``32``, ``34``, ``3C``-``3F`` use ‖ change ‖ version ‖ algorithm ‖ key.

WRITE KEY in ciphertext ``84 D4 P1 KID Lc E(Ld ‖ key data) ‖ MAC`` (JR/T 0025.1 secure messaging "FMCOS ciphertext + MAC
keys", FMCOS 2.0 WRITE KEY, sources.md V1): the same key data, line-encrypted (ECB, ``80`` padding) under the current
DF's master key 39/00, then
MAC'd with it (IV = the last challenge ‖ ``00``..; MAC over ``84 D4 P1 KID Lc'`` ‖ ciphertext). A type byte with
the two high bits set (``39`` → ``F9``, and P1 = ``F9`` to replace) writes a *protected* key: such keys can be
added or replaced only this way, a plain ``80 D4`` gets 6987. Wrong MAC or cryptogram: 6988.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_no_data, require_p1p2
from apdu.fmcos import FileType, KeyType, Protection, Scheme
from apdu.status import SW
from healthcard.cos.sm import algorithm_of
from healthcard.fs.journal import EraseDF, PutKey, PutKeyFile, PutNode
from healthcard.fs.keys import Key, KeyFile
from healthcard.fs.nodes import DF, EF, MF_FID, PurseEF, RecordEF, TransparentEF
from sam.crypto import CryptoError, sm_decrypt_data, verify_sm_command

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["create_file", "erase_df", "parse_key", "write_key"]

_NEVER = 0xEF
_READ_MAC = 0x80  # read-protection byte of CREATE FILE: reads need CLA 04 + response MAC
_PROTECTED = 0xC0  # high bits of a WRITE KEY type byte: ciphertext + MAC only (JR/T 0025.1 secure messaging)
_COUNTED = (0x36, 0x37, 0x38, 0x39, 0x3A)
_PLAIN = (0x30, 0x31, 0x32, 0x34, 0x3C, 0x3D, 0x3E, 0x3F)


def _proprietary(cmd: Command) -> None:
    if cmd.cla != 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)


def erase_df(card: VirtualCard, cmd: Command) -> bytes:
    """``80 0E 00 00 00``: erase every file and the key file under the current DF (its erase right)."""
    _proprietary(cmd)
    require_p1p2(cmd, 0, 0)
    require_no_data(cmd)
    card.need(card.df.erase_right)
    card.commit([EraseDF(card.df_path)], "erase-df")
    card.ef = None
    return b""


def _ef(fid: int, data: bytes) -> EF:
    if len(data) != 7:
        raise SwError(SW.WRONG_LENGTH)
    if data[0] & 0xC0 == 0x40:  # protection bits are 00, 80 or C0 (FMCOS 2.0 CREATE FILE, sources.md V1)
        raise SwError(SW.DATA_INVALID)
    kind, sm = data[0] & 0x3F, Protection(data[0] & 0xC0)
    read_sm = Protection.MAC if data[5] == _READ_MAC else Protection.NONE
    if kind == FileType.BINARY:
        size = int.from_bytes(data[1:3], "big")
        if not size:
            raise SwError(SW.DATA_INVALID)
        return TransparentEF(fid, data[3], data[4], sm, read_sm, size=size)
    if kind in (FileType.LINEAR_FIXED, FileType.LINEAR_VARIABLE, FileType.CYCLIC):
        count, length = data[1], data[2]
        if not count or not length:
            raise SwError(SW.DATA_INVALID)
        structure = FileType(kind)
        records = [bytes(length)] * count if structure is FileType.LINEAR_FIXED else []
        return RecordEF(fid, data[3], data[4], sm, read_sm, structure=structure, count=count, length=length,
                        records=records)  # fmt: skip
    if kind == FileType.PURSE and data[1:3] == b"\x02\x08":
        return PurseEF(fid, data[3], _NEVER, detail_sfi=data[6] & 0x1F)
    raise SwError(SW.DATA_INVALID)


def create_file(card: VirtualCard, cmd: Command) -> bytes:
    """``80 E0 FID Lc data`` under the current DF (its create right)."""
    _proprietary(cmd)
    fid = (cmd.p1 << 8) | cmd.p2
    data = cmd.data
    if not data:
        raise SwError(SW.WRONG_LENGTH)
    df = card.df
    if data[0] == 0x3F:
        if len(data) != 7:
            raise SwError(SW.WRONG_LENGTH)
        if df.key_file is not None:
            raise SwError(SW.FILE_EXISTS)
        # transport window: a DF without a key file takes its key file freely (module docstring)
        alg = 0x00 if data[5] == 0xFF else data[5]
        scheme = Scheme(data[6]) if data[6] in (0x00, 0x01) else Scheme.FMCOS
        kf = KeyFile(fid, int.from_bytes(data[1:3], "big"), data[3], data[4], alg, scheme)
        card.commit([PutKeyFile(card.df_path, kf)], "create-key-file")
        return b""
    card.need(df.create_right)
    if fid in df.children or fid == MF_FID:
        raise SwError(SW.FILE_EXISTS)
    if data[0] == 0x38:
        name = data[8:]
        if not 5 <= len(name) <= 16 or len(data) < 8:
            raise SwError(SW.WRONG_LENGTH)
        if any(d.name == name for d in _all_dfs(card.state.mf)):
            raise SwError(SW.DF_NAME_EXISTS)
        node: DF | EF = DF(fid, name, create_right=data[3], erase_right=data[4], app_sfi=data[5])
    else:
        node = _ef(fid, data)
    card.commit([PutNode(card.df_path, node)], "create-file")
    return b""


def _all_dfs(df: DF) -> list[DF]:
    out = [df]
    for child in df.children.values():
        if isinstance(child, DF):
            out.extend(_all_dfs(child))
    return out


def parse_key(p1: int, kid: int, data: bytes, df_algorithm: int) -> Key:
    """The key described by a WRITE KEY data field (raises ``SwError`` 6700 / 6A80).

    A type byte with both high bits set (``F9``) gives a ``protected`` key of the plain type (``39``).
    """
    if len(data) < 7:
        raise SwError(SW.WRONG_LENGTH)
    t, use, change = data[0] & 0x3F, data[1], data[2]
    protected = data[0] & _PROTECTED == _PROTECTED
    if data[0] & _PROTECTED not in (0, _PROTECTED) or p1 not in (0x01, data[0]):
        raise SwError(SW.DATA_INVALID)
    value = data[5:]
    if t == 0x3A:
        if not 2 <= len(value) <= 8:
            raise SwError(SW.WRONG_LENGTH)
    elif len(value) not in ((16,) if df_algorithm == 0x04 else (8, 16)):
        raise SwError(SW.WRONG_LENGTH)
    if t in _COUNTED:
        counter = data[4]
        follow = data[3] & 0x0F if t in (0x39, 0x3A) else None
        tries = (counter >> 4, min(counter & 0x0F, counter >> 4))
        return Key(t, kid, use, change, value, follow, 0, df_algorithm, tries[0], tries[1], protected)
    if t in _PLAIN:
        return Key(t, kid, use, change, value, None, data[3], data[4], protected=protected)
    raise SwError(SW.DATA_INVALID)


def _transport_window(kf: KeyFile, key: Key) -> bool:
    """True when ``key`` is the master key 39/00 and the key file holds no key yet (the module docstring)."""
    return not kf.keys and (key.key_type, key.key_id) == (KeyType.EXTERNAL_AUTH, 0x00)


def _ciphertext_key_data(card: VirtualCard, kf: KeyFile, cmd: Command) -> bytes:
    """Verify the MAC of ``84 D4`` and decrypt its key data with the DF master key 39/00 (JR/T 0025.1 secure
    messaging)."""
    master = kf.find(KeyType.EXTERNAL_AUTH, 0x00)
    if master is None:
        raise SwError(SW.KEY_NOT_FOUND)
    card.need(master.use_right)
    challenge = card.take_challenge()
    alg = algorithm_of(kf.algorithm)
    try:
        body = verify_sm_command(alg, master.value, cmd, challenge)
        return sm_decrypt_data(alg, master.value, body)
    except CryptoError as exc:
        raise SwError(SW.SM_OBJECTS_WRONG) from exc


def write_key(card: VirtualCard, cmd: Command) -> bytes:
    """``80 D4 P1 KID Lc data`` (plain) or ``84 D4 P1 KID Lc E(data) ‖ MAC``: add (P1 = 01) or replace (P1 = key
    type) a key of the current DF."""
    cla, p1, kid = cmd.cla, cmd.p1, cmd.p2
    if cla not in (0x80, 0x84):
        raise SwError(SW.CLA_NOT_SUPPORTED)
    kf = card.df.key_file
    if kf is None:
        raise SwError(SW.FILE_NOT_FOUND)
    ciphered = cla == 0x84
    data = _ciphertext_key_data(card, kf, cmd) if ciphered else cmd.data
    key = parse_key(p1, kid, data, kf.algorithm)
    existing = kf.find(key.key_type, kid)
    if not ciphered and (key.protected or (existing is not None and existing.protected and p1 != 0x01)):
        raise SwError(SW.SM_OBJECTS_MISSING)
    if p1 == 0x01:
        if not _transport_window(kf, key):
            card.need(kf.add_right)
        if existing is not None:
            raise SwError(SW.FILE_EXISTS)
    else:
        if existing is None:
            raise SwError(SW.KEY_NOT_FOUND)
        card.need(existing.change_right)
    card.commit([PutKey(card.df_path, key)], "write-key")
    return b""
