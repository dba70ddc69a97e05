"""The daemon's Unload (圈提) without a host: the virtual SAM's demo extension gives MAC2 and the answer MAC the
card must give (docs/daemon.md "Unload"); the journal, replays, refusals and the cashier-only role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, Secret, TokenConfig
from daemon.server import Daemon
from tests.daemon.test_service import _error


def _unload(stub: pb_grpc.HealthCardServiceStub, reader: str, amount: int, request_id: str) -> pb.UnloadResponse:
    request = pb.UnloadRequest(reader=reader, amount_fen=amount, request_id=request_id, operator_id="cashier-1")
    reply: pb.UnloadResponse = stub.Unload(request)
    return reply


def test_unload_of_the_whole_balance_then_replay_and_journal(stub: pb_grpc.HealthCardServiceStub) -> None:
    balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen
    first = _unload(stub, "virtual-0", balance, "cancel-1")
    assert first.balance_fen == 0 and len(first.answer_mac) == 8 and not first.replayed
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen == 0
    again = _unload(stub, "virtual-0", balance, "cancel-1")  # the same request: the stored answer, card untouched
    assert again.replayed and (again.transaction_id, again.answer_mac) == (first.transaction_id, first.answer_mac)
    (entry,) = stub.ListTransactions(pb.ListTransactionsRequest()).transactions
    assert (entry.kind, entry.state, entry.amount_fen) == (
        pb.TRANSACTION_KIND_UNLOAD, pb.TRANSACTION_STATE_CONFIRMED, balance,
    )  # fmt: skip
    assert (entry.balance_before_fen, entry.balance_after_fen, entry.tac) == (balance, 0, first.answer_mac)
    events = [(e.operation, e.outcome, e.operator_id) for e in stub.ListAuditEvents(pb.ListAuditEventsRequest()).events]
    assert events[:2] == [("Unload:replayed", "OK", "cashier-1"), ("Unload", "OK", "cashier-1")]
    # a second unload: nothing is left on the card (9401), the card is not changed
    code, reason, details = _error(lambda: _unload(stub, "virtual-0", 1, "cancel-2"))
    assert (code, details.status_word) == (grpc.StatusCode.FAILED_PRECONDITION, "9401"), reason


def test_unload_refusals_change_nothing(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen
    no_operator = pb.UnloadRequest(reader="virtual-1", amount_fen=1, request_id="u0")
    assert _error(lambda: stub.Unload(no_operator))[2].field == "operator_id"
    code, _, details = _error(lambda: _unload(stub, "virtual-1", balance + 1, "u1"))  # more than the balance
    assert (code, details.status_word) == (grpc.StatusCode.FAILED_PRECONDITION, "9401")
    _unload(stub, "virtual-1", 100, "u2")
    # the same request id for the other reader's card: a conflict, that card is not touched
    code, reason, _ = _error(lambda: _unload(stub, "virtual-0", 100, "u2"))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    backend = daemon.readers.worker("virtual-1").backend
    backend.remove_card()  # type: ignore[attr-defined]
    try:
        code, reason, _ = _error(lambda: _unload(stub, "virtual-1", 100, "u3"))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD")
    finally:
        backend.insert_card()  # type: ignore[attr-defined]
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen == balance - 100
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen > 0


TOKENS = {"kiosk": "k" * 24, "cashier": "c" * 24}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Daemon]:
    tokens = tuple(TokenConfig(role, Secret(token), roles=(role,)) for role, token in TOKENS.items())
    d = Daemon(Config(listen="127.0.0.1:0", state_dir=tmp_path, simulate=True, tokens=tokens).validate())
    d.start()
    yield d
    d.stop(grace=5)


def test_a_kiosk_token_cannot_unload_a_cashier_token_can(secured: Daemon) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured.port}") as ch:
        stub = pb_grpc.HealthCardServiceStub(ch)
        request = pb.UnloadRequest(reader="virtual-0", amount_fen=5, request_id="k1", operator_id="x")
        with pytest.raises(grpc.RpcError) as info:
            stub.Unload(request, metadata=(("authorization", f"Bearer {TOKENS['kiosk']}"),))
        err: Any = info.value
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        cashier = (("authorization", f"Bearer {TOKENS['cashier']}"),)
        before = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0"), metadata=cashier).balance_fen
        assert stub.Unload(request, metadata=cashier).balance_fen == before - 5


def test_a_journal_from_before_unload_is_migrated_and_keeps_its_entries(tmp_path: Path) -> None:
    """A version-1 journal (kind only debit or load) is rebuilt at start-up: its rows, indexes and the outbox
    trigger come back, and it takes unloads (daemon/database.py ``_allow_unload``)."""
    import sqlite3  # noqa: PLC0415

    from daemon import database  # noqa: PLC0415
    from daemon.journal import Journal, Kind  # noqa: PLC0415
    from daemon.outbox import Outbox  # noqa: PLC0415

    path = tmp_path / "journal.db"
    old = database._TRANSACTIONS.replace("'debit', 'load', 'unload'", "'debit', 'load'").replace(
        "{table}", "transactions"
    )
    with sqlite3.connect(path) as conn:
        conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);" + old)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO transactions (transaction_id, request_id, kind, state, reader, amount_fen, created_at,"
            " updated_at, seq) VALUES ('t1', 'r1', 'debit', 'voided', 'virtual-0', 5, ?, ?, 1)",
            ("2026-12-01T08:00:00+00:00", "2026-12-01T08:00:00+00:00"),
        )
    db = database.Database(path)
    try:
        Outbox(db)
        assert [r["value"] for r in db.query("SELECT value FROM meta WHERE key = 'schema_version'")] == ["2"]
        journal = Journal(db)
        assert journal.get("t1") is not None
        entry, created = journal.begin(request_id="r2", kind=Kind.UNLOAD, reader="virtual-0", amount_fen=7)
        assert created and journal.get(entry.transaction_id) is not None
        names = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE tbl_name = 'transactions'")}
        assert {"transactions_report", "transactions_open_card", "host_outbox_on_confirm"} <= names
    finally:
        db.close()
    database.Database(path).close()  # a second start: nothing to migrate
