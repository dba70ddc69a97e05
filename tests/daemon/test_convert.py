"""daemon.convert: ReadCard's CardData is the card API's ``CardData.to_json()`` under the same section names.

The JSON part (``fill_json``) sets plain fields directly and hands anything else to ParseDict; these tests compare it
with the ParseDict pipeline it replaced (same message, or the same exception and message), on real card reads and on
generated documents with the awkward cases: JSON names, unknown and extension keys, nulls, wrong types, code-table
values, bytes, dates, unpaired surrogates, out-of-range integers. The photo, visit records and purse are set from
the typed data; a full read checks them against what the card API read.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon.cardops import SimulatedReader
from daemon.convert import _jsonable, card_data_message, fill_card_data, fill_json, timestamp
from healthcard.api import CardData, Section


def _reference(doc: dict[str, Any]) -> cd.CardData:
    """The JSON conversion before the fast path (daemon/convert.py at 27191cd)."""
    return json_format.ParseDict(_jsonable(doc), cd.CardData(), ignore_unknown_fields=True)


def _fast(doc: dict[str, Any]) -> cd.CardData:
    message = cd.CardData()
    fill_json(message, doc)
    return message


def _outcome(convert: Any, doc: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", convert(doc)
    except Exception as exc:  # the comparison includes the error
        return type(exc).__name__, str(exc)


def _full_read(tmp_path: Path) -> CardData:
    """Every section of the demo card, with one signed in-patient and one out-patient record added."""
    reader = SimulatedReader("virtual-0", tmp_path)
    try:
        with reader.session() as card:
            card.add_record("inpatient", {64: "北京协和医院", 66: "20250301"})
            card.add_record("outpatient", {213: "北京协和医院", 215: "20261204093000", 217: "心内科门诊"})
            return card.read(None)
    finally:
        reader.close()


def test_a_full_card_read_converts_as_parse_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _full_read(tmp_path)
    doc = data.to_json()
    assert {"holder", "issuer", "purse", "photo", "inpatient", "outpatient"} <= set(doc)
    json_part = {k: v for k, v in doc.items() if k not in {"photo", "inpatient", "outpatient", "purse"}}
    expected = _reference(json_part)
    parsed: list[object] = []
    monkeypatch.setattr(json_format, "ParseDict", lambda *a, **k: parsed.append(a))
    message = card_data_message(data)
    assert not parsed  # the card's JSON is plain: set field by field
    for name in ("photo", "inpatient", "outpatient", "purse"):
        message.ClearField(name)
    assert message == expected
    assert message.holder.name and message.issuer.issuer_name
    assert message.holder.gender == doc["holder"]["gender"]["code"]  # a code-table value carries its code


def test_photo_visits_and_purse_come_from_the_typed_data(tmp_path: Path) -> None:
    data = _full_read(tmp_path)
    message = card_data_message(data)
    assert data.photo is not None and message.photo == data.photo
    assert base64.b64decode(data.to_json()["photo"]["base64"]) == message.photo
    assert data.purse is not None and data.purse.application is not None
    assert message.purse.balance_fen == data.purse.balance_fen > 0
    assert message.purse.application_serial == data.purse.application.app_serial.hex().upper()
    for kind, records, visits in ((cd.VISIT_KIND_INPATIENT, data.inpatient, message.inpatient),
                                  (cd.VISIT_KIND_OUTPATIENT, data.outpatient, message.outpatient)):  # fmt: skip
        assert records and [v.slot for v in visits] == [r.slot for r in records]
        for record, visit in zip(records, visits, strict=True):
            assert visit.kind == kind and visit.valid == record.valid
            expected = {k: v.hex() if isinstance(v, bytes) else v for k, v in record.items.items()}
            assert dict(visit.items) == expected
            if record.signature is not None:
                assert visit.signer_key == record.signature.signer_key.hex().upper()
    assert any(r.valid and r.items.get(217) == "心内科门诊" for r in data.outpatient or ())
    assert any(r.valid and r.signature is not None for r in data.inpatient or ())


def test_section_fields_are_named_as_the_sections(tmp_path: Path) -> None:
    """Every section the card API read lands in the CardData field of the same name."""
    data = _full_read(tmp_path)
    message = card_data_message(data)
    for section in data.sections:
        if section.tlv_type is not None or section is Section.PURSE:
            assert message.HasField(section.value), section  # type: ignore[arg-type]
        elif section is not Section.PHOTO:
            assert len(getattr(message, section.value)) == len(data.get(section)), section


def test_issuer_certificate_bytes_from_hex() -> None:
    doc = {"issuer": {"issuer_certificate": "00ff10", "issue_date": dt.date(2024, 5, 6)}}
    message = _fast(doc)
    assert message.issuer.issuer_certificate == bytes.fromhex("00ff10") and message.issuer.issue_date == "2024-05-06"
    assert message == _reference(doc)


def test_fill_in_place_equals_the_copied_message(tmp_path: Path) -> None:
    data = _full_read(tmp_path)
    response = pb.ReadCardResponse()
    fill_card_data(response.card, data)
    assert response == pb.ReadCardResponse(card=card_data_message(data))
    empty = pb.ReadCardResponse()
    fill_card_data(empty.card, CardData())
    assert empty.HasField("card") and empty == pb.ReadCardResponse(card=cd.CardData())


_SCALARS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["\ud800", "a\udc00", "", "MTIz", "not base64!", "0A0B", "12", "true"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**31, 2**63, -1]),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
    st.floats(allow_nan=False, width=32),
    st.fixed_dictionaries({"code": st.sampled_from(["1", "01"]), "meaning": st.just("男")}),
)


def _keys(descriptor: Any) -> list[str]:
    names = {f.name for f in descriptor.fields} | {f.json_name for f in descriptor.fields}
    return [*sorted(names), "unknown", "[ext.name]", "issuer_certificate"]


def _object(descriptor: Any) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects for ``descriptor``: its field names and JSON names (and others) with values of any kind."""
    fields = {**{f.name: f for f in descriptor.fields}, **{f.json_name: f for f in descriptor.fields}}

    def value(key: str) -> st.SearchStrategy[Any]:
        field = fields.get(key)
        if field is None or field.message_type is None:
            return st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2))
        sub = _object(field.message_type) if field.message_type.fields else st.just({})
        return st.one_of(_SCALARS, sub, st.lists(st.one_of(sub, _SCALARS), max_size=2))

    pairs = st.sampled_from(_keys(descriptor)).flatmap(lambda key: st.tuples(st.just(key), value(key)))
    return st.lists(pairs, max_size=5).map(dict)


