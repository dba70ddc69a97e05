"""Operator queries (issue #13): indexed filters, keyset pages, reads beside the writer, the paged report."""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from benchmarks.journal_data import fill_journal
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.database import Database
from daemon.journal import LIST_KEYSET, REPORT_KEYSET, Journal, Kind, State
from daemon.paging import PageTokenError
from daemon.server import Daemon
from daemon.service import UNPAGED_REPORT_MAX

DAY = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "journal.db")
    yield database
    database.close()


def _plans(db: Database, calls: list[tuple[str, tuple[object, ...]]]) -> list[list[str]]:
    explain = Database.query  # the class's, not the capturing wrapper
    return [[row["detail"] for row in explain(db, "EXPLAIN QUERY PLAN " + sql, params)] for sql, params in calls]


def _capture(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[object, ...]]]:
    calls: list[tuple[str, tuple[object, ...]]] = []
    real = db.query

    def query(sql: str, params: tuple[object, ...] = ()) -> list[object]:
        calls.append((sql, params))
        return real(sql, params)  # type: ignore[return-value]

    monkeypatch.setattr(db, "query", query)
    return calls


def test_every_listing_filter_seeks_an_index(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """No combination of ListTransactions' filters scans the table or sorts more than the open entries."""
    fill_journal(db, 2000, end=DAY)
    journal = Journal(db)
    calls = _capture(db, monkeypatch)
    token = LIST_KEYSET.encode(["2025-12-31T12:00:00.000000+00:00", 1500])
    states: list[State | None] = [None, *State]
    for card, state, start, end, page_token in itertools.product(
        ["", "C000000007"], states, [None, DAY - _dt.timedelta(days=1)], [None, DAY], ["", token]
    ):
        journal.list_entries(card_number=card, state=state, start=start, end=end, page_token=page_token, limit=5)
    plans = _plans(db, calls)
    assert len(plans) == 2 * 6 * 2 * 2 * 2
    for (sql, params), plan in zip(calls, plans, strict=True):
        if "card_number = ?" in sql:
            index = "transactions_card_created"
        elif "state = 'confirmed'" in sql or "state = 'voided'" in sql:
            index = f"transactions_{sql.split('state = ')[1].split(chr(39))[1]}"
        elif "state = " in sql:  # an open state: the partial index of open entries, a few rows, sorted
            assert plan == ["SCAN transactions USING INDEX transactions_open_card", "USE TEMP B-TREE FOR ORDER BY"]
            continue
        else:
            index = "transactions_created"
        # one step on the filter's own index: a seek to the cursor, window or card, or (first page) from its end
        where = sql.split(" WHERE ", 1)[1].split(" ORDER BY ")[0] if " WHERE " in sql else ""
        bounded = "created_at" in where or "card_number" in where
        head = f"{'SEARCH' if bounded else 'SCAN'} transactions USING INDEX {index}"
        assert len(plan) == 1 and plan[0].startswith(head), (sql, params, plan)


def test_report_queries_seek_the_report_index(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_journal(db, 2000, end=DAY)
    journal = Journal(db)
    calls = _capture(db, monkeypatch)
    day = "2025-12-31"
    journal.reconciliation_size(day)
    journal.reconciliation_entries(day, page_token=REPORT_KEYSET.encode(["T00000000001", "debit", 5, 9]))
    _, token = journal.reconciliation_entries(day, terminal_id="T00000000001", limit=3)
    journal.reconciliation_entries(day, terminal_id="T00000000001", page_token=token)
    for (sql, _), plan in zip(calls, _plans(db, calls), strict=True):
        assert len(plan) == 1 and plan[0].startswith("SEARCH transactions USING"), sql
        assert "INDEX transactions_report (business_date=?" in plan[0], sql
    # the totals (read in their own snapshot, not through Database.query)
    totals = db.query(
        "EXPLAIN QUERY PLAN SELECT terminal_id, kind, COUNT(*), SUM(amount_fen) FROM transactions INDEXED BY"
        " transactions_report WHERE business_date = ? AND state = 'confirmed' GROUP BY terminal_id, kind",
        (day,),
    )
    assert [r["detail"] for r in totals] == [
        "SEARCH transactions USING COVERING INDEX transactions_report (business_date=?)"
    ]


def test_a_token_of_another_window_or_listing_is_refused(db: Database) -> None:
    fill_journal(db, 300, end=DAY)
    journal = Journal(db)
    _, token = journal.list_entries(limit=2)
    with pytest.raises(PageTokenError):  # its rows are newer than this window's end
        journal.list_entries(limit=2, page_token=token, end=DAY - _dt.timedelta(days=1))
    with pytest.raises(PageTokenError):  # a report token is no listing token
        journal.list_entries(page_token=REPORT_KEYSET.encode(["T", "debit", 1, 1]))
    with pytest.raises(DataError, match="page_token"):
        journal.reconciliation_entries("2025-12-31", page_token=token)


def _begin_at(journal: Journal, monkeypatch: pytest.MonkeyPatch, request_id: str, when: _dt.datetime) -> str:
    monkeypatch.setattr("daemon.journal._now", lambda: when)
    entry, _ = journal.begin(request_id=request_id, kind=Kind.DEBIT, reader="virtual-0", amount_fen=1)
    return entry.transaction_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=25),
    inserted=st.lists(st.integers(min_value=-5, max_value=40), max_size=12),
    limit=st.integers(min_value=1, max_value=6),
)
def test_pages_hold_every_entry_once_while_entries_are_added(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    offsets: list[int],
    inserted: list[int],
    limit: int,
) -> None:
    """Keyset paging under concurrent inserts: same-microsecond ties and a clock that steps back included."""
    db = Database(tmp_path_factory.mktemp("paging") / "j.db")
    journal = Journal(db)
    at = [DAY + _dt.timedelta(microseconds=o) for o in offsets]
    before = {_begin_at(journal, monkeypatch, f"old-{i}", when) for i, when in enumerate(at)}
    added: set[str] = set()
    seen: list[str] = []
    token = ""
    pending = list(inserted)
    while True:
        page, token = journal.list_entries(limit=limit, page_token=token)
        seen.extend(e.transaction_id for e in page)
        if pending:  # another client debits between two pages (its clock may be behind the rows listed)
            offset = pending.pop()
            added.add(_begin_at(journal, monkeypatch, f"new-{len(added)}", DAY + _dt.timedelta(microseconds=offset)))
        if not token:
            break
    assert len(seen) == len(set(seen))  # nothing twice
    assert before <= set(seen) <= before | added  # everything that was there, once
    db.close()


