"""Reading every section from the in-process virtual card, with the APDU counts the profile allows."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu.errors import LibraryError
from apdu.inprocess import InProcessTransport
from apdu.trace import Tracer, TraceRecorder
from healthcard.api import CardSession, Section, open_virtual_session
from healthcard.cos.card import VirtualCard
from healthcard.virtual import demo_person


def test_card_number_is_a_free_read(session: CardSession) -> None:
    with session.measure() as n:
        assert session.card_number == "110105198506150030"
    assert n == {"card": 2, "sam": 0}  # SELECT DDF1, READ RECORD by identifier 08
    assert len(session.chip_number) == 16


def test_read_identity_one_select_one_authentication(session: CardSession) -> None:
    with session.measure() as n:
        data = session.read({Section.HOLDER})
    assert data.holder == demo_person().holder
    # SELECT DDF1, READ RECORD tag 39 (city factor), GET CHALLENGE, EXTERNAL AUTHENTICATE, 5 × READ RECORD by SFI
    assert n["card"] == 9
    # SELECT MF, SELECT DF01, VERIFY PIN, 80 DE, 80 FA (61xx) + GET RESPONSE
    assert n["sam"] == 6


def test_read_all_matches_the_person(session: CardSession) -> None:
    person = demo_person()
    data = session.read_all()
    assert data.card_number == person.card_number
    assert data.issuer is not None and data.issuer.city_code == "110100"
    assert data.issuer.issue_date is not None and data.issuer.issue_date <= dt.date.today()
    assert data.holder == person.holder
    assert data.addresses == person.addresses and data.contacts == person.contacts
    assert data.documents == person.documents and data.clinical == person.clinical
    # the card lists its cyclic records newest first; issuance appends the person's lists oldest first
    assert data.allergies == person.allergies[::-1] and data.immunisations == person.immunisations[::-1]
    assert data.photo == person.photo and data.special == person.special
    assert data.validity is not None and person.validity is not None and person.validity.phone2
    assert data.validity.phone2 == person.validity.phone2
    assert data.inpatient is not None and [r.valid for r in data.inpatient] == [False] * 3
    assert data.outpatient is not None and len(data.outpatient) == 5
    assert data.purse is not None and data.purse.balance_fen == 10_000
    assert data.purse.application is not None and data.purse.application.app_serial[:2] == b"\x00\x01"
    assert set(data.sections) == set(Section)


def test_read_all_authenticates_once_per_df(session: CardSession) -> None:
    recorder = TraceRecorder()
    session.tracer.add(recorder)
    session.read_all()
    card = [e.command[:5] for e in recorder.events if e.reader == "inprocess:card"]
    assert card.count("00 82") == 4  # RK_DDF1, RK_DF01, RK_DF02, RK_DF03
    assert card.count("00 A4") == 6  # DDF1, DF01, DF02, DF03, purse ADF: 1 each (+ MF after DF03)


def test_counts_need_no_tracer_and_match_the_trace(card: VirtualCard) -> None:
    """The session counts APDUs in its channels: its own tracer stays without observers (nothing formatted)."""
    with open_virtual_session(card=card) as s:
        assert not s.tracer.enabled
        s.read_all()
        counts = s.counts
        assert not s.tracer.enabled
    recorder = TraceRecorder()
    with open_virtual_session(card=card, tracer=Tracer(recorder)) as s:
        s.read_all()
        assert s.counts == counts
    assert counts["card"] == sum(e.reader == "inprocess:card" for e in recorder.events)
    assert counts["sam"] == sum(e.reader == "inprocess:sam" for e in recorder.events) > 0


def test_read_selected_sections_only(session: CardSession) -> None:
    data = session.read({Section.ISSUER, Section.ALLERGIES})
    assert data.sections == (Section.ISSUER, Section.ALLERGIES)
    assert data.holder is None


def test_free_read_without_sam(card: VirtualCard) -> None:
    with CardSession(InProcessTransport(card, name="c")) as s:
        assert s.read({Section.ISSUER}).card_number == "110105198506150030"
        with pytest.raises(LibraryError, match="needs a SAM"):
            s.read({Section.HOLDER})


def test_trace_redacts_the_authentication_cryptogram(card: VirtualCard) -> None:
    recorder = TraceRecorder()
    with open_virtual_session(card=card, tracer=Tracer(recorder)) as s:
        s.read({Section.HOLDER})
    auth = [e for e in recorder.events if e.command.startswith("00 82")]
    assert auth and all("**" in e.command for e in auth)
    pin = [e for e in recorder.events if e.command.startswith("00 20")]
    assert pin and "12 34 56" not in pin[0].command


def test_session_releases_and_disconnects(card: VirtualCard) -> None:
    s = open_virtual_session(card=card)
    with pytest.raises(RuntimeError), s:
        assert card.powered
        raise RuntimeError("boom")
    assert not card.powered
    with pytest.raises(LibraryError, match="not open"):
        s.read()
