"""Clearing on both backends: real TACs from the virtual card verified, uploads exactly once, shadow balances,
forged TACs and missing counters flagged (clearing practice, sources.md H1; clearing practice, sources.md H2, clearing
practice, sources.md H5)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon.host.clearing import Clearing, Upload, gaps_of
from daemon.host.db import LedgerDb
from daemon.host.keystore import DemoKeyStore
from daemon.host.registry import Registry
from healthcard.api import open_virtual_session


@dataclasses.dataclass(frozen=True)
class CardRun:
    card_number: str
    factor: str
    opening: int
    uploads: list[Upload]


def _stamp(when: _dt.datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def _utc(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).isoformat(timespec="microseconds")


@pytest.fixture(scope="module")
def run() -> CardRun:
    """A demo card: 4 debits and 1 load through the card API (real TACs), as a daemon would upload them."""
    uploads: list[Upload] = []
    with open_virtual_session() as s:
        number = s.card_number
        factor = s._purse_ctx().factor().hex().upper()  # EF15 bytes 12..19, as the daemon reads it
        opening = s.balance()
        balance = opening
        for i, amount in enumerate((120, 250, 75, 1)):
            r = s.debit(amount)
            uploads.append(
                Upload(
                    f"d{i}",
                    "debit",
                    number,
                    amount,
                    balance,
                    r.balance_fen,
                    r.card_counter,
                    r.terminal_id,
                    r.terminal_serial,
                    r.tac,
                    _stamp(r.when),
                    _utc(r.when),
                    "2026-12-04",
                    f"M{i % 2}",
                    f"c{i % 2}",
                    f"order-{i}",
                )
            )
            balance = r.balance_fen
        load = s.load(300)
        uploads.append(
            Upload(
                "l0",
                "load",
                number,
                300,
                balance,
                load.balance_fen,
                load.online_counter,
                load.terminal_id,
                0,
                load.tac,
                _stamp(load.when),
                _utc(load.when),
                "2026-12-04",
                "",
                "c0",
                "top-up",
            )
        )
    return CardRun(number, factor, opening, uploads)


@pytest.fixture
def clearing(ledger: LedgerDb, run: CardRun) -> Iterator[Clearing]:
    registry = Registry(ledger)
    registry.register(
        card_number=run.card_number,
        masked_id="110105********0030",
        institution="H001",
        purse_factor=run.factor,
        opening_balance_fen=run.opening,
        operator_id="issuer",
        client="t",
    )
    yield Clearing(ledger, registry, DemoKeyStore.from_demo_keys())


def test_verified_uploads_move_the_shadow_balance_once(clearing: Clearing, run: CardRun) -> None:
    first = clearing.record("kiosk-a", run.uploads)
    assert [(r.duplicate, r.tac_status) for r in first] == [(False, "VERIFIED")] * 5
    again = clearing.record("kiosk-a", run.uploads[::-1])  # a retry, in any order
    assert all(r.duplicate and r.tac_status == "VERIFIED" for r in again)
    card = clearing.registry.get(run.card_number)
    assert card.shadow_balance_fen == run.uploads[-1].balance_after_fen == run.opening - 446 + 300
    assert clearing.last_seen_balance(clearing.registry.get(run.card_number)) == card.shadow_balance_fen
    assert (
        clearing.gaps(clearing.registry.get(run.card_number)) == []
        and clearing.tac_failures(clearing.registry.get(run.card_number)) == 0
    )
    page = clearing.entries(clearing.registry.get(run.card_number), limit=3)
    rest = clearing.entries(clearing.registry.get(run.card_number), limit=3, token=page.next_token)
    assert [e.upload.transaction_id for e in page.rows + rest.rows] == ["l0", "d3", "d2", "d1", "d0"]
    assert rest.next_token == ""


def test_a_forged_tac_is_flagged_and_not_booked(clearing: Clearing, run: CardRun) -> None:
    genuine = run.uploads[0]
    forged = dataclasses.replace(
        genuine, transaction_id="forged", amount_fen=1, balance_after_fen=genuine.balance_before_fen - 1
    )
    tampered_tac = dataclasses.replace(genuine, transaction_id="bad-tac", tac=f"{int(genuine.tac, 16) ^ 1:08X}")
    results = clearing.record("kiosk-b", [forged, tampered_tac])
    assert [r.tac_status for r in results] == ["FAILED", "FAILED"]
    assert clearing.registry.get(run.card_number).shadow_balance_fen == run.opening
    assert clearing.tac_failures(clearing.registry.get(run.card_number)) == 2


def test_a_missing_counter_is_a_gap(clearing: Clearing, run: CardRun) -> None:
    debits = [u for u in run.uploads if u.kind == "debit"]
    clearing.record("kiosk-a", [debits[0], debits[3]])  # counters n and n+3: n+1 and n+2 never arrived
    (gap,) = clearing.gaps(clearing.registry.get(run.card_number))
    assert (gap.kind, gap.first_missing, gap.last_missing) == (
        "debit",
        debits[0].card_counter + 1,
        debits[3].card_counter - 1,
    )
    clearing.record("kiosk-b", [debits[1], debits[2]])  # they arrive later from another kiosk
    assert clearing.gaps(clearing.registry.get(run.card_number)) == []


def test_unknown_card_and_missing_tac_are_recorded_not_booked(clearing: Clearing, run: CardRun) -> None:
    stranger = dataclasses.replace(run.uploads[0], transaction_id="s1", card_number="UNREGISTERED1")
    no_tac = dataclasses.replace(run.uploads[1], transaction_id="n1", tac="")
    assert [r.tac_status for r in clearing.record("k", [stranger, no_tac])] == ["UNKNOWN_CARD", "MISSING"]
    assert clearing.registry.get(run.card_number).shadow_balance_fen == run.opening


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_fen": 0}, "amount_fen"),
        ({"balance_after_fen": 1}, "balance_after_fen"),
        ({"terminal_id": "XYZ"}, "terminal_id"),
        ({"tac": "12"}, "tac"),
        ({"card_time": "2026-12-04"}, "card_time"),
        ({"kind": "refund"}, "kind"),
        ({"transaction_id": ""}, "transaction_id"),
    ],
)
def test_malformed_uploads_are_refused_and_nothing_is_recorded(
    clearing: Clearing, run: CardRun, change: dict[str, object], field: str
) -> None:
    bad = dataclasses.replace(run.uploads[1], **change)  # type: ignore[arg-type]
    with pytest.raises(DataError) as info:
        clearing.record("k", [run.uploads[0], bad])
    assert info.value.field == f"transactions[1].{field}"
    assert clearing.entries(clearing.registry.get(run.card_number), limit=10).rows == []


@given(st.lists(st.tuples(st.sampled_from(["debit", "load"]), st.integers(0, 40)), max_size=30))
def test_gaps_match_a_brute_force_count(pairs: list[tuple[str, int]]) -> None:
    ordered = sorted(set(pairs))
    gaps = gaps_of(ordered)
    for kind in ("debit", "load"):
        seen = {c for k, c in ordered if k == kind}
        expected = set(range(min(seen), max(seen) + 1)) - seen if seen else set()
        got = {c for g in gaps if g.kind == kind for c in range(g.first_missing, g.last_missing + 1)}
        assert got == expected


def test_settlement_per_cashier_department_terminal_and_cash(clearing: Clearing, run: CardRun) -> None:
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415
    import json  # noqa: PLC0415

    from daemon.host.settlement import settle  # noqa: PLC0415

    clearing.record("kiosk-a", run.uploads[:2])
    clearing.record("kiosk-b", run.uploads[2:])
    forged = dataclasses.replace(run.uploads[0], transaction_id="forged", tac="00000000")
    clearing.record("kiosk-b", [forged])
    day = settle(clearing.db, "2026-12-04", {"c0": 300, "c1": 5})
    ops = {(g.key, g.kind): g for g in day.groups if g.dimension == "operator"}
    # c0: debits d0 (120), d2 (75) and the forged copy of d0 (recorded, not verified); c1: d1 (250), d3 (1)
    assert (ops["c0", "debit"].count, ops["c0", "debit"].amount_fen) == (3, 315)
    assert (ops["c0", "debit"].verified_count, ops["c0", "debit"].verified_amount_fen) == (2, 195)
    assert ops["c1", "debit"].verified_amount_fen == 251 and ops["c0", "load"].verified_amount_fen == 300
    merchants = {(g.key, g.kind): g.verified_amount_fen for g in day.groups if g.dimension == "merchant"}
    assert merchants == {("M0", "debit"): 195, ("M1", "debit"): 251, ("", "load"): 300}
    terminals = {g.key for g in day.groups if g.dimension == "terminal"}
    assert terminals == {"kiosk-a:000000000001", "kiosk-b:000000000001"}
    assert [(c.operator_id, c.expected_fen, c.declared_fen, c.difference_fen) for c in day.cash] == [
        ("c0", 300, 300, 0),
        ("c1", 0, 5, 5),
    ]
    verified = [g for g in day.groups if g.dimension == "operator"]
    net = sum(g.verified_amount_fen * (1 if g.kind == "load" else -1) for g in verified)
    card = clearing.registry.get(run.card_number)
    assert net == card.shadow_balance_fen - card.opening_balance_fen  # the day's settlement = the card's change
    rows = list(csv.DictReader(io.StringIO(day.to_csv())))
    assert len(rows) == len(day.groups) + len(day.cash) and rows[0]["business_date"] == "2026-12-04"
    assert json.loads(day.to_json())["total_debits_fen"] == day.total_debits_fen == 566
    assert settle(clearing.db, "2026-12-05").groups == []
    with pytest.raises(DataError):
        settle(clearing.db, "04.12.2026")


def test_audit_finds_what_it_should(clearing: Clearing, run: CardRun) -> None:
    from daemon.host.audit import run_audit  # noqa: PLC0415
    from daemon.host.registry import CardStatus  # noqa: PLC0415

    debits = [u for u in run.uploads if u.kind == "debit"]
    assert run_audit(clearing.db) == []
    clearing.record("kiosk-a", [debits[0], debits[3]])  # a gap of two debits
    clearing.record("kiosk-a", [dataclasses.replace(debits[1], transaction_id="forged", tac="00000000")])
    kinds = sorted(f.kind for f in run_audit(clearing.db))
    # the forged record is the newest: its balance is not the shadow balance
    assert kinds == ["COUNTER_GAP", "SHADOW_MISMATCH", "TAC_FAILED"]
    clearing.registry.change_status(run.card_number, CardStatus.LOST, operator_id="o", reason="lost", client="t")
    later = dataclasses.replace(
        debits[2],
        transaction_id="after-loss",
        transaction_time=_utc(_dt.datetime.now(_dt.UTC) + _dt.timedelta(minutes=5)),
    )
    clearing.record("kiosk-b", [later])
    listed = [f for f in run_audit(clearing.db) if f.kind == "LISTED_ACTIVITY"]
    assert [(f.card_number, f.node_id) for f in listed] == [(run.card_number, "kiosk-b")]
    clearing.registry.register(
        card_number="IDLE1",
        masked_id="1*1",
        institution="H",
        purse_factor="00" * 8,
        opening_balance_fen=0,
        operator_id="o",
        client="t",
    )
    future = _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=400)
    far = run_audit(clearing.db, now=future)
    assert {f.node_id for f in far if f.kind == "SILENT_TERMINAL"} == {"kiosk-a", "kiosk-b"}
    assert [f.card_number for f in far if f.kind == "DEAD_ACCOUNT"] == ["IDLE1"]  # the lost card is not ISSUED


def test_an_upload_whose_purse_factor_the_registry_does_not_hold_is_flagged_not_booked(
    clearing: Clearing, run: CardRun
) -> None:
    """The physical card is KH + purse factor: an upload naming a factor the registry has not got for the KH (another
    chip claiming the holder's number) is recorded as UNKNOWN_CARD and moves no balance, even with a TAC that the
    registered card's key would accept; the right factor books it."""
    genuine = run.uploads[0]
    other_chip = dataclasses.replace(genuine, transaction_id="x0", purse_factor="00010000000000FF")
    (result,) = clearing.record("kiosk-a", [other_chip])
    assert result.tac_status == "UNKNOWN_CARD" and not result.duplicate
    card = clearing.registry.get(run.card_number)
    assert card.shadow_balance_fen == run.opening
    (right,) = clearing.record("kiosk-a", [dataclasses.replace(genuine, purse_factor=run.factor.lower())])
    assert right.tac_status == "VERIFIED"
    assert clearing.registry.get(run.card_number).shadow_balance_fen == genuine.balance_after_fen
    with pytest.raises(DataError) as info:
        clearing.record("kiosk-a", [dataclasses.replace(genuine, transaction_id="x1", purse_factor="XYZ")])
    assert info.value.field == "transactions[0].purse_factor"
