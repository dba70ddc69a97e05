"""Harden2 item 2: the journal and the ``requests`` table are pruned after ``retention_days``, and a replay of a
pruned request id never charges (or writes) again.

The attack: a kiosk client (or a buggy retry queue) repeats a year-old request id. Its record is gone, so without
a tombstone the daemon would take the id as new and charge the card a second time. Now the answer is
REQUEST_ID_EXPIRED and nothing is done. Pruning never touches what is still needed: open (in-doubt) entries,
entries still waiting in the host outbox, card writes that may be half done, and anything younger than the age.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, ConfigError
from daemon.database import Database
from daemon.idempotency import RequestStore
from daemon.journal import Journal, Kind, RequestIdExpiredError
from daemon.outbox import Outbox
from daemon.retention import Retention
from daemon.server import Daemon
from tests.adversarial.conftest import reason, rpc_error

READER = "virtual-0"
LATER = dt.timedelta(days=401)  # past the default age of 400 days


def _balance(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader=READER)).balance_fen)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_replayed_debit_after_its_entry_was_pruned_is_expired_and_never_charged_again(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    debit = pb.DebitRequest(reader=READER, amount_fen=300, request_id="pay-2025", order_id="o-1")
    stub.Debit(debit)
    assert daemon.retention.prune(now=_now() + dt.timedelta(days=399)) == 0  # younger than the age: kept
    assert daemon.journal.by_request_id("pay-2025") is not None
    assert daemon.retention.prune(now=_now() + LATER) >= 1
    assert daemon.journal.by_request_id("pay-2025") is None
    balance = _balance(stub)
    err: Any = rpc_error(lambda: stub.Debit(debit))
    assert (err.code(), reason(err)) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_EXPIRED")
    assert "retention" in err.details()
    assert _balance(stub) == balance  # was charged a second time as a new request
    assert daemon.journal.by_request_id("pay-2025") is None
    err = rpc_error(lambda: stub.Load(pb.LoadRequest(reader=READER, amount_fen=300, request_id="pay-2025")))
    assert reason(err) == "REQUEST_ID_EXPIRED"  # one namespace: no other operation takes the id either


def test_a_replayed_card_write_after_its_request_was_pruned_is_expired_and_writes_nothing(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    items = {213: "北京协和医院", 215: "20250101093000", 217: "心内科门诊"}
    add = pb.AddRecordRequest(reader=READER, kind=cd.VISIT_KIND_OUTPATIENT, items=items, request_id="visit-2025")
    stub.AddRecord(add)
    assert daemon.retention.prune(now=_now() + LATER) >= 1

    def records() -> int:
        card = stub.ReadCard(pb.ReadCardRequest(reader=READER, sections=[cd.CARD_SECTION_OUTPATIENT])).card
        return sum(1 for r in card.outpatient if r.valid)

    before = records()
    err: Any = rpc_error(lambda: stub.AddRecord(add))
    assert (err.code(), reason(err)) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_EXPIRED")
    assert records() == before


def _confirmed(journal: Journal, request_id: str) -> str:
    entry, _ = journal.begin(request_id=request_id, kind=Kind.DEBIT, reader=READER, amount_fen=100)
    journal.mark_prepared(
        entry.transaction_id, card_number="C1", balance_before_fen=1_000, card_counter=1,
        terminal_id="112233445566", terminal_serial=1, when=_now(),
    )  # fmt: skip
    journal.mark_debited(
        entry.transaction_id, balance_after_fen=900, card_counter=1, terminal_id="112233445566", terminal_serial=1,
        tac="A1B2C3D4",
    )  # fmt: skip
    return journal.confirm(entry.transaction_id).transaction_id


def test_open_entries_entries_in_the_outbox_and_started_writes_are_never_pruned(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db")
    journal, outbox, requests = Journal(db), Outbox(db), RequestStore(db)
    open_entry, _ = journal.begin(request_id="in-doubt", kind=Kind.DEBIT, reader=READER, amount_fen=100)
    uploaded = _confirmed(journal, "uploaded")
    waiting = _confirmed(journal, "waiting")  # the host has not acknowledged its upload
    voided, _ = journal.begin(request_id="failed", kind=Kind.DEBIT, reader=READER, amount_fen=100)
    journal.void(voided.transaction_id, "CARD_REMOVED: taken out")
    outbox.done([row.seq for row in outbox.pending() if row.key == uploaded])
    assert requests.begin(request_id="half-written", operation="AddRecord", reader=READER, fingerprint="f") is None
    retention = Retention(db, 400, pause_s=0)
    assert retention.prune(now=_now() + LATER) == 2  # the uploaded and the voided entry
    assert journal.by_request_id("uploaded") is None and journal.by_request_id("failed") is None
    assert journal.get(open_entry.transaction_id) is not None and journal.get(waiting) is not None
    with pytest.raises(RequestIdExpiredError):
        journal.begin(request_id="uploaded", kind=Kind.DEBIT, reader=READER, amount_fen=100)
    stored = requests.begin(request_id="half-written", operation="AddRecord", reader=READER, fingerprint="f")
    assert stored is not None and not stored.done  # kept: the card may have been written
    outbox.done([row.seq for row in outbox.pending()])
    assert retention.prune(now=_now() + LATER) == 1 and journal.get(waiting) is None
    assert Retention(db, 0).prune(now=_now() + LATER * 10) == 0  # 0 keeps everything
    db.close()


def test_pruning_goes_in_batches_and_keeps_the_young(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db")
    journal = Journal(db)
    for i in range(25):
        _confirmed(journal, f"r-{i}")
    retention = Retention(db, 400, batch=4, pause_s=0)
    assert retention.prune(now=_now() + dt.timedelta(days=30)) == 0
    assert retention.prune(now=_now() + LATER) == 25
    assert journal.list_entries(limit=100)[0] == []
    db.close()


@pytest.mark.parametrize(("days", "ok"), [(400, True), (0, True), (7, True), (3, False), (-1, False)])
def test_retention_days_is_checked(days: int, ok: bool) -> None:
    config = Config(simulate=True, retention_days=days)
    if ok:
        assert config.validate().retention_days == days
    else:
        with pytest.raises(ConfigError, match="retention_days"):
            config.validate()
