"""``healthcardd --simulate`` as a tester meets it (issue #15): each virtual SAM is its own terminal, and a failed
request repeated after the card is back gets the first answer under the same code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from apdu.errors import DataError, ReaderError
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.errors import REASON_KEY, SamUnavailableError, classify
from daemon.server import Daemon
from daemon.transactions import VoidedError


def _error(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    return err.code(), dict(err.trailing_metadata() or ())[REASON_KEY], err.details()


def test_each_simulated_reader_is_its_own_terminal(stub: pb_grpc.HealthCardServiceStub) -> None:
    paid = {
        reader: stub.Debit(pb.DebitRequest(reader=reader, amount_fen=100, request_id=f"t-{reader}"))
        for reader in ("virtual-0", "virtual-1")
    }
    assert [p.terminal_id for p in paid.values()] == ["000000000001", "000000000002"]
    assert all(p.terminal_serial == 1 for p in paid.values())  # two terminals, each its own serial sequence
    day = dt.datetime.now().astimezone().date().isoformat()
    groups = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day)).groups
    assert sorted((g.terminal_id, g.count, g.total_fen) for g in groups) == [
        ("000000000001", 1, 100), ("000000000002", 1, 100),
    ]  # fmt: skip
    sams = [r for r in stub.ListReaders(pb.ListReadersRequest()).readers if r.role == pb.READER_ROLE_SAM]
    assert len(sams) == 3 and all(r.card_present and r.state == pb.READER_STATE_READY for r in sams)


def test_a_failure_replayed_after_the_card_is_back_keeps_its_code(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    backend: Any = daemon.readers.worker("virtual-1").backend
    request = pb.DebitRequest(reader="virtual-1", amount_fen=50, request_id="no-card-1")
    backend.remove_card()
    try:
        first = _error(lambda: stub.Debit(request))
    finally:
        backend.insert_card()
    assert first[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD")
    assert _error(lambda: stub.Debit(request)) == first  # same code, reason and message; the card is not debited
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen == 10_000


@pytest.mark.parametrize(
    "exc",
    [
        ReaderError("transmit on reader 'r' failed: SCARD_W_REMOVED_CARD", reader="r", removed=True),
        ReaderError("no card in reader 'r' (SCARD_E_NO_SMARTCARD)", reader="r", no_card=True),
        ReaderError("cannot reach the PC/SC service", reader="r"),
        SamUnavailableError("there is no SAM in reader 's'"),
        DataError("amount_fen: must be positive", field="amount_fen"),
    ],
)
def test_a_voided_request_replays_under_the_code_of_its_first_answer(exc: Exception) -> None:
    first = classify(exc)
    replayed = classify(VoidedError(first.message, first.reason))
    assert (replayed.code, replayed.reason, replayed.message) == (first.code, first.reason, first.message)
