"""Issue #6: a card pulled mid-transaction and used at another terminal before it comes back.

The card then proves only that other transaction (JR/T 0025.1 GET TRANSACTION PROVE: GET TRANSACTION PROVE answers 9406
for ours), so the open entry must be settled from the card's detail records (JR/T 0025.1 transaction detail file):
confirmed without TAC when the card executed it, voided when it did not; the journal's balances agree with the card.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.errors import REASON_KEY
from daemon.server import Daemon
from healthcard.api import open_virtual_session
from sam.virtual import VirtualSam
from sam.virtual.image import new_sam_image

READER = "virtual-1"
ELSEWHERE = bytes.fromhex("000000000777")


def _pull_at(backend: Any, point: str) -> None:
    """Tear the card's power at ``point`` and pull it out of the reader (the daemon cannot ask it)."""

    def hook(name: str) -> bool:
        if name != point:
            return False
        backend.remove_card()
        return True

    backend._card.tear = hook


def _use_elsewhere(backend: Any, *, debit: int = 0, load: int = 0, times: int = 1) -> None:
    """The holder uses the (pulled) card at another terminal ``times`` times: its proof becomes that transaction's."""
    card = backend._card
    card.tear = None
    card.power_on()
    sam = VirtualSam(new_sam_image(terminal_id=ELSEWHERE))
    with open_virtual_session(card=card, sam=sam) as s:
        for i in range(times):
            if debit:
                s.debit(debit, when=dt.datetime.now() + dt.timedelta(minutes=1 + i))
            if load:
                s.load(load, when=dt.datetime.now() + dt.timedelta(minutes=1 + i))


def _entry(stub: pb_grpc.HealthCardServiceStub, request_id: str) -> Any:
    (entry,) = [t for t in stub.ListTransactions(pb.ListTransactionsRequest()).transactions
                if t.request_id == request_id]  # fmt: skip
    return entry


def _settled(stub: pb_grpc.HealthCardServiceStub, request_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entry = _entry(stub, request_id)
        if entry.state in (pb.TRANSACTION_STATE_CONFIRMED, pb.TRANSACTION_STATE_VOIDED):
            return entry
        time.sleep(0.05)
    raise AssertionError(f"{request_id} still open")


def _balance(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader=READER)).balance_fen)


@pytest.mark.parametrize(("point", "debited"), [("purchase:commit", True), ("purchase:mac1-verified", False)])
def test_debit_pulled_then_paid_elsewhere_settles_from_the_records(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, point: str, debited: bool
) -> None:
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _pull_at(backend, point)
    with pytest.raises(grpc.RpcError):
        stub.Debit(pb.DebitRequest(reader=READER, amount_fen=700, request_id="torn"))
    assert _entry(stub, "torn").state == pb.TRANSACTION_STATE_PREPARED  # the card left before it could be asked
    _use_elsewhere(backend, debit=300)
    backend.insert_card()
    after = stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="next"))  # resolves "torn" first
    entry = _settled(stub, "torn")
    if debited:
        assert entry.state == pb.TRANSACTION_STATE_CONFIRMED
        assert (entry.balance_before_fen, entry.balance_after_fen, entry.tac) == (start, start - 700, "")
        assert after.balance_fen == start - 700 - 300 - 5 == _balance(stub)
    else:
        assert entry.state == pb.TRANSACTION_STATE_VOIDED
        assert after.balance_fen == start - 300 - 5 == _balance(stub)
    day = dt.datetime.now().astimezone().date().isoformat()
    report = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day))
    assert report.open_count == 0
    (group,) = report.groups
    assert sorted(t.tac == "" for t in group.transactions) == ([False, True] if debited else [False])
    assert group.total_fen == (705 if debited else 5)