_SAMPLES: list[Any] = [
    "x", "", "张伟", "\ud800", "a\udc00", "MTIz", "0A0B", "not base64!", "12", "true", 0, 1, -1, 2**31, 2**63, 2**70,
    True, False, None, b"\x01", dt.date(2024, 5, 6), 1.0, 1.5, {"code": "1", "meaning": "男"}, {}, {"name": "x"},
    [], ["x"], [{}], [None], [{"substance": "x"}], ("x",),
]  # fmt: skip


def test_every_field_with_every_kind_of_value_converts_as_parse_dict() -> None:
    """Exhaustive: each CardData key (proto and JSON name), and each key of its sections, with each sample value."""
    top = cd.CardData.DESCRIPTOR
    docs: list[dict[str, Any]] = []
    for key in _keys(top):
        docs += [{key: value} for value in _SAMPLES]
        field = {**{f.name: f for f in top.fields}, **{f.json_name: f for f in top.fields}}.get(key)
        if field is not None and field.message_type is not None:
            for sub in _keys(field.message_type):
                docs += [{key: {sub: value}} for value in _SAMPLES]
                docs += [{key: [{sub: value}]} for value in _SAMPLES]
    for doc in docs:
        assert _outcome(_fast, doc) == _outcome(_reference, doc), doc


@settings(max_examples=100, deadline=None)
@given(_object(cd.CardData.DESCRIPTOR))
def test_generated_documents_convert_as_parse_dict(doc: dict[str, Any]) -> None:
    assert _outcome(_fast, doc) == _outcome(_reference, doc)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "card_number": st.text(max_size=20),
            "holder": st.fixed_dictionaries({}, optional={k: st.text(max_size=8) for k in ("name", "gender")}),
            "issuer": st.fixed_dictionaries(
                {}, optional={"issuer_certificate": st.binary(max_size=8), "issue_date": st.dates()}
            ),
            "clinical": st.fixed_dictionaries({}, optional={"asthma": st.booleans(), "abo": st.text(max_size=2)}),
            "purse": st.fixed_dictionaries({}, optional={"balance_fen": st.integers(0, 2**31)}),
            "allergies": st.lists(st.fixed_dictionaries({"substance": st.text(max_size=4)}), max_size=2),
        },
    )
)
def test_card_shaped_documents_convert_as_parse_dict(doc: dict[str, Any]) -> None:
    assert _outcome(_fast, doc) == _outcome(_reference, doc)


def _from_datetime(when: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(dt.UTC))
    return ts


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
        timezones=st.one_of(st.none(), st.builds(dt.timezone, st.timedeltas(-dt.timedelta(hours=23),
                                                                            dt.timedelta(hours=23)))),
    )
)  # fmt: skip
def test_timestamps_are_from_datetime_of_the_utc_time(when: dt.datetime) -> None:
    assert timestamp(when) == _from_datetime(when)


def test_timestamp_edges() -> None:
    for when in (dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC), dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                 dt.datetime(2026, 11, 23, 20, 3, 49, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))):  # fmt: skip
        assert timestamp(when) == _from_datetime(when)
    assert timestamp(None) is None
    assert timestamp(dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC)) == Timestamp(
        seconds=-1, nanos=500_000_000
    )
