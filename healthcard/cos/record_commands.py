"""Record commands: READ RECORD, UPDATE RECORD, APPEND RECORD, and the DF03 index forms WRITE RECORD / ERASE RECORD.

Sources: ISO/IEC 7816-4 §11.3; WS/T 543.3 record addressing (``00 B2 rec 04`` by number, ``00 B2 tag 00`` by identifier
= first byte of the record), WS/T 543.3 cyclic files (cyclic files: ``00 DC 00 03`` writes a new record that becomes
record 1),
WS/T 543.4 SM UPDATE RECORD (``04 DC rec 04`` SM update), docs/decisions.md D4 (``84 D2 rec 04`` sets an index record to
``00``, ``84 0C rec 04`` to ``FF``, without data and without MAC). P2 bits 4-8 carry an SFI (0 = current EF).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_no_data
from apdu.fmcos import FileType
from apdu.status import SW, wrong_le
from healthcard.cos.binary import target_ef
from healthcard.cos.sm import MAX_SM_READ, mac_response, unwrap_write
from healthcard.fs.journal import SetRecords
from healthcard.fs.nodes import RecordEF

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["append_record", "erase_record", "read_record", "update_record", "write_record"]


def _record_ef(card: VirtualCard, p2: int) -> RecordEF:
    ef = target_ef(card, p2 >> 3)
    if not isinstance(ef, RecordEF):
        raise SwError(SW.INCOMPATIBLE_FILE)
    return ef


def _number(ef: RecordEF, p1: int) -> int:
    if not 1 <= p1 <= len(ef.records):
        raise SwError(SW.RECORD_NOT_FOUND)
    return p1 - 1


def _check_length(ef: RecordEF, data: bytes) -> None:
    if ef.structure is FileType.LINEAR_VARIABLE:
        if not 1 <= len(data) <= ef.length:
            raise SwError(SW.WRONG_LENGTH)
    elif len(data) != ef.length:
        raise SwError(SW.WRONG_LENGTH)


def _store(card: VirtualCard, ef: RecordEF, records: list[bytes], label: str) -> bytes:
    card.commit([SetRecords((*card.df_path, ef.fid), tuple(records))], label)
    return b""


def read_record(card: VirtualCard, cmd: Command) -> bytes:
    """``00 B2 P1 P2 Le``: P2 low bits ``100`` = record P1, ``000`` = first record whose identifier is P1.

    CLA ``04`` answers ``record ‖ MAC`` (JR/T 0025.1 secure messaging response MAC,
    :func:`healthcard.cos.sm.mac_response`); a file whose reads need SM answers a plain read with 6987.
    """
    if cmd.cla & 0xF0:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    p1, p2 = cmd.p1, cmd.p2
    ef = _record_ef(card, p2)
    card.need(ef.read)
    sm = cmd.cla & 0x04
    data, le = cmd.data, cmd.le
    if data and not (sm and len(data) == 4):
        raise SwError(SW.WRONG_LENGTH)
    if ef.read_sm and not sm:
        raise SwError(SW.SM_OBJECTS_MISSING)
    mode = p2 & 0x07
    if mode == 0x04:
        if p1 == 0:
            raise SwError(SW.WRONG_P1P2)
        record = ef.records[_number(ef, p1)]
    elif mode == 0x00:
        record = next((r for r in ef.records if r[:1] == bytes((p1,))), b"")
        if not record:
            raise SwError(SW.RECORD_NOT_FOUND)
    else:
        raise SwError(SW.WRONG_P1P2)
    if le is not None and le != 256 and le != len(record):
        raise SwError(wrong_le(len(record)))
    if sm:
        if len(record) > MAX_SM_READ:
            raise SwError(SW.WRONG_LENGTH)
        return mac_response(card, cmd, record)
    return record


def update_record(card: VirtualCard, cmd: Command) -> bytes:
    """``00/04 DC P1 P2 Lc data``: record P1 (P2 ``..100``), or a new cyclic record (P1 = 0, P2 ``..011``)."""
    if cmd.cla & 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    p1, p2 = cmd.p1, cmd.p2
    ef = _record_ef(card, p2)
    card.need(ef.write)
    mode = p2 & 0x07
    if not (mode == 0x04 and p1) and not (mode == 0x03 and p1 == 0 and ef.structure is FileType.CYCLIC):
        raise SwError(SW.WRONG_P1P2)
    data = unwrap_write(card, cmd, ef.sm)
    _check_length(ef, data)
    records = list(ef.records)
    if mode == 0x03:
        records = [data, *records][: ef.count]
    else:
        records[_number(ef, p1)] = data
    return _store(card, ef, records, "update-record")


def append_record(card: VirtualCard, cmd: Command) -> bytes:
    """``00/04 E2 00 P2 Lc data``: a new last record (linear files) or a new record 1 (cyclic files)."""
    if cmd.cla & 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    if cmd.p1 != 0 or cmd.p2 & 0x07:
        raise SwError(SW.WRONG_P1P2)
    ef = _record_ef(card, cmd.p2)
    card.need(ef.write)
    data = unwrap_write(card, cmd, ef.sm)
    _check_length(ef, data)
    if ef.structure is FileType.CYCLIC:
        records = [data, *ef.records][: ef.count]
    elif len(ef.records) >= ef.count:
        raise SwError(SW.NOT_ENOUGH_SPACE)
    else:
        records = [*ef.records, data]
    return _store(card, ef, records, "append-record")


def _fill(card: VirtualCard, cmd: Command, value: int, label: str) -> bytes:
    p1, p2 = cmd.p1, cmd.p2
    if p2 & 0x07 != 0x04 or p1 == 0:
        raise SwError(SW.WRONG_P1P2)
    ef = _record_ef(card, p2)
    card.need(ef.write)
    require_no_data(cmd)
    records = list(ef.records)
    records[_number(ef, p1)] = bytes((value,)) * ef.length
    return _store(card, ef, records, label)


def write_record(card: VirtualCard, cmd: Command) -> bytes:
    """``84 D2 rec 04`` (no data): index record := ``00`` (valid), docs/decisions.md D4."""
    return _fill(card, cmd, 0x00, "write-record")


def erase_record(card: VirtualCard, cmd: Command) -> bytes:
    """``84 0C rec 04`` (no data): index record := ``FF`` (free), docs/decisions.md D4."""
    return _fill(card, cmd, 0xFF, "erase-record")
