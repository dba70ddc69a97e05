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
from daemon.paging import politely

__all__ = [
    "SECTION_NAMES",
    "add_photo_and_visits",
    "audit_message",
    "card_data_message",
    "card_data_sections",
    "fill_card_data",
    "group_message",
    "section_name",
    "set_timestamp",
    "timestamp",
    "transaction_message",
]

# CardSection enum -> the CardData field it fills (also the section names CardOps.read understands). The section's
# own name (audit trail, messages) is the enum name without its prefix, the card API's Section value: section_name().
SECTION_NAMES: dict[int, str] = {
    cd.CARD_SECTION_ISSUER: "issuer",
    cd.CARD_SECTION_HOLDER: "holder",
    cd.CARD_SECTION_PHOTO: "photo",
    cd.CARD_SECTION_VALIDITY: "validity",
    cd.CARD_SECTION_ADDRESSES: "addresses",
    cd.CARD_SECTION_CONTACTS: "contacts",
    cd.CARD_SECTION_OCCUPATION_MARRIAGE: "occupation_marriage",
    cd.CARD_SECTION_DOCUMENTS: "documents",
    cd.CARD_SECTION_CLINICAL: "clinical_flags",
    cd.CARD_SECTION_SPECIAL: "special_info",
    cd.CARD_SECTION_ALLERGIES: "allergies",
    cd.CARD_SECTION_IMMUNISATIONS: "immunisations",
    cd.CARD_SECTION_INPATIENT: "inpatient_records",
    cd.CARD_SECTION_OUTPATIENT: "outpatient_records",
    cd.CARD_SECTION_PURSE: "purse",
}


def section_name(value: int) -> str:
    """``CARD_SECTION_CLINICAL`` -> ``clinical``: the one name of a section in the proto, the card API and the CLI."""
    return cd.CardSection.Name(value).removeprefix("CARD_SECTION_").lower()  # type: ignore[arg-type]


_KIND = {Kind.DEBIT: pb.TRANSACTION_KIND_DEBIT, Kind.LOAD: pb.TRANSACTION_KIND_LOAD}
_SIGNATURE = {"unsigned": cd.SIGNATURE_STATUS_UNSIGNED, "valid": cd.SIGNATURE_STATUS_VALID,
              "untrusted": cd.SIGNATURE_STATUS_UNTRUSTED, "invalid": cd.SIGNATURE_STATUS_INVALID}  # fmt: skip
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

    The sections are the JSON form of the card API's data (:func:`_jsonable`: dates ISO, bytes hex, code-table
    values by code) read by ``json_format.ParseDict`` ignoring unknown fields; :func:`_set_plain` does both in one
    walk for plain documents, and anything else goes through the two steps themselves, with the same result.
    """
    doc = dict(doc)
    photo = doc.pop("photo", None)
    visits = doc.pop("visit_records", None) or []
    try:
        if _is_code(doc):
            raise _NotPlainError("document")
        _set_plain(doc, message, _plan(message.DESCRIPTOR))
    except Exception:  # not plain, or refused by the message: the two steps decide (and raise their own error)
        message.Clear()
        json_format.ParseDict(_jsonable(doc), message, ignore_unknown_fields=True)
    message.SetInParent()  # present even when empty
    add_photo_and_visits(message, photo, visits)


def add_photo_and_visits(message: cd.CardData, photo: Any, visits: Any) -> None:
    """The two parts of the card data that do not go through JSON: the photo as bytes, the visit records."""
    if isinstance(photo, bytes | bytearray):
        message.photo = bytes(photo)
    for visit in visits:
        kind = cd.VISIT_KIND_INPATIENT if visit.get("kind") == "inpatient" else cd.VISIT_KIND_OUTPATIENT
        record = message.visit_records.add(kind=kind, slot=int(visit.get("slot", 0)), valid=bool(visit.get("valid")))
        signature = visit.get("signature")
        if signature is not None:  # a healthcard.codecs.signature.RecordSignature
            record.signature_status = _SIGNATURE[signature.status.value]
            record.signer = signature.signer
            record.signer_key = signature.signer_key.hex().upper()
        for item, value in (visit.get("items") or {}).items():
            record.items[int(item)] = value.hex() if isinstance(value, bytes) else str(value)


class _NotPlainError(Exception):
    """The document needs ``json_format.ParseDict`` (a value or field kind :func:`_set_plain` does not handle)."""


# How _set_plain treats a field: a scalar it sets, a message (or list of messages) it fills, or ParseDict's.
_STR, _BYTES, _BOOL, _INT, _MESSAGE, _MESSAGES, _OTHER = range(7)
_INT_TYPES = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT32,
              FieldDescriptor.CPPTYPE_UINT64}  # fmt: skip
_Plan = dict[str, tuple[str, int, Any]]  # JSON key -> (field name, treatment, plan of the field's message type)
_PLANS: dict[str, _Plan] = {}
_EXTENSION_KEY = re.compile(r"\[[a-zA-Z0-9\._]*\]$")  # ParseDict's extension keys ("[pkg.ext]"): left to it


def _plan(descriptor: Any) -> _Plan:
    """The treatment of each key of a JSON object for ``descriptor`` (JSON names first, as ParseDict looks them up)."""
    plan = _PLANS.get(descriptor.full_name)
    if plan is not None:
        return plan
    plan = _PLANS[descriptor.full_name] = {}
    for field in descriptor.fields:
        sub: Any = field.message_type
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
