"""Conversions between the daemon's internal types and the ``healthcard.v1`` messages."""

from __future__ import annotations

import base64
import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon.audit import AuditEvent
from daemon.journal import Entry, Kind, ReconciliationGroup, State

__all__ = [
    "SECTION_NAMES",
    "audit_message",
    "card_data_message",
    "card_data_sections",
    "fill_card_data",
    "group_message",
    "set_timestamp",
    "timestamp",
    "transaction_message",
]

# CardSection enum -> the CardData field it fills (also the section names CardOps.read understands).
SECTION_NAMES: dict[int, str] = {
    cd.CARD_SECTION_ISSUER: "issuer",
    cd.CARD_SECTION_HOLDER: "holder",
    cd.CARD_SECTION_PHOTO: "photo",
    cd.CARD_SECTION_VALIDITY: "validity",
    cd.CARD_SECTION_ADDRESSES: "addresses",
    cd.CARD_SECTION_CONTACTS: "contacts",
    cd.CARD_SECTION_OCCUPATION_MARRIAGE: "occupation_marriage",
    cd.CARD_SECTION_DOCUMENTS: "documents",
    cd.CARD_SECTION_CLINICAL_FLAGS: "clinical_flags",
    cd.CARD_SECTION_SPECIAL_INFO: "special_info",
    cd.CARD_SECTION_ALLERGIES: "allergies",
    cd.CARD_SECTION_IMMUNISATIONS: "immunisations",
    cd.CARD_SECTION_INPATIENT_RECORDS: "inpatient_records",
    cd.CARD_SECTION_OUTPATIENT_RECORDS: "outpatient_records",
    cd.CARD_SECTION_PURSE: "purse",
}
_KIND = {Kind.DEBIT: pb.TRANSACTION_KIND_DEBIT, Kind.LOAD: pb.TRANSACTION_KIND_LOAD}
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


def card_data_message(doc: Mapping[str, Any]) -> cd.CardData:
    """``CardData`` from the JSON form of :meth:`daemon.backend.CardOps.read` (photo as bytes)."""
    message = cd.CardData()
    fill_card_data(message, doc)
    return message


def fill_card_data(message: cd.CardData, doc: Mapping[str, Any]) -> None:
    """Fill an empty ``message`` (e.g. ``ReadCardResponse.card``, no copy) like :func:`card_data_message`.

    The sections go through :func:`_parse_json`, which sets the plain fields directly and leaves anything else
    to ``json_format.ParseDict`` (ignoring unknown fields), with the same result.
    """
    doc = dict(doc)
    photo = doc.pop("photo", None)
    visits = doc.pop("visit_records", None) or []
    _parse_json(_jsonable(doc), message)
    message.SetInParent()  # present even when empty
    if isinstance(photo, bytes | bytearray):
        message.photo = bytes(photo)
    for visit in visits:
        kind = cd.VISIT_KIND_INPATIENT if visit.get("kind") == "inpatient" else cd.VISIT_KIND_OUTPATIENT
        record = message.visit_records.add(kind=kind, slot=int(visit.get("slot", 0)), valid=bool(visit.get("valid")))
        for item, value in (visit.get("items") or {}).items():
            record.items[int(item)] = value.hex() if isinstance(value, bytes) else str(value)


class _NotPlainError(Exception):
    """The JSON needs ``json_format.ParseDict`` (a value or field kind :func:`_set_plain` does not handle)."""


_FIELDS: dict[str, dict[str, FieldDescriptor]] = {}  # message full name -> JSON key -> field
_EXTENSION_KEY = re.compile(r"\[[a-zA-Z0-9\._]*\]$")  # ParseDict's extension keys ("[pkg.ext]"): left to it
_INT_TYPES = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT32,
              FieldDescriptor.CPPTYPE_UINT64}  # fmt: skip


def _parse_json(js: dict[str, Any], message: Message) -> None:
    """``json_format.ParseDict(js, message, ignore_unknown_fields=True)`` for an empty ``message``, faster.

    Plain JSON (strings, bools, ints, base64 bytes, nested objects, lists of objects: what the card API's
    sections give) is set field by field, with ParseDict's rules: a key names a field by its JSON name first,
    then its proto name; unknown keys are skipped; a bytes field takes base64 (``urlsafe_b64decode`` with padding
    added). Anything else (a null, a string for a number, enums, maps, well-known types, oneofs, extensions), and
    any value the message refuses, makes the whole message go through ParseDict instead, so its result and its
    errors (``ParseError``) stay exactly ParseDict's.
    """
    try:
        _set_plain(js, message)
    except Exception:  # not plain, or refused by the message: ParseDict decides (and raises its own error)
        message.Clear()
        json_format.ParseDict(js, message, ignore_unknown_fields=True)


def _fields(descriptor: Any) -> dict[str, FieldDescriptor]:
    fields = _FIELDS.get(descriptor.full_name)
    if fields is None:
        fields = {f.name: f for f in descriptor.fields}
        fields.update({f.json_name: f for f in descriptor.fields})  # ParseDict tries the JSON name first
        _FIELDS[descriptor.full_name] = fields
    return fields


def _set_plain(js: Mapping[str, Any], message: Message) -> None:
    fields = _fields(message.DESCRIPTOR)
    for name, value in js.items():
        field = fields.get(name)
        if field is None:
            if _EXTENSION_KEY.match(name):
                raise _NotPlainError(name)
            continue  # unknown key: ignored
        if value is None or field.containing_oneof is not None:
            raise _NotPlainError(name)
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            kind: Any = field.message_type
            if kind.full_name.startswith("google.protobuf.") or kind.GetOptions().map_entry:
                raise _NotPlainError(name)  # a well-known type or a map
            if field.is_repeated:
                if not isinstance(value, list | tuple):
                    raise _NotPlainError(name)
                message.ClearField(field.name)
                repeated = getattr(message, field.name)
                for item in value:
                    if not isinstance(item, dict):
                        raise _NotPlainError(name)
                    _set_plain(item, repeated.add())
            else:
                if not isinstance(value, dict):
                    raise _NotPlainError(name)
                sub = getattr(message, field.name)
                sub.SetInParent()
                _set_plain(value, sub)
        elif field.is_repeated:
            raise _NotPlainError(name)
        else:
            setattr(message, field.name, _plain_scalar(field, value))


def _plain_scalar(field: FieldDescriptor, value: Any) -> Any:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_STRING and type(value) is str:
        if field.type != FieldDescriptor.TYPE_BYTES:
            return value  # the message refuses unpaired surrogates (UnicodeEncodeError): ParseDict then
        encoded = value.encode("utf-8")
        return base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4))  # as ParseDict
    if kind == FieldDescriptor.CPPTYPE_BOOL and type(value) is bool:
        return value
    if kind in _INT_TYPES and type(value) is int:
        return value
    raise _NotPlainError(field.name)


def card_data_sections(message: cd.CardData, sections: list[str]) -> dict[str, Any]:
    """The JSON form of the requested sections of a ``CardData`` (for :meth:`CardOps.write`)."""
    doc = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return {name: doc.get(name, {}) for name in sections}


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
    )


def group_message(group: ReconciliationGroup) -> pb.ReconciliationGroup:
    """A reconciliation group as ``ReconciliationGroup``."""
    return pb.ReconciliationGroup(
        terminal_id=group.terminal_id,
        business_date=group.business_date,
        kind=_KIND[group.kind],
        count=group.count,
        total_fen=group.total_fen,
        transactions=[transaction_message(e) for e in group.entries],
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
