"""Writing the card with the authentication and secure messaging the profile requires (SAM-derived keys).

* TLV record files (WS/T 543.3 access rules, WS/T 543.4 SM UPDATE RECORD): the DF's update key, then one UPDATE RECORD
  per item, by SFI;
  a partial write (:func:`update_tlv`) merges the given fields into what the card holds and writes only the
  records that change;
  files created with the SM bits are written as ``04 DC rec SFI<<3|04 | E(L ‖ TLV) ‖ MAC`` with the DF's STK
  (the SAM encrypts and MACs after a fresh GET CHALLENGE); ``previous`` skips records that did not change.
* Photo (WS/T 543.3 photo, WS/T 543.4 plain writes): UK_DDF1, then plain UPDATE BINARY of ``length(2) ‖ image`` in
  255-byte chunks.
* Allergies / immunisations (WS/T 543.3 cyclic files): UK_DF02_3, then ``00 DC 00 SFI<<3|03`` (the new record becomes
  record 1).
* DF03 visit records (WS/T 543.3 DF03 index files, WS/T 543.3 access rules, docs/decisions.md D4): UK_DF03_1, UPDATE
  BINARY of the HIS data area of
  EE0n/ED0n, then ``84 D2 n 04`` (valid); erase with UK_DF03_2 and ``84 0C n 04`` (free). The slot rule picks
  the first free slot, else the oldest record (admission date, then discharge date; out-patient: visit date).
* Signing (WS/T 543.3 DF03 items, 健康卡 SAM spec: commands [INF]): every valid record :func:`write_visit` writes is
  signed — SM3 over the record's
  data area bound to the card number and the slot, SM2 signature by the SAM (after its PIN), written with the
  signer's public key into the two trailing items (docs/decisions.md D9, D14); :mod:`healthcard.api.signatures`
  checks it against a trust list.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from apdu import iso
from apdu.command import Command
from apdu.errors import DataError, MissingInputError
from apdu.fmcos import Protection
from healthcard.api.access import CardAccess
from healthcard.api.reading import read_binary, read_index, read_tlv
from healthcard.api.sections import Section
from healthcard.codecs import Allergy, Immunisation, InpatientRecord, OutpatientRecord, TlvFile, VisitRecord
from healthcard.codecs.fixed import INDEX_FREE, INDEX_VALID
from healthcard.codecs.signature import bound_message, encode_signer_block
from healthcard.profiles.model import EFSpec, right
from sam.crypto import sm2_load_public_key, sm2_z, sm3

__all__ = [
    "ED_VISIT_ITEM",
    "EE_ADMISSION_ITEM",
    "EE_DISCHARGE_ITEM",
    "append_allergy",
    "append_immunisation",
    "choose_slot",
    "erase_visit",
    "mark_visit_valid",
    "sign_visit",
    "update_tlv",
    "write_photo",
    "write_tlv",
    "write_visit",
    "write_visit_area",
]

CHUNK = 255
#: Item numbers used by the slot rule (WS/T 543.3 DF03 index files). The names of the DF03 items are not public
#: (WS/T 543.3 DF03 items, sources.md O2); these are the first date items of each layout: EE item 66 (4 cn at offset 80,
#: read as the
#: admission date 入院日期), EE item 77 (4 cn, the discharge date 出院日期 tie-breaker) and ED item 215
#: (7 cn at offset 80, the visit time 就诊日期). Project choice [INF]; change here when the 应用规范 is known.
EE_ADMISSION_ITEM = 66
EE_DISCHARGE_ITEM = 77
ED_VISIT_ITEM = 215

_UPDATE_KEY = {
    ("DDF1", "EF05"): "UK_DDF1", ("DDF1", "EF06"): "UK_DDF1", ("DDF1", "EF07"): "UK_DDF1",
    ("DDF1", "EF08"): "UK_DDF1", ("DF01", "EF05"): "UK_DF01", ("DF01", "EF06"): "UK_DF01",
    ("DF01", "EF07"): "UK_DF01", ("DF01", "EF08"): "UK_DF01", ("DF02", "EF05"): "UK_DF02_1",
    ("DF02", "EF06"): "UK_DF02_2", ("DF02", "EF07"): "UK_DF02_3", ("DF02", "EF08"): "UK_DF02_3",
}  # fmt: skip


def _update_key(df_name: str, ef: EFSpec) -> str:
    if ef.write_keys:
        return ef.write_keys[0]
    return _UPDATE_KEY[(df_name, ef.name)]


def _open_for_write(access: CardAccess, df_name: str, ef_name: str, key: str | None = None) -> EFSpec:
    ef = access.df(df_name).ef(ef_name)
    access.ensure(df_name, ef.write, key or _update_key(df_name, ef))
    return ef


def write_tlv(access: CardAccess, section: Section, value: TlvFile, previous: TlvFile | None = None) -> int:
    """Write a TLV section record by record; returns the number of records written.

    ``previous`` (what the card holds, e.g. from a read) skips unchanged records.
    """
    kind = section.tlv_type
    if kind is None or not isinstance(value, kind):
        raise DataError(f"{section.value}: a {kind.__name__ if kind else 'TLV'} value is required", field=section.value)
    records = value.to_records()
    old = previous.to_records() if previous is not None else [None] * len(records)
    changed = [(n, rec) for n, (rec, before) in enumerate(zip(records, old, strict=True), 1) if rec != before]
    if not changed:
        return 0
    ef = _open_for_write(access, section.df, section.ef)
    for n, record in changed:
        if ef.sm is Protection.NONE:
            access.send(iso.update_record(n, record, sfi=ef.sfi))
        else:
            plain = iso.update_record(n, record, sfi=ef.sfi)
            access.sm_write(section.df, Command(0x04, plain.ins, plain.p1, plain.p2, record))
    if section is Section.ISSUER:
        if getattr(value, "city_code", None):
            access.city_code = value.city_code  # type: ignore[attr-defined]
        access.card_number = getattr(value, "card_number", None) or ""  # what the card now holds (D14 binds to it)
    return len(changed)


def update_tlv(
    access: CardAccess,
    section: Section,
    changes: Mapping[str, Any],
    clear: Collection[str] = (),
    current: TlvFile | None = None,
) -> TlvFile:
    """Merge ``changes`` (attribute -> typed value) into what the card holds, erase ``clear``, write what changed.

    The read-modify-write of a partial write (issue #11 item 4), used by :meth:`CardSession.update`, the CLI's
    ``write --file``, the daemon's WriteCard and the DLL's ``iW_`` functions alike: a field that is neither given
    nor cleared keeps its value. ``current`` is what the card holds when the caller has just read it (else it is
    read here). The merged value is validated before the first APDU: bad input changes nothing. Returns it.
    """
    before = current if current is not None else read_tlv(access, section)
    after = before.merged(changes, clear)
    write_tlv(access, section, after, before)
    return after


def _update_binary(access: CardAccess, ef: EFSpec, data: bytes, offset: int = 0) -> None:
    pos, first = 0, True
    while pos < len(data):
        chunk = data[pos : pos + CHUNK]
        at = offset + pos
        if first and ef.sfi is not None and at < 0x100:
            access.send(iso.update_binary_sfi(ef.sfi, at, chunk))
        else:
            if first:
                access.select_ef(ef.fid)
            access.send(iso.update_binary(at, chunk))
        first = False
        pos += len(chunk)


def write_photo(access: CardAccess, image: bytes) -> None:
    """DDF1/EF07 := length(2) ‖ image (≤ 3072 bytes in all, WS/T 543.3 photo)."""
    ef = access.df("DDF1").ef("EF07")
    if len(image) + 2 > ef.size:
        raise DataError(f"photo of {len(image)} bytes: with its 2-byte length it exceeds {ef.size}", field="ZHAOPIAN")
    _open_for_write(access, "DDF1", "EF07")
    _update_binary(access, ef, len(image).to_bytes(2, "big") + image)


def append_allergy(access: CardAccess, allergy: Allergy) -> None:
    """Add an allergy to DF02/EF07 (cyclic: it becomes record 1, the oldest of 3 is overwritten)."""
    ef = _open_for_write(access, "DF02", "EF07")
    access.send(iso.update_record_cyclic(allergy.to_record(), sfi=ef.sfi))


def append_immunisation(access: CardAccess, immunisation: Immunisation) -> None:
    """Add an immunisation to DF02/EF08 (cyclic, 10 records)."""
    ef = _open_for_write(access, "DF02", "EF08")
    access.send(iso.update_record_cyclic(immunisation.to_record(), sfi=ef.sfi))


def _names(inpatient: bool, slot: int) -> tuple[str, str]:
    slots = InpatientRecord.SLOTS if inpatient else OutpatientRecord.SLOTS
    if not 1 <= slot <= slots:
        raise DataError(f"slot must be 1..{slots}, got {slot}", field="slot")
    return ("EE" if inpatient else "ED") + f"{slot:02d}", "EF05" if inpatient else "EF06"


def _date_digits(access: CardAccess, inpatient: bool, slot: int, item: int) -> str:
    layout = (InpatientRecord if inpatient else OutpatientRecord).LAYOUT
    f = layout.field(item)
    name, _ = _names(inpatient, slot)
    ef = access.df("DF03").ef(name)
    access.select_ef(ef.fid)
    raw = access.send(iso.read_binary(f.offset, f.length)).data
    return raw.hex().upper().rstrip("F") or "~"  # empty sorts last


def choose_slot(access: CardAccess, inpatient: bool, flags: Sequence[int] | None = None) -> int:
    """The slot for a new visit record (WS/T 543.3 DF03 index files ``iReader_GetLastEEIndex`` / ``…EDIndex``).

    The first slot marked ``FF``; if all are used, the one with the earliest admission date (tie: earliest
    discharge date) for in-patient records, the earliest visit date for out-patient records; then the lowest.
    """
    if flags is None:
        access.ensure("DF03", access.df("DF03").ef("EF05").read, "RK_DF03")
        flags = read_index(access, inpatient)
    for slot, flag in enumerate(flags, 1):
        if flag != INDEX_VALID:
            return slot
    keys: list[tuple[str, str, int]] = []
    for slot in range(1, len(flags) + 1):
        if inpatient:
            first = _date_digits(access, True, slot, EE_ADMISSION_ITEM)
            second = _date_digits(access, True, slot, EE_DISCHARGE_ITEM)
        else:
            first, second = _date_digits(access, False, slot, ED_VISIT_ITEM), ""
        keys.append((first, second, slot))
    return min(keys)[2]


def write_visit_area(access: CardAccess, record: VisitRecord) -> None:
    """Write the HIS data area (signature items excluded) of ``record`` into its EE/ED file."""
    inpatient = isinstance(record, InpatientRecord)
    name, _ = _names(inpatient, record.slot)
    ef = _open_for_write(access, "DF03", name, "UK_DF03_1")
    data = record.to_bytes()[: record.LAYOUT.data_size]
    _update_binary(access, ef, data)


def mark_visit_valid(access: CardAccess, inpatient: bool, slot: int) -> None:
    """``84 D2 n 04``: index record n := 00 (UK_DF03_1; docs/decisions.md D4)."""
    _, index = _names(inpatient, slot)
    ef = _open_for_write(access, "DF03", index, "UK_DF03_1")
    if ef.sfi is None:
        access.select_ef(ef.fid)
    access.send(iso.write_record(slot, sfi=ef.sfi, cla=0x84))


def erase_visit(access: CardAccess, inpatient: bool, slot: int) -> None:
    """``84 0C n 04``: index record n := FF (UK_DF03_2; docs/decisions.md D4)."""
    _, index = _names(inpatient, slot)
    df = access.df("DF03")
    ef = df.ef(index)
    state = df.key("UK_DF03_2").follow_state or 3
    access.ensure("DF03", right(state, state), "UK_DF03_2")
    if ef.sfi is None:
        access.select_ef(ef.fid)
    access.send(iso.erase_record(slot, sfi=ef.sfi, cla=0x84))


def write_visit(access: CardAccess, record: VisitRecord, *, choose: bool = True) -> int:
    """Write a visit record and set its index flag; with ``choose`` the slot rule picks the slot.

    Returns the slot used. A record whose ``valid`` is False is written and left (or made) free.
    """
    inpatient = isinstance(record, InpatientRecord)
    if not isinstance(record, (InpatientRecord, OutpatientRecord)):
        raise DataError("an InpatientRecord or OutpatientRecord is required", field="record")
    card_number = _card_number_to_sign(access) if record.valid else ""  # before DF03 is opened for writing
    slot = choose_slot(access, inpatient) if choose else record.slot
    placed = type(record)(slot, record.valid, dict(record.items))
    write_visit_area(access, placed)
    if placed.valid:
        _sign_area(access, inpatient, slot, placed.to_bytes()[: placed.LAYOUT.data_size], card_number)
        mark_visit_valid(access, inpatient, slot)
    else:
        erase_visit(access, inpatient, slot)
    return slot


def visit_digest(message: bytes, public_key: bytes) -> bytes:
    """``e = SM3(Z_A ‖ M)`` (GB/T 32918.2 §6.1; what the SAM signs, [INF]); M is
    :func:`~healthcard.codecs.signature.bound_message` for records signed since docs/decisions.md D14, the data
    area alone for older ones."""
    return sm3(sm2_z(sm2_load_public_key(public_key)) + message)


def sign_visit(access: CardAccess, inpatient: bool, slot: int, pin: str | None = None) -> bytes:
    """Sign the record in ``slot`` with the SAM (SM3 + SM2) as it is on the card; returns r‖s.

    :func:`write_visit` already signs every valid record it writes; this re-signs a record written otherwise.
    """
    name, _ = _names(inpatient, slot)
    layout = (InpatientRecord if inpatient else OutpatientRecord).LAYOUT
    card_number = _card_number_to_sign(access)
    ef = _open_for_write(access, "DF03", name, "UK_DF03_1")
    data = read_binary(access, ef, layout.data_size)
    if pin is not None and access.sam is not None:
        access.sam.verify_pin(pin)
    return _sign_area(access, inpatient, slot, data, card_number)


def _card_number_to_sign(access: CardAccess) -> str:
    """The KH a signature binds the record to; :class:`DataError` before anything is written when there is none."""
    card_number = access.holder_card_number()
    if not card_number:
        raise DataError("DDF1/EF05 holds no card number (KH): a visit record is signed bound to it (D14); "
                        "issue the card first", field="card_number")  # fmt: skip
    return card_number


def _sign_area(access: CardAccess, inpatient: bool, slot: int, data: bytes, card_number: str) -> bytes:
    """SM2-sign ``data`` (the slot's HIS data area) bound to ``card_number`` and the slot with the SAM and store
    signature ‖ signer item after it.

    The signer item names the SAM's public key and the bound format
    (:func:`healthcard.codecs.signature.encode_signer_block`, the SAM certificate format being unknown,
    docs/decisions.md D9, D14), so verifiers elsewhere can tell an untrusted signer from a changed or moved record.
    """
    sam = access.sam
    if sam is None:
        raise MissingInputError("signing a visit record needs a SAM, and the session has none", needs="sam")
    name, _ = _names(inpatient, slot)
    layout = (InpatientRecord if inpatient else OutpatientRecord).LAYOUT
    message = bound_message(card_number, layout.name, slot, data)
    ef = _open_for_write(access, "DF03", name, "UK_DF03_1")
    public_key = sam.sm2_public_key()
    signature = sam.sm2_sign_digest(visit_digest(message, public_key))
    _update_binary(access, ef, signature + encode_signer_block(public_key), offset=layout.data_size)
    return signature


__all__ += ["INDEX_FREE", "visit_digest"]
