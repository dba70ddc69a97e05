"""Conversions between the daemon's internal types and the ``healthcard.v1`` messages."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import re
from collections.abc import Collection, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon.audit import AuditEvent
from daemon.journal import Entry, Kind, ReconciliationGroup, State
from daemon.paging import politely
from healthcard.api import CardData, InpatientRecord, OutpatientRecord, PurseInfo, RecordSignature, Section

__all__ = [
    "CARD_SECTION",
    "SECTIONS",
    "audit_message",
    "card_data_message",
    "card_data_sections",
    "fill_card_data",
    "group_message",
    "set_timestamp",
    "timestamp",
    "transaction_message",
]

# CardSection enum value -> the card API's Section of the same name (CARD_SECTION_CLINICAL -> Section.CLINICAL): the
# one set of section names of the proto, the card API and the CLI; CardData's section fields carry the same names
# (tests/api/test_section_names.py fails when they drift apart).
SECTIONS: dict[cd.CardSection.ValueType, Section] = {
    value: Section.parse(cd.CardSection.Name(value))
    for value in cd.CardSection.values()
    if value != cd.CARD_SECTION_UNSPECIFIED
}
CARD_SECTION: dict[Section, cd.CardSection.ValueType] = {section: value for value, section in SECTIONS.items()}

_KIND = {Kind.DEBIT: pb.TRANSACTION_KIND_DEBIT, Kind.LOAD: pb.TRANSACTION_KIND_LOAD,
         Kind.UNLOAD: pb.TRANSACTION_KIND_UNLOAD}  # fmt: skip
_SIGNATURE = {"unsigned": cd.SIGNATURE_STATUS_UNSIGNED, "valid": cd.SIGNATURE_STATUS_VALID,
              "untrusted": cd.SIGNATURE_STATUS_UNTRUSTED, "invalid": cd.SIGNATURE_STATUS_INVALID,
              "unbound": cd.SIGNATURE_STATUS_UNBOUND, "unreadable": cd.SIGNATURE_STATUS_UNREADABLE}  # fmt: skip
_STATE = {
    State.INTENT: pb.TRANSACTION_STATE_INTENT,
    State.PREPARED: pb.TRANSACTION_STATE_PREPARED,
    State.DEBITED: pb.TRANSACTION_STATE_DEBITED,
    State.CONFIRMED: pb.TRANSACTION_STATE_CONFIRMED,
    State.VOIDED: pb.TRANSACTION_STATE_VOIDED,
}
STATE_OF = {v: k for k, v in _STATE.items()}


def timestamp(when: _dt.datetime | None) -> Timestamp | None:
    """A protobuf Timestamp (``None`` stays unset)."""
    if when is None:
        return None
    ts = Timestamp()
    set_timestamp(ts, when)
    return ts


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_SECOND = _dt.timedelta(seconds=1)


def set_timestamp(ts: Timestamp, when: _dt.datetime) -> None:
    """Set ``ts`` (e.g. a response's field, in place) to ``when``; a naive ``when`` is local time.

    ``Timestamp.FromDatetime`` of the UTC time, computed with datetime arithmetic (whole seconds rounded down,
    as ``calendar.timegm(utctimetuple())``; nanos from the microseconds) instead of a struct_time round trip.
    """
    utc = when.astimezone(_dt.UTC)
    ts.seconds = (utc - _EPOCH) // _SECOND
    ts.nanos = utc.microsecond * 1000


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common leaves first (none of the kinds below)
        return value
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        if "code" in value and set(value) <= {"code", "meaning"}:
            return value["code"]  # a code-table value with its meaning: the proto carries the code
        return {k: _bytes_field(k, _jsonable(v)) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _bytes_field(name: str, value: Any) -> Any:
    # proto3 JSON wants base64 for bytes fields; the card API gives hex.
    if name in _BYTES_FIELDS and isinstance(value, str):
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


_BYTES_FIELDS = {"issuer_certificate"}


def card_data_message(data: CardData) -> cd.CardData:
    """``CardData`` of what the card API read (:meth:`daemon.backend.CardOps.read`)."""
    message = cd.CardData()
    fill_card_data(message, data)
    return message


def fill_card_data(message: cd.CardData, data: CardData) -> None:
    """Fill an empty ``message`` (e.g. ``ReadCardResponse.card``, no copy) with what the card API read.

    The card number and the record sections (issuer ... special), allergies and immunisations are the card
    API's own ``CardData.to_json()``, section by section under the same names, read as ``json_format.ParseDict``
    reads it (:func:`fill_json`). The photo, visit records and purse are set from the typed data, because their
    proto form is not their JSON form: the photo is bytes (not ``{"size", "format", "base64"}``), visit records
    keep item numbers as map keys and b items as lower-case hex (not ``item_064`` keys and upper-case hex) with
    the signature check in flat fields, and the purse gives only the serial of its application data.
    """
    # The sections not set from their JSON are left out before to_json(): it would build their JSON for nothing.
    doc = dataclasses.replace(data, photo=None, inpatient=None, outpatient=None, purse=None).to_json()
    fill_json(message, doc)
    if data.photo is not None:
        message.photo = bytes(data.photo)
    for inpatient in data.inpatient or ():
        _fill_visit(message.inpatient.add(kind=cd.VISIT_KIND_INPATIENT), inpatient)
    for outpatient in data.outpatient or ():
        _fill_visit(message.outpatient.add(kind=cd.VISIT_KIND_OUTPATIENT), outpatient)
    if data.purse is not None:
        _fill_purse(message.purse, data.purse)


def fill_json(message: cd.CardData, doc: Mapping[str, Any]) -> None:
    """``json_format.ParseDict(_jsonable(doc), message, ignore_unknown_fields=True)``, message set even when empty.

    The sections are the JSON form of the card API's data (:func:`_jsonable`: dates ISO, bytes hex, code-table
    values by code); :func:`_set_plain` does both steps in one walk for plain documents, and anything else goes
    through the two steps themselves, with the same result.
    """
    try:
        if _is_code(doc):
            raise _NotPlainError("document")
        _set_plain(doc, message, _plan(message.DESCRIPTOR))
    except Exception:  # not plain, or refused by the message: the two steps decide (and raise their own error)
        message.Clear()
        json_format.ParseDict(_jsonable(doc), message, ignore_unknown_fields=True)
    message.SetInParent()  # present even when empty


def _fill_visit(message: cd.VisitRecord, record: InpatientRecord | OutpatientRecord) -> None:
    """One DF03 slot: item numbers as keys, text as is, b items as lower-case hex, the signature check flat."""
    message.slot, message.valid = record.slot, record.valid
    signature = record.signature
    if signature is not None:
        _fill_signature(message, signature)
    for item, value in record.items.items():
        message.items[item] = value.hex() if isinstance(value, bytes) else value
    if record.raw:
        message.raw = record.raw.hex().upper()


def _fill_signature(message: cd.VisitRecord, signature: RecordSignature) -> None:
    message.signature_status = _SIGNATURE[signature.status.value]
    message.signer = signature.signer
    message.signer_key = signature.signer_key.hex().upper()


def _fill_purse(message: cd.Purse, purse: PurseInfo) -> None:
    message.balance_fen = purse.balance_fen
    if purse.application is not None:
        message.application_serial = purse.application.app_serial.hex().upper()


class _NotPlainError(Exception):
    """The document needs ``json_format.ParseDict`` (a value or field kind :func:`_set_plain` does not handle)."""


# How _set_plain treats a field: a scalar it sets, a message (or list of messages) it fills, or ParseDict's.
_STR, _BYTES, _BOOL, _INT, _MESSAGE, _MESSAGES, _OTHER = range(7)
_INT_TYPES = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT32,
              FieldDescriptor.CPPTYPE_UINT64}  # fmt: skip
_Plan = dict[str, tuple[str, int, Any]]  # JSON key -> (field name, treatment, plan of the field's message type)
_PLANS: dict[str, _Plan] = {}
_EXTENSION_KEY = re.compile(r"\[[a-zA-Z0-9\._]*\]$")  # ParseDict's extension keys ("[pkg.ext]"): left to it


def _plan(descriptor: Descriptor) -> _Plan:
    """The treatment of each key of a JSON object for ``descriptor`` (JSON names first, as ParseDict looks them up)."""
    plan = _PLANS.get(descriptor.full_name)
    if plan is not None:
        return plan
    plan = _PLANS[descriptor.full_name] = {}
    for field in descriptor.fields:
        sub: Descriptor | None = field.message_type
        if field.containing_oneof is not None:
            kind = _OTHER
        elif sub is not None:
            special = sub.full_name.startswith("google.protobuf.") or sub.GetOptions().map_entry  # WKT or map
            kind = _OTHER if special else _MESSAGES if field.is_repeated else _MESSAGE
        elif field.is_repeated:
            kind = _OTHER
        elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
            kind = _BYTES if field.type == FieldDescriptor.TYPE_BYTES else _STR
        elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
            kind = _BOOL
        else:
            kind = _INT if field.cpp_type in _INT_TYPES else _OTHER
        plan.setdefault(field.name, (field.name, kind, sub))
    for field in descriptor.fields:
        plan[field.json_name] = plan[field.name]
    for name, (_, kind, sub) in list(plan.items()):
        if kind in (_MESSAGE, _MESSAGES):
            plan[name] = (plan[name][0], kind, _plan(sub))
    return plan


def _is_code(value: Mapping[Any, Any]) -> bool:
    return "code" in value and set(value) <= {"code", "meaning"}


def _set_plain(doc: Mapping[Any, Any], message: Message, plan: _Plan) -> None:
    """``ParseDict(_jsonable(doc), message, ignore_unknown_fields=True)`` for plain documents, in one walk.

    A ``None`` value is dropped, a mapping is a message (a code-table mapping is its code), a list of mappings a
    repeated message; a leaf is converted as :func:`_jsonable` and :func:`_bytes_field` do and then set when it is
    a str for a string field, base64 text for a bytes field, a bool for a bool field or an int for an integer
    field. Unknown keys are converted (as _jsonable would, errors included) and skipped. Anything else raises.
    """
    for key, raw in doc.items():
        if raw is None:
            continue
        entry = plan.get(key)
        if entry is None:
            if _EXTENSION_KEY.match(key):
                raise _NotPlainError(key)
            _bytes_field(key, _jsonable(raw))  # converted and dropped (its conversion errors are the same)
            continue
        name, kind, sub = entry
        kind_of_raw = type(raw)
        if kind_of_raw is str and kind == _STR and key not in _BYTES_FIELDS:
            setattr(message, name, raw)  # the common case, as below; unpaired surrogates are refused: ParseDict then
        elif kind_of_raw is dict or isinstance(raw, Mapping):
            if _is_code(raw):
                _set_scalar(message, name, kind, _bytes_field(key, raw["code"]))
            elif kind == _MESSAGE:
                child = getattr(message, name)
                child.SetInParent()
                _set_plain(raw, child, sub)
            else:
                raise _NotPlainError(key)
        elif kind_of_raw is list or kind_of_raw is tuple:
            if kind != _MESSAGES:
                raise _NotPlainError(key)
            message.ClearField(name)
            repeated = getattr(message, name)
            for item in raw:
                if not isinstance(item, Mapping) or _is_code(item):
                    raise _NotPlainError(key)
                _set_plain(item, repeated.add(), sub)
        else:
            _set_scalar(message, name, kind, _bytes_field(key, _jsonable(raw)))


def _set_scalar(message: Message, name: str, kind: int, value: Any) -> None:
    value_kind = type(value)
    if kind == _STR and value_kind is str:
        setattr(message, name, value)  # the message refuses unpaired surrogates (UnicodeEncodeError): ParseDict then
    elif kind == _BYTES and value_kind is str:
        encoded = value.encode("utf-8")
        setattr(message, name, base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4)))  # as ParseDict
    elif (kind == _BOOL and value_kind is bool) or (kind == _INT and value_kind is int):
        setattr(message, name, value)
    else:
        raise _NotPlainError(name)


def card_data_sections(message: cd.CardData, sections: Collection[Section]) -> dict[str, Any]:
    """The requested sections of a ``CardData`` in the card API's JSON form (for :meth:`CardOps.write`: what
    ``CardUpdate.from_json`` takes), keyed by section name, the same names as the message's fields."""
    doc = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return {s.value: doc.get(s.value, [] if s.tlv_type is None else {}) for s in sections}