def test_load_pulled_then_loaded_elsewhere_is_confirmed(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _pull_at(backend, "load:commit")
    with pytest.raises(grpc.RpcError):
        stub.Load(pb.LoadRequest(reader=READER, amount_fen=2_000, request_id="torn-load"))
    _use_elsewhere(backend, load=500)
    backend.insert_card()
    assert _balance(stub) == start + 2_000 + 500
    stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="next"))  # resolves "torn-load" first
    entry = _settled(stub, "torn-load")
    assert entry.state == pb.TRANSACTION_STATE_CONFIRMED
    assert (entry.balance_after_fen, entry.tac) == (start + 2_000, "")
    assert _balance(stub) == start + 2_000 + 500 - 5


def test_load_that_never_reached_the_card_then_a_debit_elsewhere_is_voided(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    """The balance then matches neither before nor after the load; the detail records decide (it never ran)."""
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _pull_at(backend, "load:mac2-verified")  # before the card's commit: the card never credited
    with pytest.raises(grpc.RpcError):
        stub.Load(pb.LoadRequest(reader=READER, amount_fen=2_000, request_id="never-loaded"))
    _use_elsewhere(backend, debit=300)
    backend.insert_card()
    assert _balance(stub) == start - 300  # GetBalance resolves the entry first: it must not fail on it
    entry = _settled(stub, "never-loaded")
    assert entry.state == pb.TRANSACTION_STATE_VOIDED
    assert stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="next")).balance_fen == start - 305


def _lose_the_record(stub: pb_grpc.HealthCardServiceStub, backend: Any) -> None:
    """Debit "lost" (700 fen) pulled at the card's commit, then 11 purchases of 10 fen elsewhere: more than the
    cyclic detail file holds (10), so the card can no longer decide "lost". The card is back in the reader."""
    _pull_at(backend, "purchase:commit")
    with pytest.raises(grpc.RpcError):
        stub.Debit(pb.DebitRequest(reader=READER, amount_fen=700, request_id="lost"))
    _use_elsewhere(backend, debit=10, times=11)
    backend.insert_card()


def test_an_entry_the_card_can_no_longer_decide_stays_open_and_the_card_still_works(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _lose_the_record(stub, backend)
    asked: list[str] = []
    original = daemon.transactions._resolve_prepared

    def spy(card: Any, entry: Any, failure_text: str = "") -> None:
        asked.append(entry.request_id)
        original(card, entry, failure_text)

    monkeypatch.setattr(daemon.transactions, "_resolve_prepared", spy)
    first = stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="after-1"))
    second = stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="after-2"))
    assert first.balance_fen == start - 700 - 110 - 5
    assert second.balance_fen == start - 700 - 110 - 10 == _balance(stub)
    assert asked.count("lost") == 1  # asked once, then left alone in this run
    assert _entry(stub, "lost").state == pb.TRANSACTION_STATE_PREPARED
    day = dt.datetime.now().astimezone().date().isoformat()
    assert stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day)).open_count == 1


def _refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    return err.code(), dict(err.trailing_metadata() or ())[REASON_KEY]


