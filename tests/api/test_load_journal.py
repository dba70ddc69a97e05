"""LoadJournal and CardSession.recover_load: a load torn at every tear point is recovered exactly once.

Mirrors the debit test in test_purse.py: the journal's ``prepared`` entry (written right before CREDIT FOR LOAD)
is what makes a lost answer recoverable with GET TRANSACTION PROVE type 02 (JR/T 0025.1 CREDIT FOR LOAD, JR/T 0025.1 GET
TRANSACTION PROVE).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from healthcard.api import CardSession, LoadJournal, open_virtual_session
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam
from tests.api.memory_journals import MemoryLoadJournal
from tests.api.tearing import torn_at

WHEN = dt.datetime(2025, 3, 1, 10, 30, 0)
START = 10_000


def test_the_journal_sees_the_load_right_before_and_after_credit_for_load(session: CardSession) -> None:
    journal = MemoryLoadJournal(session)
    assert isinstance(journal, LoadJournal)
    result = session.load(2_500, journal=journal, when=WHEN)
    prepared = journal.prepared_entry
    assert prepared is not None and journal.result == result
    assert journal.card_apdus[1] - journal.card_apdus[0] == 1  # exactly one card APDU between: CREDIT FOR LOAD
    assert (prepared.amount_fen, prepared.balance_before_fen, prepared.when) == (2_500, START, WHEN)
    assert prepared.card_number == session.card_number and prepared.terminal_id == result.terminal_id
    assert prepared.online_counter == result.online_counter
    assert result.balance_fen == START + 2_500 == session.balance()


def test_recover_load_returns_the_tac_of_the_completed_load(session: CardSession) -> None:
    journal = MemoryLoadJournal()
    result = session.load(300, journal=journal, when=WHEN)
    assert journal.prepared_entry is not None
    assert session.recover_load(journal.prepared_entry) == result  # same balance, counter, terminal and TAC


def test_recover_load_of_a_load_never_sent_is_none(session: CardSession) -> None:
    journal = MemoryLoadJournal()
    session.load(300, journal=journal, when=WHEN)
    assert journal.prepared_entry is not None
    later = dataclasses.replace(journal.prepared_entry, online_counter=journal.prepared_entry.online_counter + 1)
    assert session.recover_load(later) is None  # 9406: the card has no load with that counter


def test_load_torn_at_every_point_is_recovered_exactly_once(new_card: Callable[[], VirtualCard]) -> None:
    """Tear the card's power at every tear point of a load (commit points and after every APDU), then recover
    from the journal: the balance rises by the amount exactly once, never twice, never silently lost."""
    amount = 1_200
    with open_virtual_session(card=new_card(), sam=VirtualSam()) as s:
        reference = s.load(amount, when=WHEN)  # the same load untorn: its TAC is what a recovery must return
    outcomes: set[str] = set()
    point = 0
    while True:
        point += 1
        card, sam = new_card(), VirtualSam()
        journal = MemoryLoadJournal()
        if not torn_at(point, card, sam, lambda s: s.load(amount, journal=journal, when=WHEN)):  # noqa: B023 - runs at once
            assert journal.result == reference
            break
        card.power_on()
        with open_virtual_session(card=card, sam=sam) as s:
            balance = s.balance()
            if journal.prepared_entry is None:
                outcomes.add("not prepared")
                assert balance == START
                continue
            recovered = s.recover_load(journal.prepared_entry)
            if recovered is None:
                outcomes.add("not loaded")
                assert balance == START
                retry = s.load(amount, when=WHEN)  # the terminal may safely try again
                assert retry.balance_fen == START + amount == s.balance()
            else:
                outcomes.add("loaded")
                assert balance == START + amount == recovered.balance_fen
                assert recovered == reference  # the card's own TAC of that load
                assert s.recover_load(journal.prepared_entry) == recovered  # asking twice changes nothing
                assert s.balance() == START + amount
    assert point > 5
    assert outcomes == {"not prepared", "not loaded", "loaded"}
