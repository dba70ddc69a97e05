"""The rules of ``CardSession.recover_load`` (healthcard.api.purse.recover_load): proof, detail records and balance.

A load raises the balance, so besides GET TRANSACTION PROVE type 02 (JR/T 0025.1) and the detail records (JR/T 0025.1
transaction detail file) the balance takes part: a proved load must show in it, and without proof or record it
decides alone. These rules were the daemon's (``daemon/cardops.py``) before issue #14 moved them into the card API;
the daemon's load recovery tests (tests/daemon/test_recovery_elsewhere.py, tests/adversarial/test_money_answers.py)
check the same behaviour through the journal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from apdu.errors import HealthCardError, LibraryError
from healthcard.api import CardSession, LoadResult, PreparedLoad, open_virtual_session
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam
from sam.virtual.image import new_sam_image
from tests.api.memory_journals import MemoryLoadJournal

WHEN = dt.datetime(2025, 3, 1, 10, 30, 0)
LATER = dt.datetime(2025, 3, 1, 11, 0, 5)
START = 10_000
OTHER = VirtualSam(new_sam_image(terminal_id=bytes.fromhex("000000000777")))


def _torn_load(card: VirtualCard, sam: VirtualSam, amount: int, point: str) -> PreparedLoad:
    """A load whose power is cut at tear point ``point``; the card is powered on again. Returns the prepared entry."""
    journal = MemoryLoadJournal()
    with open_virtual_session(card=card, sam=sam) as s:
        card.tear = lambda name: name == point
        with pytest.raises(HealthCardError):
            s.load(amount, journal=journal, when=WHEN)
        card.tear = None
    card.power_on()
    assert journal.prepared_entry is not None and journal.result is None
    return journal.prepared_entry


def _recover(card: VirtualCard, sam: VirtualSam, prepared: PreparedLoad) -> tuple[LoadResult | None, int]:
    with open_virtual_session(card=card, sam=sam) as s:
        return s.recover_load(prepared), s.balance()


def test_a_load_the_card_proves_is_confirmed_with_its_tac(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:commit")  # the card credited; its answer was lost
    recovered, balance = _recover(card, sam, prepared)
    assert recovered is not None and len(recovered.tac) == 8
    assert recovered == LoadResult(START + 2_000, prepared.online_counter, prepared.terminal_id, recovered.tac, WHEN)
    assert balance == START + 2_000


def test_a_proved_load_the_balance_does_not_show_is_an_error(session: CardSession) -> None:
    journal = MemoryLoadJournal()
    session.load(300, journal=journal, when=WHEN)
    assert journal.prepared_entry is not None
    wrong = dataclasses.replace(journal.prepared_entry, balance_before_fen=START + 1)  # the journal disagrees
    with pytest.raises(LibraryError, match="proves the load but the balance does not match"):
        session.recover_load(wrong)


def test_a_load_the_card_never_made_is_not_confirmed(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:mac2-verified")  # cut before CREDIT FOR LOAD reached the card
    assert _recover(card, sam, prepared) == (None, START)


def test_a_load_made_then_the_card_used_since_is_confirmed_whatever_the_balance(
    new_card: Callable[[], VirtualCard],
) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:commit")
    with open_virtual_session(card=card, sam=OTHER) as s:
        s.debit(700, when=LATER)  # paid elsewhere: the proof is the purchase's, the balance is not before + amount
    recovered, balance = _recover(card, sam, prepared)
    assert balance == START + 2_000 - 700
    assert recovered == LoadResult(START + 2_000, prepared.online_counter, prepared.terminal_id, "", WHEN)


def test_a_load_the_records_say_never_ran_is_not_confirmed_whatever_the_balance(
    new_card: Callable[[], VirtualCard],
) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:mac2-verified")
    with open_virtual_session(card=card, sam=OTHER) as s:
        s.load(2_000, when=LATER)  # another load took the counter: the balance is before + amount, but not ours
    assert _recover(card, sam, prepared) == (None, START + 2_000)


def test_an_entry_without_terminal_is_settled_by_the_balance_alone(session: CardSession) -> None:
    """A journal row from before the online counter and terminal were kept: nothing to prove, the balance decides."""
    legacy = PreparedLoad("110105198506150030", 500, START, 0, "", WHEN)
    assert session.recover_load(legacy) is None  # balance unchanged
    session.load(500, when=LATER)
    assert session.recover_load(legacy) == LoadResult(START + 500, 0, "", "", WHEN)
    session.load(1, when=LATER)
    with pytest.raises(LibraryError, match="matches neither before nor after"):
        session.recover_load(legacy)