def test_an_operator_settles_an_entry_the_card_can_no_longer_decide(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _lose_the_record(stub, backend)
    stub.Debit(pb.DebitRequest(reader=READER, amount_fen=5, request_id="after"))  # the card cannot decide "lost"
    lost = _entry(stub, "lost")
    assert lost.state == pb.TRANSACTION_STATE_PREPARED

    def settle(**fields: Any) -> pb.SettleTransactionResponse:
        values = {"transaction_id": lost.transaction_id, "outcome": pb.TRANSACTION_STATE_CONFIRMED,
                  "operator_id": "fin-01", "reason": "issuer record 2026-11-23"} | fields  # fmt: skip
        return stub.SettleTransaction(pb.SettleTransactionRequest(**values))

    invalid = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert _refused(lambda: settle(operator_id="")) == invalid
    assert _refused(lambda: settle(reason="")) == invalid
    assert _refused(lambda: settle(outcome=pb.TRANSACTION_STATE_DEBITED)) == invalid
    assert _refused(lambda: settle(outcome=pb.TRANSACTION_STATE_VOIDED, tac="0A0B0C0D")) == invalid
    assert _refused(lambda: settle(tac="XYZ")) == invalid
    assert _refused(lambda: settle(transaction_id="not-an-id")) == invalid
    assert _refused(lambda: settle(transaction_id="0" * 32)) == (grpc.StatusCode.NOT_FOUND, "TRANSACTION_NOT_FOUND")
    assert _entry(stub, "lost").state == pb.TRANSACTION_STATE_PREPARED  # refused requests changed nothing

    settled = settle(tac="0a0b0c0d").transaction
    assert (settled.state, settled.balance_after_fen, settled.tac) == (
        pb.TRANSACTION_STATE_CONFIRMED,
        start - 700,
        "0A0B0C0D",
    )
    assert settled.settlement_note == "operator fin-01: issuer record 2026-11-23"
    assert _refused(settle) == (grpc.StatusCode.FAILED_PRECONDITION, "TRANSACTION_NOT_SETTLEABLE")
    day = dt.datetime.now().astimezone().date().isoformat()
    report = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day))
    assert report.open_count == 0
    assert sum(g.total_fen for g in report.groups) == 705
    events = [e for e in stub.ListAuditEvents(pb.ListAuditEventsRequest()).events
              if e.operation.startswith("SettleTransaction")]  # fmt: skip
    (done,) = [e for e in events if e.outcome == "OK"]  # the settlement, with the operator and the card
    assert (done.operation, done.operator_id, done.card_number) == ("SettleTransaction:confirmed", "fin-01",
                                                                    lost.card_number)  # fmt: skip
    refusals = sorted(e.outcome for e in events if e.outcome != "OK")  # refused attempts are audited too
    assert refusals == ["INVALID_ARGUMENT"] * 6 + ["TRANSACTION_NOT_FOUND", "TRANSACTION_NOT_SETTLEABLE"]


def test_settling_asks_the_card_first_and_a_card_absent_entry_can_be_voided(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    backend: Any = daemon.readers.worker(READER).backend  # SimulatedReader
    start = _balance(stub)
    _pull_at(backend, "purchase:commit")  # the card debited, then left with its answer
    with pytest.raises(grpc.RpcError):
        stub.Debit(pb.DebitRequest(reader=READER, amount_fen=700, request_id="decided"))
    decided = _entry(stub, "decided")
    backend._card.tear = None
    backend._card.power_on()
    backend.insert_card()
    refused = _refused(lambda: stub.SettleTransaction(pb.SettleTransactionRequest(
        transaction_id=decided.transaction_id, outcome=pb.TRANSACTION_STATE_VOIDED, operator_id="fin-01",
        reason="customer says no",
    )))  # fmt: skip
    assert refused == (grpc.StatusCode.FAILED_PRECONDITION, "TRANSACTION_NOT_SETTLEABLE")
    entry = _settled(stub, "decided")  # the card's decision stands, with its TAC
    assert (entry.state, entry.balance_after_fen, len(entry.tac)) == (pb.TRANSACTION_STATE_CONFIRMED, start - 700, 8)

    _pull_at(backend, "purchase:mac1-verified")  # never reached the card's commit; the card stays out
    with pytest.raises(grpc.RpcError):
        stub.Debit(pb.DebitRequest(reader=READER, amount_fen=300, request_id="absent"))
    absent = _entry(stub, "absent")
    voided = stub.SettleTransaction(pb.SettleTransactionRequest(
        transaction_id=absent.transaction_id, outcome=pb.TRANSACTION_STATE_VOIDED, operator_id="fin-01",
        reason="card destroyed; issuer shows no debit",
    )).transaction  # fmt: skip
    assert voided.state == pb.TRANSACTION_STATE_VOIDED
    assert voided.void_reason == "SETTLED: operator fin-01: card destroyed; issuer shows no debit"
