"""The card registry and its status machine on both ledger backends (docs/host.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon.host.db import LedgerDb
from daemon.host.errors import CardAlreadyRegisteredError, CardNotRegisteredError, CardStatusConflictError
from daemon.host.registry import TRANSITIONS, CardStatus, Registry

FACTOR = "3CB6BF9E00C2C9EA"


def _register(reg: Registry, number: str = "110105198506150030", balance: int = 10000) -> None:
    reg.register(
        card_number=number, masked_id="110105********0030", institution="H001", purse_factor=FACTOR,
        opening_balance_fen=balance, operator_id="op-1", client="test",
    )  # fmt: skip


def test_register_is_idempotent_and_refuses_other_facts(ledger: LedgerDb) -> None:
    reg = Registry(ledger)
    record, created = reg.register(
        card_number="C1", masked_id="1101**********0030", institution="H001", purse_factor=FACTOR.lower(),
        opening_balance_fen=500, operator_id="op-1", client="token:desk",
    )  # fmt: skip
    assert created and record.status is CardStatus.ISSUED and record.purse_factor == FACTOR
    assert record.shadow_balance_fen == 500
    again, created_again = reg.register(
        card_number="C1", masked_id="1101**********0030", institution="H001", purse_factor=FACTOR,
        opening_balance_fen=500, operator_id="op-2", client="token:desk",
    )  # fmt: skip
    assert not created_again and again == record
    with pytest.raises(CardAlreadyRegisteredError):
        reg.register(
            card_number="C1", masked_id="1101**********0030", institution="H001", purse_factor=FACTOR,
            opening_balance_fen=501, operator_id="op-1", client="x",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("masked_id", "110105198506150030"),  # a whole ID number: the host keeps none
        ("masked_id", "no stars"),
        ("purse_factor", "XYZ"),
        ("card_number", "has space"),
        ("operator_id", ""),
    ],
)
def test_register_refuses_bad_input(ledger: LedgerDb, field: str, value: str) -> None:
    args = {
        "card_number": "C2", "masked_id": "1101**********0030", "institution": "H001", "purse_factor": FACTOR,
        "opening_balance_fen": 0, "operator_id": "op", "client": "c",
    }  # fmt: skip
    args[field] = value
    with pytest.raises(DataError) as info:
        Registry(ledger).register(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert Registry(ledger).find("C2") is None


def test_lost_found_lost_records_who_why_when_and_versions_the_list(ledger: LedgerDb) -> None:
    reg = Registry(ledger)
    _register(reg)
    card = "110105198506150030"
    lost, v1 = reg.change_status(card, CardStatus.LOST, operator_id="op-7", reason="holder phoned", client="c1")
    assert lost.status is CardStatus.LOST and lost.status.listed and v1 == 1
    found, v2 = reg.change_status(card, CardStatus.ISSUED, operator_id="op-8", reason="found, ID checked", client="c2")
    assert found.status is CardStatus.ISSUED and v2 == 2
    history = reg.history(*reg.get(card).key)
    assert [(h.from_status, h.to_status, h.operator_id, h.reason) for h in history] == [
        (CardStatus.ISSUED, CardStatus.ISSUED, "op-1", "registered"),
        (CardStatus.ISSUED, CardStatus.LOST, "op-7", "holder phoned"),
        (CardStatus.LOST, CardStatus.ISSUED, "op-8", "found, ID checked"),
    ]
    assert all(h.changed_at.endswith("+00:00") for h in history)
    changes = reg.blacklist_since(0)
    assert [(c.version, c.card_number, c.listed, c.status) for c in changes] == [
        (1, card, True, CardStatus.LOST),
        (2, card, False, CardStatus.ISSUED),
    ]
    assert reg.blacklist_since(1)[0].version == 2 and reg.blacklist_version() == 2


def test_status_conflicts_and_unknown_cards_change_nothing(ledger: LedgerDb) -> None:
    reg = Registry(ledger)
    _register(reg)
    card = "110105198506150030"
    with pytest.raises(CardStatusConflictError):  # 解挂 of a card that is not lost
        reg.change_status(card, CardStatus.ISSUED, operator_id="op", reason="r", client="c")
    reg.change_status(card, CardStatus.CANCELLED, operator_id="op", reason="holder left", client="c")
    with pytest.raises(CardStatusConflictError):  # CANCELLED is final
        reg.change_status(card, CardStatus.LOST, operator_id="op", reason="r", client="c")
    with pytest.raises(CardNotRegisteredError):
        reg.change_status("NOPE", CardStatus.LOST, operator_id="op", reason="r", client="c")
    with pytest.raises(DataError):
        reg.change_status(card, CardStatus.LOST, operator_id="op", reason="  ", client="c")
    assert reg.get(card).status is CardStatus.CANCELLED
    assert len(reg.history(*reg.get(card).key)) == 2 and reg.blacklist_version() == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(list(CardStatus)), max_size=8))
def test_status_machine_matches_its_table(ledger: LedgerDb, steps: list[CardStatus]) -> None:
    """Any sequence of requested changes: the registry follows TRANSITIONS and lists exactly the non-ISSUED (a
    change between two listed statuses, e.g. LOST -> REPLACED, is a list change too: the status daemons show)."""
    reg = Registry(ledger)
    number = f"P{abs(hash(tuple(steps))) % 10**12}"
    if reg.find(number) is None:
        _register(reg, number)
    state = reg.get(number).status
    listed_changes = len([c for c in reg.blacklist_since(0) if c.card_number == number])
    for to in steps:
        if to in TRANSITIONS[state]:
            _, _ = reg.change_status(number, to, operator_id="op", reason="r", client="c")
            listed_changes += int(state.listed or to.listed)  # listed, unlisted or listed for another reason
            state = to
        else:
            with pytest.raises(CardStatusConflictError):
                reg.change_status(number, to, operator_id="op", reason="r", client="c")
        assert reg.get(number).status is state
    ours = [c for c in reg.blacklist_since(0, limit=10_000) if c.card_number == number]
    assert len(ours) == listed_changes
    if ours:
        assert ours[-1].listed == state.listed
