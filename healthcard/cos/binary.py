"""READ BINARY / UPDATE BINARY (ISO/IEC 7816-4 §11.2.3, §11.2.5; FMCOS 2.0 access rights, sources.md V1 rights).

P1 bit 8 set: SFI in P1 bits 1-5 and the offset in P2 (``00 B0 95 00 1E`` reads EF15 of the purse ADF; the EF
becomes current); otherwise a 15-bit offset of the current EF. Le ``00`` reads up to 256 bytes (to the end of
the file); a larger explicit Le than the bytes left gives ``6Cxx``. Reads check the file's read right and its
read secure-messaging requirement (CLA ``04``: data ‖ response MAC, JR/T 0025.1 secure messaging), writes its write
right and secure-messaging requirement; a write commits atomically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_no_data
from apdu.status import SW, wrong_le
from healthcard.cos.sm import MAX_SM_READ, mac_response, unwrap_write
from healthcard.fs.journal import WriteBinary
from healthcard.fs.nodes import EF, TransparentEF

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["read_binary", "target_ef", "update_binary"]


def target_ef(card: VirtualCard, sfi: int) -> EF:
    """The EF addressed by ``sfi`` (made current) or the current EF when ``sfi`` is 0."""
    if sfi:
        ef = card.df.by_sfi(sfi)
        if ef is None:
            raise SwError(SW.FILE_NOT_FOUND)
        card.ef = ef
        return ef
    cur = card.ef
    if cur is None:
        raise SwError(SW.COMMAND_NOT_ALLOWED)
    return cur


def read_binary(card: VirtualCard, cmd: Command) -> bytes:
    """``00 B0 P1 P2 Le`` — the hot path: no exceptions on success. Other forms: see :func:`_read_other`."""
    p1 = cmd.p1
    ef: EF | None
    if p1 & 0x80:
        ef = target_ef(card, p1 & 0x1F)
        offset = cmd.p2
    else:
        ef = card.ef
        if ef is None:
            raise SwError(SW.COMMAND_NOT_ALLOWED)
        offset = (p1 << 8) | cmd.p2
    if type(ef) is not TransparentEF:
        raise SwError(SW.INCOMPATIBLE_FILE)
    right = ef.read
    if not (right & 0x0F) <= card.security <= (right >> 4):
        raise SwError(SW.SECURITY_NOT_SATISFIED)
    if cmd.cla or cmd.data or cmd.extended or ef.read_sm:
        return _read_other(card, cmd, ef, offset)
    return _slice(ef, offset, cmd.le or 256, 256)


def _slice(ef: TransparentEF, offset: int, le: int, most: int) -> bytes:
    """``le`` bytes from ``offset`` (256 = up to ``most`` bytes to the end); 6B00, 6700 or 6Cxx otherwise."""
    size = ef.size
    if offset >= size:
        raise SwError(SW.WRONG_OFFSET)
    if le == 256:
        return ef.data[offset : min(size, offset + most)]
    if le > most:
        raise SwError(SW.WRONG_LENGTH)
    if offset + le > size:
        raise SwError(wrong_le(size - offset))
    return ef.data[offset : offset + le]


def _read_other(card: VirtualCard, cmd: Command, ef: TransparentEF, offset: int) -> bytes:
    """Every READ BINARY form but the plain short one: CLA ``04`` with a response MAC (JR/T 0025.1 secure
    messaging), extended Le, a data field (6700), a file whose reads need SM.

    A file whose reads need SM (``read_sm``) answers a plain read with 6987. With CLA ``04``, Le counts the data
    bytes (the 4-byte MAC comes on top); Le ``00`` reads at most :data:`~healthcard.cos.sm.MAX_SM_READ` bytes.
    """
    cla = cmd.cla
    if cla & 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    ne = cmd.le or 256
    if not cla & 0x04:
        require_no_data(cmd)
        if ef.read_sm:
            raise SwError(SW.SM_OBJECTS_MISSING)
        return _slice(ef, offset, ne, 256)
    return mac_response(card, cmd, _slice(ef, offset, ne, MAX_SM_READ))


def update_binary(card: VirtualCard, cmd: Command) -> bytes:
    """``00/04 D6 P1 P2 Lc data`` (plain, MAC or MAC + encryption as the file requires)."""
    if cmd.cla & 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    p1 = cmd.p1
    if p1 & 0x80:
        ef = target_ef(card, p1 & 0x1F)
        offset = cmd.p2
    else:
        ef = target_ef(card, 0)
        offset = (p1 << 8) | cmd.p2
    if not isinstance(ef, TransparentEF):
        raise SwError(SW.INCOMPATIBLE_FILE)
    card.need(ef.write)
    data = unwrap_write(card, cmd, ef.sm)
    if not data:
        raise SwError(SW.WRONG_LENGTH)
    if offset >= ef.size:
        raise SwError(SW.WRONG_OFFSET)
    if offset + len(data) > ef.size:
        raise SwError(SW.NOT_ENOUGH_SPACE)
    card.commit([WriteBinary((*card.df_path, ef.fid), offset, data)], "update-binary")
    return b""