def test_paged_report_equals_the_unpaged_one(db: Database) -> None:
    fill_journal(db, 5000, per_day=2500, terminals=3, end=DAY)
    journal = Journal(db)
    day = "2025-12-30"  # entries 1 .. 2500, entry 3 left prepared
    groups, open_count = journal.reconciliation(day)
    totals, paged_open = journal.reconciliation_totals(day)
    assert paged_open == open_count == 1  # the synthetic day holds one entry left prepared
    assert [(g.terminal_id, g.kind, g.count, g.total_fen) for g in groups] == [
        (g.terminal_id, g.kind, g.count, g.total_fen) for g in totals
    ]
    pages: list[list[str]] = []
    token = ""
    while True:
        page, token = journal.reconciliation_entries(day, limit=333, page_token=token)
        pages.append([e.transaction_id for e in page])
        if not token:
            break
    flat = [tid for page in pages for tid in page]
    assert flat == [e.transaction_id for g in groups for e in g.entries]
    assert len(flat) == sum(g.count for g in totals) == journal.reconciliation_size(day) > 2000
    one = journal.reconciliation_entries(day, terminal_id="T00000000002", limit=10_000)[0]
    assert [e.transaction_id for e in one] == [
        e.transaction_id for g in groups if g.terminal_id == "T00000000002" for e in g.entries
    ]


def test_reads_do_not_wait_for_an_open_write(db: Database) -> None:
    """A write transaction held open (a Debit between its journal rows) does not hold up a listing."""
    journal = Journal(db)
    fill_journal(db, 50, end=DAY)
    entered, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction(durable=False) as conn:
            conn.execute("UPDATE transactions SET void_reason = 'x' WHERE seq = 1")
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert entered.wait(10)
        result: list[int] = []
        reader = threading.Thread(target=lambda: result.append(len(journal.list_entries(limit=100)[0])))
        reader.start()
        reader.join(10)
        assert result == [50]  # read while the writer still holds its transaction (the old code waited for it)
        assert journal.get("00000000000000000000000000000001") is not None
        assert journal.get("00000000000000000000000000000001").void_reason == ""  # type: ignore[union-attr]
    finally:
        release.set()
        thread.join(10)
    assert db.query("PRAGMA query_only")[0][0] == 1  # the read connections cannot write


def test_a_100k_entry_day_pages_within_default_client_limits(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    fill_journal(daemon.db, 100_000, per_day=100_000, end=DAY)
    day = "2025-12-31"
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"more than {UNPAGED_REPORT_MAX}" in str(refused.value.details())
    first = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day, page_size=1000))
    assert first.open_count == 1
    count = sum(g.count for g in first.groups)
    total = sum(g.total_fen for g in first.groups)
    assert count == 100_000 - 1000 - 1  # the synthetic day's voided and prepared entries are not in it
    seen = list(first.transactions)
    token = first.next_page_token
    while token:
        page = stub.GetReconciliationReport(
            pb.GetReconciliationReportRequest(business_date=day, page_size=1000, page_token=token)
        )
        assert not page.groups and len(page.transactions) <= 1000
        seen.extend(page.transactions)
        token = page.next_page_token
    assert len(seen) == count and len({t.transaction_id for t in seen}) == count
    assert sum(t.amount_fen for t in seen) == total
    assert all(t.state == pb.TRANSACTION_STATE_CONFIRMED and len(t.tac) == 8 for t in seen)
    with pytest.raises(grpc.RpcError) as bad:
        stub.GetReconciliationReport(
            pb.GetReconciliationReportRequest(business_date=day, page_size=10, page_token="not-a-token")
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_list_transactions_pages_through_grpc(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    fill_journal(daemon.db, 250, end=DAY)
    ids: list[str] = []
    token = ""
    while True:
        page = stub.ListTransactions(pb.ListTransactionsRequest(page_size=100, page_token=token))
        ids.extend(t.transaction_id for t in page.transactions)
        token = page.next_page_token
        if not token:
            break
    assert ids == [f"{i:032x}" for i in range(250, 0, -1)]
    prepared = stub.ListTransactions(pb.ListTransactionsRequest(state=pb.TRANSACTION_STATE_PREPARED))
    assert [t.transaction_id for t in prepared.transactions] == [f"{3:032x}"]
    voided = stub.ListTransactions(pb.ListTransactionsRequest(state=pb.TRANSACTION_STATE_VOIDED))
    assert [t.transaction_id for t in voided.transactions] == [f"{i:032x}" for i in (207, 107, 7)]
    with pytest.raises(grpc.RpcError) as bad:
        stub.ListTransactions(pb.ListTransactionsRequest(page_token="12"))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
