"""Partial writes (issue #11 item 4) as a property: a random subset of fields written, another random subset
cleared — every other field of the card is unchanged, and the section equals the merge."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthcard.api import CardSession, CardUpdate, Section, open_virtual_session
from healthcard.codecs import TlvFile
from healthcard.codecs.codetables import table
from healthcard.codecs.fields import FieldSpec, Kind
from healthcard.cos.card import VirtualCard
from healthcard.image import loads

#: Sections whose fields are independent of each other (holder, issuer and documents check fields together).
SECTIONS = (Section.VALIDITY, Section.ADDRESSES, Section.CONTACTS, Section.OCCUPATION_MARRIAGE, Section.CLINICAL)
TLV_SECTIONS = {s for s in Section if s.tlv_type is not None}


def _value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.kind is Kind.TEXT:
        return st.text(alphabet="张王李芳强院区号0123456789-", min_size=1, max_size=spec.element.length // 2)
    if spec.kind is Kind.DATE:
        return st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31))
    if spec.kind is Kind.CODE:
        assert spec.element.table is not None
        return st.sampled_from(sorted(table(spec.element.table).entries))
    assert spec.kind is Kind.FLAG, spec.kind
    return st.booleans()


@st.composite
def _changes(draw: st.DrawFn) -> tuple[Section, dict[str, Any], list[str]]:
    section = draw(st.sampled_from(SECTIONS))
    kind = section.tlv_type
    assert kind is not None
    roles = draw(st.lists(st.sampled_from(("keep", "set", "clear")), min_size=len(kind.FIELDS),
                          max_size=len(kind.FIELDS)))  # fmt: skip
    changes = {spec.attr: draw(_value(spec)) for spec, role in zip(kind.FIELDS, roles, strict=True) if role == "set"}
    clear = [spec.attr for spec, role in zip(kind.FIELDS, roles, strict=True) if role == "clear"]
    return section, changes, clear


def _as_json(kind: type[TlvFile], changes: dict[str, Any]) -> dict[str, Any]:
    specs = {spec.attr: spec for spec in kind.FIELDS}
    return {name: specs[name].to_json(value) for name, value in changes.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_changes())
def test_random_partial_write_changes_exactly_the_fields_given(
    demo_image: str, change: tuple[Section, dict[str, Any], list[str]]
) -> None:
    section, changes, clear = change
    kind = section.tlv_type
    assert kind is not None
    with open_virtual_session(card=VirtualCard(loads(demo_image))) as s:
        before = s.read(TLV_SECTIONS)
        doc = {section.value: _as_json(kind, changes), "clear": [f"{section.value}.{name}" for name in clear]}
        assert s.update(doc) == (section,)
        after = s.read(TLV_SECTIONS)
        for other in TLV_SECTIONS - {section}:
            assert after.get(other) == before.get(other), other
        old = before.get(section)
        new = after.get(section)
        for spec in kind.FIELDS:
            if spec.attr in changes:
                assert getattr(new, spec.attr) == changes[spec.attr], spec.attr
            elif spec.attr in clear:
                assert getattr(new, spec.attr) is None, spec.attr
            else:
                assert getattr(new, spec.attr) == getattr(old, spec.attr), spec.attr


def test_typed_write_keeps_none_fields_and_write_section_replaces(session: CardSession) -> None:
    before = session.read({Section.VALIDITY}).validity
    assert before is not None and before.phone1
    session.update(CardUpdate.from_json({"validity": {"phone2": "123"}}))
    assert session.read({Section.VALIDITY}).validity == before.replace(phone2="123")
    session.write_section(Section.VALIDITY, before.replace(phone1=None))  # the whole section, as given
    assert session.read({Section.VALIDITY}).validity == before.replace(phone1=None)


def test_an_update_that_changes_nothing_sends_no_write(session: CardSession) -> None:
    fresh = session.read({Section.HOLDER})
    assert fresh.holder is not None
    with session.measure() as n:
        assert session.update({"holder": {"name": fresh.holder.name}}, previous=fresh) == (Section.HOLDER,)
    assert n == {"card": 0, "sam": 0}
