"""Purse: balance, load, debit, errors, and a debit torn at every point then recovered (no lost/double debit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from apdu.errors import DataError, InsufficientFundsError, MacError
from healthcard.api import (
    CardSession,
    DemoLoadAuthoriser,
    LoadRequest,
    open_virtual_session,
)
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam
from tests.api.memory_journals import MemoryDebitJournal
from tests.api.tearing import torn_at

WHEN = dt.datetime(2025, 3, 1, 10, 30, 0)


def test_balance_debit_load(session: CardSession) -> None:
    assert session.balance() == 10_000
    journal = MemoryDebitJournal()
    result = session.debit(1_234, journal=journal, when=WHEN)
    assert result.balance_fen == 8_766 == session.balance()
    assert result.card_counter == 0 and result.terminal_id == "000000000001" and result.terminal_serial >= 1
    assert len(result.tac) == 8 and len(result.mac2) == 8 and result.when == WHEN
    assert journal.prepared_entry is not None and journal.prepared_entry.balance_before_fen == 10_000
    assert journal.result == result
    second = session.debit(1, when=WHEN)
    assert second.card_counter == 1 and second.terminal_serial == result.terminal_serial + 1
    loaded = session.load(5_000, when=WHEN)
    assert loaded.balance_fen == 13_765 == session.balance()
    assert loaded.online_counter == 1  # the demo card was loaded once at issuance


def test_load_with_a_host_authoriser(session: CardSession) -> None:
    seen: list[LoadRequest] = []
    demo = DemoLoadAuthoriser.from_demo_keys()

    def host(request: LoadRequest) -> bytes:
        seen.append(request)
        return demo(request)

    assert session.load(100, authoriser=host).balance_fen == 10_100
    assert seen[0].balance_before_fen == 10_000 and seen[0].amount_fen == 100 and len(seen[0].mac1) == 4
    assert "hidden" in repr(demo)


def test_load_refused_by_a_wrong_mac2(session: CardSession) -> None:
    with pytest.raises(MacError):
        session.load(100, authoriser=lambda request: b"\x00\x00\x00\x00")
    assert session.balance() == 10_000


def test_insufficient_funds_is_typed(session: CardSession) -> None:
    with pytest.raises(InsufficientFundsError) as info:
        session.debit(10_001)
    assert info.value.sw == 0x9401 and info.value.info.chinese
    assert session.balance() == 10_000


def test_amounts_are_integer_fen(session: CardSession) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DataError):
            session.debit(bad)  # type: ignore[arg-type]


def test_debit_torn_at_every_point_is_recovered_exactly_once(new_card: Callable[[], VirtualCard]) -> None:
    """Tear the card's power at every tear point of a debit (commit points and after every APDU), then let
    the library recover from its journal: the balance drops by the amount exactly once, never twice, never
    silently lost."""
    amount = 700
    outcomes: set[str] = set()
    point = 0
    while True:
        point += 1
        card, sam = new_card(), VirtualSam()
        journal = MemoryDebitJournal()
        if not torn_at(point, card, sam, lambda s: s.debit(amount, journal=journal, when=WHEN)):  # noqa: B023 - runs at once
            assert journal.result is not None and journal.result.balance_fen == 10_000 - amount
            break
        card.power_on()
        with open_virtual_session(card=card, sam=sam) as s:
            balance = s.balance()
            if journal.prepared_entry is None:
                outcomes.add("not prepared")
                assert balance == 10_000
                continue
            recovered = s.recover_purchase(journal.prepared_entry)
            if recovered is None:
                outcomes.add("not debited")
                assert balance == 10_000
                retry = s.debit(amount, when=WHEN)  # the terminal may safely try again
                assert retry.balance_fen == 10_000 - amount == s.balance()
            else:
                outcomes.add("debited")
                assert balance == 10_000 - amount == recovered.balance_fen
                assert len(recovered.tac) == 8
                assert s.recover_purchase(journal.prepared_entry) == recovered  # asking twice changes nothing
    assert point > 5
    assert outcomes == {"not prepared", "not debited", "debited"}


def test_recover_after_a_later_transaction_is_not_confused(session: CardSession) -> None:
    journal = MemoryDebitJournal()
    session.debit(100, journal=journal, when=WHEN)
    assert journal.prepared_entry is not None
    recovered = session.recover_purchase(journal.prepared_entry)
    assert recovered is not None and journal.result is not None and recovered.tac == journal.result.tac
