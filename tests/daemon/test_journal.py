"""The SQLite journal: states, idempotency by request id, recovery listing, reconciliation; the audit table."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon.audit import AuditRecord, AuditTrail
from daemon.database import Database
from daemon.journal import Journal, Kind, RequestIdConflictError, State, TransitionError

WHEN = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "journal.db")


def _debit(journal: Journal, request_id: str, amount: int = 500, reader: str = "virtual-0", serial: int = 1) -> str:
    entry, created = journal.begin(request_id=request_id, kind=Kind.DEBIT, reader=reader, amount_fen=amount)
    assert created
    journal.mark_prepared(
        entry.transaction_id, card_number="C1", balance_before_fen=10_000, card_counter=7,
        terminal_id="112233445566", terminal_serial=serial, when=WHEN,
    )  # fmt: skip
    journal.mark_debited(
        entry.transaction_id, balance_after_fen=10_000 - amount, card_counter=7, terminal_id="112233445566",
        terminal_serial=serial, tac="A1B2C3D4",
    )  # fmt: skip
    return journal.confirm(entry.transaction_id).transaction_id


def test_database_uses_wal(db: Database) -> None:
    assert db.journal_mode() == "wal"


def test_full_life_cycle_records_every_step(db: Database) -> None:
    journal = Journal(db)
    entry, created = journal.begin(request_id="r1", kind=Kind.DEBIT, reader="virtual-0", amount_fen=500)
    assert created and entry.state is State.INTENT and entry.card_number == ""
    prepared = journal.mark_prepared(
        entry.transaction_id, card_number="1234", balance_before_fen=1000, card_counter=3,
        terminal_id="0102030405AA", terminal_serial=42, when=WHEN,
    )  # fmt: skip
    assert prepared.state is State.PREPARED and prepared.balance_before_fen == 1000
    assert prepared.transaction_time == WHEN
    debited = journal.mark_debited(
        entry.transaction_id, balance_after_fen=500, card_counter=3, terminal_id="0102030405AA",
        terminal_serial=42, tac="DEADBEEF", mac2="01020304",
    )  # fmt: skip
    assert debited.state is State.DEBITED and debited.tac == "DEADBEEF"
    assert [e.transaction_id for e in journal.open_entries()] == [entry.transaction_id]
    confirmed = journal.confirm(entry.transaction_id)
    assert confirmed.state is State.CONFIRMED and not confirmed.is_open
    assert journal.open_entries() == []
    assert journal.get(entry.transaction_id) == confirmed


def test_repeated_request_id_returns_the_first_entry(db: Database) -> None:
    journal = Journal(db)
    tid = _debit(journal, "same")
    again, created = journal.begin(request_id="same", kind=Kind.DEBIT, reader="virtual-0", amount_fen=500)
    assert not created and again.transaction_id == tid and again.state is State.CONFIRMED
    assert again.tac == "A1B2C3D4"


@pytest.mark.parametrize(
    ("kind", "reader", "amount"),
    [(Kind.LOAD, "virtual-0", 500), (Kind.DEBIT, "virtual-1", 500), (Kind.DEBIT, "virtual-0", 501)],
)
def test_request_id_reused_for_another_operation_is_a_conflict(
    db: Database, kind: Kind, reader: str, amount: int
) -> None:
    journal = Journal(db)
    _debit(journal, "r")
    with pytest.raises(RequestIdConflictError) as info:
        journal.begin(request_id="r", kind=kind, reader=reader, amount_fen=amount)
    assert info.value.field == "request_id"


@pytest.mark.parametrize("amount", [0, -1, True])
def test_non_positive_amount_is_refused(db: Database, amount: int) -> None:
    with pytest.raises(DataError) as info:
        Journal(db).begin(request_id="x", kind=Kind.DEBIT, reader="r", amount_fen=amount)
    assert info.value.field == "amount_fen"


def test_missing_request_id_is_refused(db: Database) -> None:
    with pytest.raises(DataError) as info:
        Journal(db).begin(request_id="", kind=Kind.DEBIT, reader="r", amount_fen=1)
    assert info.value.field == "request_id"


def test_illegal_transitions_are_refused(db: Database) -> None:
    journal = Journal(db)
    entry, _ = journal.begin(request_id="r", kind=Kind.LOAD, reader="r0", amount_fen=1)
    with pytest.raises(TransitionError):
        journal.confirm(entry.transaction_id)  # intent -> confirmed skips the card
    journal.void(entry.transaction_id, "card removed")
    with pytest.raises(TransitionError):
        journal.mark_prepared(
            entry.transaction_id, card_number="C", balance_before_fen=0, card_counter=0, terminal_id="",
            terminal_serial=0, when=WHEN,
        )  # fmt: skip
    tid = _debit(journal, "done")
    with pytest.raises(TransitionError):
        journal.void(tid, "too late")  # a confirmed entry can never be voided


def test_open_entries_survive_reopening_and_filter_by_card(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    db = Database(path)
    journal = Journal(db)
    journal.begin(request_id="a", kind=Kind.DEBIT, reader="virtual-0", amount_fen=1)
    b, _ = journal.begin(request_id="b", kind=Kind.DEBIT, reader="virtual-1", amount_fen=2)
    journal.mark_prepared(
        b.transaction_id, card_number="CARD-B", balance_before_fen=9, card_counter=1, terminal_id="T",
        terminal_serial=1, when=WHEN,
    )  # fmt: skip
    db.close()
    reopened = Journal(Database(path))
    assert [e.request_id for e in reopened.open_entries()] == ["a", "b"]
    assert [e.request_id for e in reopened.open_entries(card_number="CARD-B")] == ["b"]
    assert [e.request_id for e in reopened.open_entries(reader="virtual-0")] == ["a"]


def test_list_entries_pages_newest_first(db: Database) -> None:
    journal = Journal(db)
    for i in range(5):
        _debit(journal, f"r{i}", serial=i + 1)
    page1, token = journal.list_entries(limit=2)
    page2, token2 = journal.list_entries(limit=2, page_token=token)
    page3, token3 = journal.list_entries(limit=2, page_token=token2)
    assert [e.request_id for e in page1 + page2 + page3] == ["r4", "r3", "r2", "r1", "r0"]
    assert token3 == ""
    only_open, _ = journal.list_entries(state=State.INTENT)
    assert only_open == []


def test_reconciliation_groups_per_terminal_and_kind(db: Database) -> None:
    journal = Journal(db)
    _debit(journal, "d1", amount=100, serial=2)
    _debit(journal, "d2", amount=250, serial=1)
    voided, _ = journal.begin(request_id="v", kind=Kind.DEBIT, reader="virtual-0", amount_fen=999)
    journal.void(voided.transaction_id, "card removed")
    day = WHEN.astimezone().date().isoformat()
    groups, open_count = journal.reconciliation(day)
    assert open_count == 0
    assert len(groups) == 1
    group = groups[0]
    assert (group.terminal_id, group.kind, group.count, group.total_fen) == ("112233445566", Kind.DEBIT, 2, 350)
    assert [e.terminal_serial for e in group.entries] == [1, 2]
    assert all(e.tac == "A1B2C3D4" for e in group.entries)
    assert journal.reconciliation("1999-01-01") == ([], 0)


def test_concurrent_begin_with_one_request_id_creates_one_entry(db: Database) -> None:
    journal = Journal(db)
    created: list[bool] = []

    def worker() -> None:
        created.append(journal.begin(request_id="dup", kind=Kind.DEBIT, reader="r", amount_fen=5)[1])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == [False] * 7 + [True]
    assert len(journal.list_entries()[0]) == 1


@settings(max_examples=25, deadline=None)
@given(amounts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=8))
def test_reconciliation_sum_equals_confirmed_amounts(
    tmp_path_factory: pytest.TempPathFactory, amounts: list[int]
) -> None:
    journal = Journal(Database(tmp_path_factory.mktemp("h") / "j.db"))
    for i, amount in enumerate(amounts):
        _debit(journal, f"r{i}", amount=amount, serial=i)
    groups, _ = journal.reconciliation(WHEN.astimezone().date().isoformat())
    assert sum(g.total_fen for g in groups) == sum(amounts)
    assert sum(g.count for g in groups) == len(amounts)


def test_audit_trail_appends_and_pages(db: Database) -> None:
    audit = AuditTrail(db)
    ids = [
        audit.record(client=f"token:kiosk{i}", operation="Debit", outcome="OK", reader="virtual-0", card_number="C")
        for i in range(3)
    ]
    assert ids == sorted(ids)
    events, token = audit.list_events(limit=2)
    assert [e.client for e in events] == ["token:kiosk2", "token:kiosk1"]
    rest, end = audit.list_events(limit=2, before_id=token)
    assert [e.client for e in rest] == ["token:kiosk0"] and end is None
    long_id = audit.record(client="x" * 500, operation="ReadCard", outcome="OK")
    assert len(audit.list_events(limit=1)[0][0].client) == 128
    assert long_id > ids[-1]


def test_only_the_rows_that_protect_money_are_fsynced(db: Database) -> None:
    """prepared, debited and voided commit with synchronous=FULL (2); intent, confirmed and audit with NORMAL (1)."""
    journal, audit = Journal(db), AuditTrail(db)
    levels: list[tuple[str, int]] = []
    entry, _ = journal.begin(request_id="sync-1", kind=Kind.DEBIT, reader="virtual-0", amount_fen=5)
    levels.append(("intent", db.synchronous()))
    journal.mark_prepared(
        entry.transaction_id, card_number="C1", balance_before_fen=100, card_counter=1, terminal_id="112233445566",
        terminal_serial=1, when=WHEN,
    )  # fmt: skip
    levels.append(("prepared", db.synchronous()))
    journal.mark_debited(entry.transaction_id, balance_after_fen=95, card_counter=1, terminal_id="112233445566",
                         terminal_serial=1, tac="A1B2C3D4")  # fmt: skip
    levels.append(("debited", db.synchronous()))
    journal.confirm(entry.transaction_id)
    levels.append(("confirmed", db.synchronous()))
    audit.record(client="peer:test", operation="Debit", outcome="OK")
    levels.append(("audit", db.synchronous()))
    other, _ = journal.begin(request_id="sync-2", kind=Kind.DEBIT, reader="virtual-0", amount_fen=5)
    journal.void(other.transaction_id, "INSUFFICIENT_BALANCE: no")
    levels.append(("voided", db.synchronous()))
    assert levels == [("intent", 1), ("prepared", 2), ("debited", 2), ("confirmed", 1), ("audit", 1), ("voided", 2)]


def test_complete_records_the_tac_confirms_and_audits_in_one_durable_commit(db: Database) -> None:
    """prepared -> confirmed with the TAC and the operation's audit row, committed together with an fsync."""
    journal, audit = Journal(db), AuditTrail(db)
    entry, _ = journal.begin(request_id="c1", kind=Kind.LOAD, reader="virtual-0", amount_fen=700)
    journal.mark_prepared(
        entry.transaction_id, card_number="C9", balance_before_fen=100, card_counter=4, terminal_id="112233445566",
        terminal_serial=0, when=WHEN,
    )  # fmt: skip
    done = journal.complete(
        entry.transaction_id, balance_after_fen=800, card_counter=4, terminal_id="112233445566", terminal_serial=0,
        tac="0A0B0C0D", audit=AuditRecord("token:kiosk", "Load", "OK", "virtual-0", "C9", "op-1", "c1"),
    )  # fmt: skip
    assert db.synchronous() == 2  # FULL: durable before the reply
    assert (done.state, done.tac, done.balance_after_fen, done.card_number) == (State.CONFIRMED, "0A0B0C0D", 800, "C9")
    assert journal.get(entry.transaction_id) == done and journal.open_entries() == []
    (event,), _ = audit.list_events()
    assert (event.operation, event.outcome, event.card_number, event.request_id) == ("Load", "OK", "C9", "c1")
    assert (event.client, event.operator_id, event.reader) == ("token:kiosk", "op-1", "virtual-0")


