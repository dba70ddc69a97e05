"""The rules of ``CardSession.recover_load`` (healthcard.api.purse.recover_load): proof, detail records and balance.

A load raises the balance, so besides GET TRANSACTION PROVE type 02 (JR/T 0025.1) and the detail records (JR/T 0025.1
transaction detail file) the balance takes part: a proved load must show in it, and without proof or record it
decides alone. These rules were the daemon's (``daemon/cardops.py``) before issue #14 moved them into the card API;
the daemon's load recovery tests (tests/daemon/test_recovery_elsewhere.py, tests/adversarial/test_money_answers.py)
check the same behaviour through the journal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from apdu.errors import LibraryError
from healthcard.api import CardSession, LoadResult, PreparedLoad, open_virtual_session
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam
from tests.api.memory_journals import MemoryLoadJournal
from tests.api.test_purse_recovery import LATER, START, WHEN, _elsewhere, _torn_load


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


@pytest.mark.parametrize(
    ("point", "elsewhere", "balance"),
    [
        ("load:commit", lambda s: s.debit(700, when=LATER), START + 2_000 - 700),  # made; the proof now the purchase's
        (
            "load:mac2-verified",
            lambda s: s.load(2_000, when=LATER),
            START + 2_000,
        ),  # never made; a load took the counter
    ],
    ids=["made-then-card-used-since", "never-made-then-loaded-elsewhere"],
)
def test_the_detail_records_decide_whatever_the_balance(
    new_card: Callable[[], VirtualCard], point: str, elsewhere: Callable[[CardSession], object], balance: int
) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, point)
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        elsewhere(s)  # the balance no longer tells: before + amount - 700, or before + amount but not ours
    recovered, now = _recover(card, sam, prepared)
    assert now == balance
    made = LoadResult(START + 2_000, prepared.online_counter, prepared.terminal_id, "", WHEN)
    assert recovered == (made if point == "load:commit" else None)


def test_an_entry_without_terminal_is_settled_by_the_balance_alone(session: CardSession) -> None:
    """A journal row from before the online counter and terminal were kept: nothing to prove, the balance decides."""
    legacy = PreparedLoad("110105198506150030", 500, START, 0, "", WHEN)
    assert session.recover_load(legacy) is None  # balance unchanged
    session.load(500, when=LATER)
    assert session.recover_load(legacy) == LoadResult(START + 500, 0, "", "", WHEN)
    session.load(1, when=LATER)
    with pytest.raises(LibraryError, match="matches neither before nor after"):
        session.recover_load(legacy)
