"""ISO/IEC 7816-4 inter-industry command builders, with the PBOC/FMCOS variants this project uses.

One function per command; each returns an immutable :class:`~apdu.command.Command` and raises
:class:`~apdu.errors.ApduFormatError` naming the argument when an argument is out of range. Layout sources:

* ISO/IEC 7816-4:2013 §11 (SELECT §11.2.2, READ/UPDATE BINARY §11.3, records §11.4, VERIFY §11.5.6,
  EXTERNAL/INTERNAL AUTHENTICATE §11.5.3-4, GET CHALLENGE §11.5.5, GET RESPONSE §11.6.1, GET DATA §11.4.3);
* ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE (FMCOS authentication), FMCOS 2.0 base commands, sources.md V1 (SELECT
  forms), JR/T 0025.1 PIN commands (PIN change/reload/unblock), JR/T 0025.1 APPLICATION/CARD BLOCK
  (APPLICATION BLOCK/UNBLOCK, CARD BLOCK);
* WS/T 543.3 record addressing, WS/T 543.3 cyclic files (cyclic writes), WS/T 543.4 EXTERNAL
  AUTHENTICATE (17-byte EXTERNAL AUTHENTICATE),
  WS/T 543.4 plain writes and docs/decisions.md D4 (DF03 index WRITE/ERASE RECORD with CLA 84).

Commands carrying PINs or key-dependent data set :attr:`Command.redact` so traces and reprs hide them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from apdu._checks import check_bytes, check_int, check_length, check_sfi
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

__all__ = [
    "FileInfo",
    "Occurrence",
    "SelectBy",
    "append_record",
    "application_block",
    "application_unblock",
    "card_block",
    "change_pin",
    "erase_record",
    "external_authenticate",
    "external_authenticate_health",
    "get_challenge",
    "get_data",
    "get_response",
    "internal_authenticate",
    "read_binary",
    "read_binary_sfi",
    "read_record",
    "read_record_by_id",
    "reload_pin",
    "select",
    "select_df_name",
    "select_fid",
    "select_mf",
    "select_parent",
    "select_path",
    "unblock_pin",
    "update_binary",
    "update_binary_sfi",
    "update_record",
    "update_record_by_id",
    "update_record_cyclic",
    "verify",
    "write_record",
]

MF_FID = 0x3F00
_BY_NUMBER = 0x04  # P2 b3..b1 = 100: P1 is a record number (ISO/IEC 7816-4 §7.3.3 table 49)


class SelectBy(enum.IntEnum):
    """SELECT P1: how the file is designated (ISO/IEC 7816-4 §11.2.2 table 63)."""

    FID = 0x00
    CHILD_DF = 0x01
    CHILD_EF = 0x02
    PARENT = 0x03
    DF_NAME = 0x04
    PATH_FROM_MF = 0x08
    PATH_FROM_CURRENT = 0x09


class FileInfo(enum.IntEnum):
    """SELECT P2 b4..b3: what the card returns (ISO/IEC 7816-4 §11.2.2 table 64)."""

    FCI = 0x00
    FCP = 0x04
    FMD = 0x08
    NONE = 0x0C


class Occurrence(enum.IntEnum):
    """Which occurrence: SELECT by DF name P2 b2..b1, record P2 b3..b1 (ISO/IEC 7816-4 tables 64, 49)."""

    FIRST = 0x00
    LAST = 0x01
    NEXT = 0x02
    PREVIOUS = 0x03


def _fid(name: str, fid: int) -> bytes:
    return check_int(name, fid, 0, 0xFFFF).to_bytes(2, "big")


def _record_p2(sfi: int | None, mode: int) -> int:
    return (0 if sfi is None else check_sfi(sfi) << 3) | mode


def _record_number(number: int) -> int:
    return check_int("record", number, 0, 0xFE)


# --- SELECT ---------------------------------------------------------------------------------------------------


def select(
    by: SelectBy,
    data: bytes = b"",
    *,
    info: FileInfo = FileInfo.FCI,
    occurrence: Occurrence = Occurrence.FIRST,
    le: int | None = None,
) -> Command:
    """SELECT ``00 A4 P1 P2 [Lc data] [Le]``: P1 = ``by``, P2 = ``info | occurrence`` (ISO/IEC 7816-4 §11.2.2).

    ``le=None`` sends the case-3 form the FMCOS and health-card code uses (``00 A4 00 00 02 DD F1``,
    FMCOS 2.0 base commands, sources.md V1, WS/T 543.1-.6); a T=0 card then offers the FCI with ``61xx``. Pass
    ``le=256`` for the case-4 form. ``info=FileInfo.NONE`` asks for no response data and forbids ``le``.
    """
    by = SelectBy(by)
    if info is FileInfo.NONE and le is not None:
        raise ApduFormatError("SELECT without response data cannot carry Le", field="le")
    if le is not None:
        check_length("le", le)
    data = check_bytes("data", data, low=0, high=255)
    if by in (SelectBy.FID, SelectBy.CHILD_DF, SelectBy.CHILD_EF) and len(data) not in (0, 2):
        raise ApduFormatError(f"SELECT by file identifier needs 2 bytes, got {len(data)}", field="fid")
    if by is SelectBy.DF_NAME and not 1 <= len(data) <= 16:
        raise ApduFormatError(f"a DF name is 1..16 bytes, got {len(data)}", field="df_name")
    if by in (SelectBy.PATH_FROM_MF, SelectBy.PATH_FROM_CURRENT) and (not data or len(data) % 2):
        raise ApduFormatError("a path is a non-empty sequence of 2-byte file identifiers", field="path")
    return Command(0x00, 0xA4, int(by), int(info) | int(Occurrence(occurrence)), data, le)


def select_fid(fid: int, *, info: FileInfo = FileInfo.FCI, le: int | None = None) -> Command:
    """SELECT by file identifier ``00 A4 00 00 02 FID`` (FMCOS 2.0 base commands, sources.md V1; WS/T 543.1-.6
    ``DDF1``).

    Example: the health card's DDF1 (WS/T 543.3 file tree).

    >>> select_fid(0xDDF1).encode().hex().upper()
    '00A4000002DDF1'
    """
    return select(SelectBy.FID, _fid("fid", fid), info=info, le=le)


def select_mf(*, info: FileInfo = FileInfo.FCI, le: int | None = None) -> Command:
    """SELECT the MF ``00 A4 00 00 02 3F 00`` (ISO/IEC 7816-4 §7.1.1: FID 3F00 is reserved for the MF)."""
    return select_fid(MF_FID, info=info, le=le)


def select_df_name(
    name: bytes,
    *,
    occurrence: Occurrence = Occurrence.FIRST,
    info: FileInfo = FileInfo.FCI,
    le: int | None = None,
) -> Command:
    """SELECT by DF name/AID ``00 A4 04 P2 Lc name`` (FMCOS 2.0 base commands, sources.md V1; P2 ``02`` = next
    occurrence)."""
    return select(SelectBy.DF_NAME, name, info=info, occurrence=occurrence, le=le)


def select_path(
    fids: Sequence[int],
    *,
    from_mf: bool = True,
    info: FileInfo = FileInfo.FCI,
    le: int | None = None,
) -> Command:
    """SELECT by path ``00 A4 08|09 P2 Lc FID1 FID2 …`` (ISO/IEC 7816-4 §11.2.2).

    ``from_mf``: P1 ``08``, the path starts below the MF and does not include ``3F00``; otherwise P1 ``09``,
    the path starts at the current DF.
    """
    if not fids:
        raise ApduFormatError("a path needs at least one file identifier", field="path")
    data = b"".join(_fid("path", f) for f in fids)
    return select(SelectBy.PATH_FROM_MF if from_mf else SelectBy.PATH_FROM_CURRENT, data, info=info, le=le)


def select_parent(*, info: FileInfo = FileInfo.FCI, le: int | None = None) -> Command:
    """SELECT the parent DF of the current DF ``00 A4 03 P2`` (ISO/IEC 7816-4 §11.2.2, no data)."""
    return select(SelectBy.PARENT, info=info, le=le)


# --- Transparent EFs ------------------------------------------------------------------------------------------


def read_binary(offset: int = 0, length: int = 256) -> Command:
    """READ BINARY of the current EF ``00 B0 off_hi off_lo Le`` (ISO/IEC 7816-4 §11.3.3; offset < 0x8000).

    Example: the health-card SAM's EF0015 ``00 B0 00 00 0E`` (健康卡 SAM spec: files).
    """
    check_int("offset", offset, 0, 0x7FFF)
    return Command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=check_length("length", length))


def read_binary_sfi(sfi: int, offset: int = 0, length: int = 256) -> Command:
    """READ BINARY with an SFI ``00 B0 80|SFI offset Le`` (ISO/IEC 7816-4 §11.3.3; offset 0..255).

    Example: PSAM terminal number ``00 B0 96 00 06`` (PSAM files, sources.md V2).
    """
    check_int("offset", offset, 0, 0xFF)
    return Command(0x00, 0xB0, 0x80 | check_sfi(sfi), offset, le=check_length("length", length))


def update_binary(offset: int, data: bytes) -> Command:
    """UPDATE BINARY of the current EF ``00 D6 off_hi off_lo Lc data`` (ISO/IEC 7816-4 §11.3.5; WS/T 543.4 plain
    writes)."""
    check_int("offset", offset, 0, 0x7FFF)
    data = check_bytes("data", data, low=1, high=65535)
    return Command(0x00, 0xD6, offset >> 8, offset & 0xFF, data)


def update_binary_sfi(sfi: int, offset: int, data: bytes) -> Command:
    """UPDATE BINARY with an SFI ``00 D6 80|SFI offset Lc data`` (ISO/IEC 7816-4 §11.3.5)."""
    check_int("offset", offset, 0, 0xFF)
    data = check_bytes("data", data, low=1, high=65535)
    return Command(0x00, 0xD6, 0x80 | check_sfi(sfi), offset, data)


# --- Record EFs -----------------------------------------------------------------------------------------------


def read_record(number: int, *, sfi: int | None = None, length: int = 256) -> Command:
    """READ RECORD by number ``00 B2 rec SFI<<3|04 Le`` (ISO/IEC 7816-4 §11.4.3; ``number`` 0 = current record).

    Health card: ``00 B2 <rec> 04 00`` reads a whole record of the current EF (WS/T 543.3 record addressing).
    """
    return Command(0x00, 0xB2, _record_number(number), _record_p2(sfi, _BY_NUMBER), le=check_length("length", length))


def read_record_by_id(
    identifier: int = 0,
    *,
    occurrence: Occurrence = Occurrence.FIRST,
    sfi: int | None = None,
    length: int = 256,
) -> Command:
    """READ RECORD by identifier ``00 B2 id SFI<<3|occ Le`` (ISO/IEC 7816-4 §11.4.3).

    ``identifier`` 0 means any record, so ``occurrence`` selects the first/last/next/previous record. Health card
    DDF1/EF05: ``00 B2 08 00 14`` reads KH, the record whose first byte is tag 08 (WS/T 543.3 record addressing).
    """
    check_int("identifier", identifier, 0, 0xFF)
    p2 = _record_p2(sfi, int(Occurrence(occurrence)))
    return Command(0x00, 0xB2, identifier, p2, le=check_length("length", length))


def update_record(number: int, data: bytes, *, sfi: int | None = None) -> Command:
    """UPDATE RECORD by number ``00 DC rec SFI<<3|04 Lc data`` (ISO/IEC 7816-4 §11.4.5; ``number`` 0 = current)."""
    data = check_bytes("data", data, low=1, high=255)
    return Command(0x00, 0xDC, _record_number(number), _record_p2(sfi, _BY_NUMBER), data)


def update_record_by_id(
    identifier: int,
    data: bytes,
    *,
    occurrence: Occurrence = Occurrence.FIRST,
    sfi: int | None = None,
) -> Command:
    """UPDATE RECORD by identifier/relative position ``00 DC id SFI<<3|occ Lc data`` (ISO/IEC 7816-4 §11.4.5)."""
    check_int("identifier", identifier, 0, 0xFF)
    data = check_bytes("data", data, low=1, high=255)
    return Command(0x00, 0xDC, identifier, _record_p2(sfi, int(Occurrence(occurrence))), data)


def update_record_cyclic(data: bytes, *, sfi: int | None = None) -> Command:
    """Write a cyclic EF ``00 DC 00 03 Lc data``: P2 ``03`` = previous record (WS/T 543.3 cyclic files, WS/T 543.4 plain
    writes).

    The written record becomes record 1 (the newest).
    """
    return update_record_by_id(0, data, occurrence=Occurrence.PREVIOUS, sfi=sfi)


def append_record(data: bytes, *, sfi: int | None = None) -> Command:
    """APPEND RECORD ``00 E2 00 SFI<<3 Lc data`` (ISO/IEC 7816-4 §11.4.6)."""
    data = check_bytes("data", data, low=1, high=255)
    return Command(0x00, 0xE2, 0x00, _record_p2(sfi, 0x00), data)


def write_record(number: int, data: bytes = b"", *, sfi: int | None = None, cla: int = 0x00) -> Command:
    """WRITE RECORD by number ``CLA D2 rec SFI<<3|04 [Lc data]`` (ISO/IEC 7816-4 §11.4.4).

    Health card DF03 index "set valid": ``84 D2 <rec> 04`` with no data (WS/T 543.3 access rules, WS/T 543.4 plain
    writes; docs/decisions.md D4) is ``write_record(rec, cla=0x84)``.
    """
    data = check_bytes("data", data, low=0, high=255)
    check_int("cla", cla, 0, 0xFF)
    return Command(cla, 0xD2, _record_number(number), _record_p2(sfi, _BY_NUMBER), data)


def erase_record(number: int, *, sfi: int | None = None, cla: int = 0x00) -> Command:
    """ERASE RECORD ``CLA 0C rec SFI<<3|04`` (ISO/IEC 7816-4:2013 §11.4.8; P2 b3..b1 = 100: record P1 only).

    Health card DF03 index "erase": ``84 0C <rec> 04`` (WS/T 543.3 access rules; docs/decisions.md D4) is
    ``erase_record(rec, cla=0x84)``.
    """
    check_int("cla", cla, 0, 0xFF)
    return Command(cla, 0x0C, _record_number(number), _record_p2(sfi, _BY_NUMBER))


# --- PIN and authentication -----------------------------------------------------------------------------------


def verify(pin: bytes, *, key_id: int = 0x00) -> Command:
    """VERIFY ``00 20 00 KID Lc PIN`` (JR/T 0025.1 PIN commands, ISO/IEC 7816-4 §11.5.6); data redacted.

    An empty ``pin`` gives the case-1 form ``00 20 00 KID`` that asks for the tries left (answer 63Cx).
    """
    pin = check_bytes("pin", pin, low=0, high=16)
    return Command(0x00, 0x20, 0x00, check_int("key_id", key_id, 0, 0xFF), pin, redact=Redact.COMMAND_DATA)


def change_pin(old_pin: bytes, new_pin: bytes, *, key_id: int = 0x00) -> Command:
    """CHANGE PIN ``80 5E 01 KID Lc old ‖ FF ‖ new`` (JR/T 0025.1 PIN commands; health SAM 健康卡 SAM spec:
    commands)."""
    old_pin = check_bytes("old_pin", old_pin, low=1, high=8)
    new_pin = check_bytes("new_pin", new_pin, low=1, high=8)
    data = old_pin + b"\xff" + new_pin
    return Command(0x80, 0x5E, 0x01, check_int("key_id", key_id, 0, 0xFF), data, redact=Redact.COMMAND_DATA)


def reload_pin(new_pin: bytes, mac: bytes, *, key_id: int = 0x00) -> Command:
    """RELOAD PIN ``80 5E 00 KID Lc newPIN ‖ MAC`` (JR/T 0025.1 PIN commands; MAC under the PIN-reload key)."""
    new_pin = check_bytes("new_pin", new_pin, low=1, high=8)
    mac = check_bytes("mac", mac, 4)
    return Command(0x80, 0x5E, 0x00, check_int("key_id", key_id, 0, 0xFF), new_pin + mac, redact=Redact.COMMAND_DATA)


def unblock_pin(encrypted_pin: bytes, mac: bytes, *, key_id: int = 0x00) -> Command:
    """PIN UNBLOCK ``84 24 KID 00 Lc Enc(Ld ‖ PIN) ‖ MAC`` (JR/T 0025.1 PIN commands; note the key id in P1)."""
    encrypted_pin = check_bytes("encrypted_pin", encrypted_pin, 8, 16, 24, 32)
    mac = check_bytes("mac", mac, 4)
    kid = check_int("key_id", key_id, 0, 0xFF)
    return Command(0x84, 0x24, kid, 0x00, encrypted_pin + mac, redact=Redact.COMMAND_DATA)


def get_challenge(length: int = 8) -> Command:
    """GET CHALLENGE ``00 84 00 00 Le`` (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE: Le 04 or 08; health card 08)."""
    return Command(0x00, 0x84, 0x00, 0x00, le=check_int("length", length, 1, 256))


def external_authenticate(cryptogram: bytes, *, key_id: int, cla: int = 0x00) -> Command:
    """EXTERNAL AUTHENTICATE ``00 82 00 KID 08 cryptogram`` (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE, FMCOS form;
    data redacted).

    The FMCOS cryptogram is 8 bytes (3DES); 16 is accepted for SM4 cards.
    """
    cryptogram = check_bytes("cryptogram", cryptogram, 8, 16)
    check_int("cla", cla, 0, 0xFF)
    return Command(cla, 0x82, 0x00, check_int("key_id", key_id, 0, 0xFF), cryptogram, redact=Redact.COMMAND_DATA)


def external_authenticate_health(cryptogram: bytes, terminal_data: bytes, *, key_ref: int) -> Command:
    """Health-card EXTERNAL AUTHENTICATE ``00 82 00 KREF 11 | cryptogram(8) ‖ terminal data(8) ‖ 01``.

    Source: WS/T 543.4 EXTERNAL AUTHENTICATE (the card tells it from the FMCOS form by Lc, docs/decisions.md D3). Data
    redacted.
    """
    cryptogram = check_bytes("cryptogram", cryptogram, 8)
    terminal_data = check_bytes("terminal_data", terminal_data, 8)
    kref = check_int("key_ref", key_ref, 0, 0xFF)
    return Command(0x00, 0x82, 0x00, kref, cryptogram + terminal_data + b"\x01", redact=Redact.COMMAND_DATA)


def internal_authenticate(data: bytes, *, key_id: int, le: int | None = None) -> Command:
    """INTERNAL AUTHENTICATE ``00 88 00 KID Lc data [Le]`` (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE; ISO/IEC
    7816-4 §11.5.4).

    The card's answer (data encrypted under its internal key) is flagged ``Redact.RESPONSE_DATA``.
    """
    data = check_bytes("data", data, low=1, high=255)
    if le is not None:
        check_length("le", le)
    kid = check_int("key_id", key_id, 0, 0xFF)
    return Command(0x00, 0x88, 0x00, kid, data, le, redact=Redact.RESPONSE_DATA)


# --- Response retrieval and data objects ----------------------------------------------------------------------


def get_response(length: int = 256, *, cla: int = 0x00) -> Command:
    """GET RESPONSE ``00 C0 00 00 Le`` (ISO/IEC 7816-4 §11.6.1; after ``61xx``, WS/T 543.4 responses)."""
    return Command(check_int("cla", cla, 0, 0xFF), 0xC0, 0x00, 0x00, le=check_int("length", length, 1, 256))


def get_data(tag: int, *, cla: int = 0x00, length: int = 256) -> Command:
    """GET DATA ``CLA CA tag_hi tag_lo Le`` (ISO/IEC 7816-4 §11.4.3; PBOC/EMV use CLA 80, e.g. ``80 CA 9F 36``)."""
    check_int("tag", tag, 0, 0xFFFF)
    check_int("cla", cla, 0, 0xFF)
    return Command(cla, 0xCA, tag >> 8, tag & 0xFF, le=check_length("length", length))


# --- Application and card life cycle --------------------------------------------------------------------------


def application_block(mac: bytes, *, permanent: bool = False) -> Command:
    """APPLICATION BLOCK ``84 1E 00 P2 04 MAC`` (JR/T 0025.1 APPLICATION/CARD BLOCK; P2 ``00`` temporary, ``01``
    permanent).

    The MAC is the secure-messaging MAC over ``84 1E 00 P2 04`` (JR/T 0025.1 secure messaging).
    """
    return Command(0x84, 0x1E, 0x00, 0x01 if permanent else 0x00, check_bytes("mac", mac, 4))


def application_unblock(mac: bytes) -> Command:
    """APPLICATION UNBLOCK ``84 18 00 00 04 MAC`` (JR/T 0025.1 APPLICATION/CARD BLOCK)."""
    return Command(0x84, 0x18, 0x00, 0x00, check_bytes("mac", mac, 4))


def card_block(mac: bytes) -> Command:
    """CARD BLOCK ``84 16 00 00 04 MAC`` (JR/T 0025.1 APPLICATION/CARD BLOCK)."""
    return Command(0x84, 0x16, 0x00, 0x00, check_bytes("mac", mac, 4))