def test_complete_is_refused_without_a_prepared_entry_and_writes_no_audit_row(db: Database) -> None:
    journal, audit = Journal(db), AuditTrail(db)
    entry, _ = journal.begin(request_id="c2", kind=Kind.DEBIT, reader="virtual-0", amount_fen=1)
    with pytest.raises(TransitionError, match="intent -> confirmed"):  # the card was never prepared
        journal.complete(entry.transaction_id, balance_after_fen=0, card_counter=0, terminal_id="", terminal_serial=0,
                         tac="00000000", audit=AuditRecord("peer:x", "Debit", "OK"))  # fmt: skip
    with pytest.raises(DataError, match="no journal entry"):
        journal.complete("nope", balance_after_fen=0, card_counter=0, terminal_id="", terminal_serial=0, tac="")
    assert journal.get(entry.transaction_id) == entry  # unchanged (the failed UPDATE was rolled back)
    assert audit.list_events() == ([], None)


def test_open_entries_of_a_card_use_the_partial_index(db: Database) -> None:
    """The check made before every card operation must not scan the card's whole history."""
    plan = db.query(
        "EXPLAIN QUERY PLAN SELECT * FROM transactions WHERE state IN ('intent', 'prepared', 'debited')"
        " AND card_number = ? ORDER BY seq",
        ("C1",),
    )
    assert [row["detail"] for row in plan] == ["SEARCH transactions USING INDEX transactions_open_card (card_number=?)"]
    journal = Journal(db)
    for i in range(3):
        _debit(journal, f"h{i}")
    entry, _ = journal.begin(request_id="open", kind=Kind.DEBIT, reader="virtual-0", amount_fen=1)
    journal.mark_prepared(
        entry.transaction_id, card_number="C1", balance_before_fen=1, card_counter=1, terminal_id="AA",
        terminal_serial=1, when=WHEN,
    )  # fmt: skip
    assert [e.request_id for e in journal.open_entries(card_number="C1")] == ["open"]