def transaction_message(entry: Entry) -> pb.Transaction:
    """A journal entry as ``Transaction``."""
    return pb.Transaction(
        transaction_id=entry.transaction_id,
        request_id=entry.request_id,
        kind=_KIND[entry.kind],
        state=_STATE[entry.state],
        reader=entry.reader,
        card_number=entry.card_number,
        amount_fen=entry.amount_fen,
        balance_before_fen=entry.balance_before_fen or 0,
        balance_after_fen=entry.balance_after_fen or 0,
        card_counter=entry.card_counter or 0,
        terminal_id=entry.terminal_id,
        terminal_serial=entry.terminal_serial or 0,
        tac=entry.tac,
        merchant_id=entry.merchant_id,
        order_id=entry.order_id,
        operator_id=entry.operator_id,
        create_time=timestamp(entry.created_at),
        update_time=timestamp(entry.updated_at),
        void_reason=entry.void_reason,
        settlement_note=entry.settlement_note,
    )


def group_message(group: ReconciliationGroup) -> pb.ReconciliationGroup:
    """A reconciliation group as ``ReconciliationGroup``."""
    return pb.ReconciliationGroup(
        terminal_id=group.terminal_id,
        business_date=group.business_date,
        kind=_KIND[group.kind],
        count=group.count,
        total_fen=group.total_fen,
        transactions=[transaction_message(e) for e in politely(group.entries)],
    )


def audit_message(event: AuditEvent) -> pb.AuditEvent:
    """An audit row as ``AuditEvent``."""
    return pb.AuditEvent(
        event_id=event.event_id,
        event_time=timestamp(event.event_time),
        client=event.client,
        operator_id=event.operator_id,
        reader=event.reader,
        card_number=event.card_number,
        operation=event.operation,
        outcome=event.outcome,
        request_id=event.request_id,
    )
