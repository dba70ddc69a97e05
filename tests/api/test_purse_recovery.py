"""Recovery after the card was used elsewhere: 9406 from GET TRANSACTION PROVE is not "never debited".

The card keeps the proof (MAC ‖ TAC) of its last transaction only (JR/T 0025.1 GET TRANSACTION PROVE); after a later
transaction ``recover_purchase`` / ``recover_load`` must find the prepared one in the EP detail records
(JR/T 0025.1 transaction detail file, SFI 0x18, newest first) instead of voiding a debit the card made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from apdu.errors import HealthCardError, LibraryError
from healthcard.api import (
    CardSession,
    LoadResult,
    PreparedDebit,
    PreparedLoad,
    PurchaseResult,
    PurseRecord,
    open_virtual_session,
)
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam
from sam.virtual.image import new_sam_image
from tests.api.memory_journals import MemoryDebitJournal, MemoryLoadJournal

WHEN = dt.datetime(2025, 3, 1, 10, 30, 0)
LATER = dt.datetime(2025, 3, 1, 11, 0, 5)
START = 10_000
OTHER_TERMINAL = bytes.fromhex("000000000777")


def _tear_at(name: str) -> Callable[[str], bool]:
    return lambda point: point == name


def _torn(card: VirtualCard, sam: VirtualSam, point: str, operation: Callable[[CardSession], object]) -> None:
    """Run ``operation`` with the power cut at ``point``, then power the card on again."""
    with open_virtual_session(card=card, sam=sam) as s:
        card.tear = _tear_at(point)
        with pytest.raises(HealthCardError):
            operation(s)
        card.tear = None
    card.power_on()


def _torn_debit(card: VirtualCard, sam: VirtualSam, amount: int, point: str) -> PreparedDebit:
    """A debit whose power is cut at ``point``; the card is powered on again. Returns the prepared entry."""
    journal = MemoryDebitJournal()
    _torn(card, sam, point, lambda s: s.debit(amount, journal=journal, when=WHEN))
    assert journal.prepared_entry is not None and journal.result is None
    return journal.prepared_entry


def _elsewhere(card: VirtualCard) -> VirtualSam:
    return VirtualSam(new_sam_image(terminal_id=OTHER_TERMINAL))


def test_purse_records_are_typed_and_newest_first(session: CardSession) -> None:
    before = session.purse_records()
    paid = session.debit(250, when=WHEN)
    loaded = session.load(1_000, when=LATER)
    records = session.purse_records()
    assert records[2:] == before[: len(records) - 2]
    assert records[0] == PurseRecord(loaded.online_counter, 0, 1_000, 0x02, loaded.terminal_id, LATER)
    assert records[1] == PurseRecord(paid.card_counter, 0, 250, 0x06, paid.terminal_id, WHEN)
    assert records[1].to_json() == {
        "counter": paid.card_counter, "overdraft_limit_fen": 0, "amount_fen": 250, "transaction_type": 6,
        "terminal_id": paid.terminal_id, "when": "2025-03-01T10:30:00",
    }  # fmt: skip


def test_debit_made_then_card_used_elsewhere_is_recovered_without_tac(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_debit(card, sam, 700, "purchase:commit")  # the card debited; its answer was lost
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        s.debit(300, when=LATER)  # the holder pays at another terminal: the card's proof is now of that purchase
        assert s.balance() == START - 700 - 300
    with open_virtual_session(card=card, sam=sam) as s:
        recovered = s.recover_purchase(prepared)
    assert recovered == PurchaseResult(
        balance_fen=START - 700, card_counter=prepared.offline_counter, terminal_id=prepared.terminal_id,
        terminal_serial=prepared.terminal_serial, tac="", mac2="", when=WHEN,
    )  # fmt: skip


def test_debit_never_made_then_card_used_elsewhere_is_none(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_debit(card, sam, 700, "purchase:mac1-verified")  # cut before the card's commit
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        paid = s.debit(700, when=WHEN)  # same amount and time, other terminal: it takes the same counter
        assert paid.card_counter == prepared.offline_counter
    with open_virtual_session(card=card, sam=sam) as s:
        assert s.recover_purchase(prepared) is None
        assert s.balance() == START - 700


def test_debit_whose_record_was_overwritten_cannot_be_decided(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_debit(card, sam, 100, "purchase:commit")
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        for n in range(10):  # the demo profile's cyclic file keeps 10 records
            s.debit(1, when=LATER + dt.timedelta(seconds=n))
        assert all(r.counter > prepared.offline_counter for r in s.purse_records())
    with open_virtual_session(card=card, sam=sam) as s, pytest.raises(LibraryError, match="cannot be decided"):
        s.recover_purchase(prepared)


def _torn_load(card: VirtualCard, sam: VirtualSam, amount: int, point: str) -> PreparedLoad:
    """A load whose power is cut at ``point``; the card is powered on again. Returns the prepared entry."""
    journal = MemoryLoadJournal()
    _torn(card, sam, point, lambda s: s.load(amount, journal=journal, when=WHEN))
    assert journal.prepared_entry is not None and journal.result is None
    return journal.prepared_entry


def test_load_made_then_card_loaded_again_is_recovered_without_tac(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:commit")
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        s.load(500, when=LATER)  # the proof is now of this load
    with open_virtual_session(card=card, sam=sam) as s:
        recovered = s.recover_load(prepared)
        assert s.balance() == START + 2_000 + 500
    assert recovered == LoadResult(START + 2_000, prepared.online_counter, prepared.terminal_id, "", WHEN)


def test_load_never_made_then_card_loaded_again_is_none(new_card: Callable[[], VirtualCard]) -> None:
    card, sam = new_card(), VirtualSam()
    prepared = _torn_load(card, sam, 2_000, "load:mac2-verified")
    with open_virtual_session(card=card, sam=_elsewhere(card)) as s:
        s.load(2_000, when=WHEN)
    with open_virtual_session(card=card, sam=sam) as s:
        assert s.recover_load(prepared) is None