def test_a_new_database_has_small_pages_and_no_redundant_index(tmp_path: Path) -> None:
    """1 KiB pages and one index less: fewer bytes per journal commit to write and fsync (database.py)."""
    db = Database(tmp_path / "new.db")
    assert db.query("PRAGMA page_size")[0][0] == 1024
    # a setting of the writer's connection (readers have their own and never write)
    assert db._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000  # 4 MB of WAL, as with 4 KiB pages
    names = {row[0] for row in db.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "transactions_open" not in names and "transactions_open_card" in names
    db.close()


def test_an_older_database_keeps_its_entries_and_loses_the_old_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("CREATE TABLE earlier (x)")  # the file now exists with 4 KiB pages
    conn.commit()
    conn.close()
    db = Database(path)
    db._conn.execute(  # recreate the index of the earlier schema
        "CREATE INDEX transactions_open ON transactions (state) WHERE state IN ('intent', 'prepared', 'debited')"
    )
    _debit(Journal(db), "kept")
    entry, _ = Journal(db).begin(request_id="open", kind=Kind.DEBIT, reader="virtual-0", amount_fen=1)
    db.close()
    again = Database(path)
    assert again.query("PRAGMA page_size")[0][0] == 4096  # an existing database keeps its page size
    assert not again.query("SELECT name FROM sqlite_master WHERE name = 'transactions_open'")
    journal = Journal(again)
    assert journal.by_request_id("kept") is not None
    assert [e.transaction_id for e in journal.open_entries()] == [entry.transaction_id]


def test_a_database_from_before_settlement_gains_the_column_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    _debit(Journal(db), "kept")
    db.close()
    conn = sqlite3.connect(path)  # the schema as it was before SettleTransaction
    conn.execute("ALTER TABLE transactions DROP COLUMN settlement_note")
    conn.commit()
    conn.close()
    again = Database(path)
    journal = Journal(again)
    kept = journal.by_request_id("kept")
    assert kept is not None and kept.state is State.CONFIRMED and kept.settlement_note == ""
    entry, _ = journal.begin(request_id="open", kind=Kind.DEBIT, reader="virtual-0", amount_fen=300)
    prepared = journal.mark_prepared(
        entry.transaction_id, card_number="C", balance_before_fen=1_000, card_counter=4, terminal_id="T",
        terminal_serial=9, when=WHEN,
    )  # fmt: skip
    audit = AuditRecord(client="peer:test", operation="SettleTransaction:confirmed", outcome="OK", operator_id="op")
    settled = journal.settle(prepared, State.CONFIRMED, tac="", note="operator op: issuer record", audit=audit)
    assert (settled.state, settled.balance_after_fen, settled.settlement_note) == (
        State.CONFIRMED,
        700,
        "operator op: issuer record",
    )
    with pytest.raises(TransitionError):  # final now
        journal.settle(settled, State.VOIDED, tac="", note="again", audit=audit)
    again.close()
