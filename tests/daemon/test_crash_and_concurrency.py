"""The daemon killed with SIGKILL at every step of a debit, a load and an unload; and 32 clients on 2 virtual readers.

Crash test: a subprocess ``healthcardd --simulate`` with ``HEALTHCARDD_FAULT=<kind>:<step>`` dies at that step;
it is restarted on the same state directory (journal + persisted card images); then the journal and the card
must agree — confirmed with a TAC and the balance changed exactly once, or voided and the balance unchanged —
and retrying the same request id never changes the card again.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.faults import STEPS
from tests.daemon.procs import healthcardd_process


@contextmanager
def _daemon(state: Path, fault: str = "") -> Iterator[tuple[subprocess.Popen[bytes], pb_grpc.HealthCardServiceStub]]:
    with healthcardd_process(state, fault=fault) as (proc, target), grpc.insecure_channel(target) as channel:
        yield proc, pb_grpc.HealthCardServiceStub(channel)


def _settled(stub: pb_grpc.HealthCardServiceStub) -> list[Any]:
    deadline = time.monotonic() + 15
    while True:
        entries = list(stub.ListTransactions(pb.ListTransactionsRequest()).transactions)
        final = {pb.TRANSACTION_STATE_CONFIRMED, pb.TRANSACTION_STATE_VOIDED}
        if all(e.state in final for e in entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


_MESSAGES: dict[str, Any] = {"debit": pb.DebitRequest, "load": pb.LoadRequest, "unload": pb.UnloadRequest}


@pytest.mark.parametrize("kind", ["debit", "load", "unload"])
@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_every_step_loses_and_doubles_nothing(tmp_path: Path, kind: str, step: str) -> None:
    state = tmp_path / "state"
    amount = 321
    with _daemon(state) as (_, stub):
        before = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen
    request: Any = _MESSAGES[kind](
        reader="virtual-0", amount_fen=amount, request_id=f"crash-{kind}-{step}", operator_id="c1"
    )
    method = kind.capitalize()
    with _daemon(state, fault=f"{kind}:{step}") as (proc, stub):
        call = getattr(stub, method)
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=20)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.wait(10) == -9
    with _daemon(state) as (_, stub):
        (entry,) = _settled(stub)
        balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen
        sign = 1 if kind == "load" else -1
        if entry.state == pb.TRANSACTION_STATE_CONFIRMED:
            assert balance == before + sign * amount
            assert entry.balance_after_fen == balance
            assert len(entry.tac) == 8  # loads (type 02) and unloads (03, the answer MAC) too: GET TRANSACTION PROVE
        else:
            assert entry.state == pb.TRANSACTION_STATE_VOIDED
            assert balance == before, entry.void_reason
        if step in {"before_debited_record", "after_debited", "after_confirmed"}:
            assert entry.state == pb.TRANSACTION_STATE_CONFIRMED  # the card changed: never voided
        if step in {"after_intent"}:
            assert entry.state == pb.TRANSACTION_STATE_VOIDED
        # the audit row of a load/debit is committed with its TAC: present exactly when the TAC was recorded
        audited = [
            (e.operation, e.outcome)
            for e in stub.ListAuditEvents(pb.ListAuditEventsRequest()).events
            if e.request_id == request.request_id
        ]
        assert audited == ([(method, "OK")] if step in {"after_debited", "after_confirmed"} else [])
        # the client retries with the same request id: the card is not touched again
        try:
            reply = getattr(stub, method)(request, timeout=20)
            assert reply.replayed and entry.state == pb.TRANSACTION_STATE_CONFIRMED
        except grpc.RpcError:
            assert entry.state == pb.TRANSACTION_STATE_VOIDED
        assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen == balance


def test_32_clients_on_2_readers_every_debit_once(stub: pb_grpc.HealthCardServiceStub) -> None:
    readers = ("virtual-0", "virtual-1")
    before = {r: stub.GetBalance(pb.GetBalanceRequest(reader=r)).balance_fen for r in readers}
    per_client = 3
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            for i in range(per_client):
                reader = readers[(n + i) % 2]
                reply = stub.Debit(
                    pb.DebitRequest(reader=reader, amount_fen=1 + n % 5, request_id=f"c{n}-{i}"), timeout=60
                )
                with lock:
                    results.append((reader, reply))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 32 * per_client
    entries = list(stub.ListTransactions(pb.ListTransactionsRequest(page_size=1000)).transactions)
    assert len(entries) == 32 * per_client
    assert all(e.state == pb.TRANSACTION_STATE_CONFIRMED for e in entries)
    assert len({e.request_id for e in entries}) == len(entries)
    for reader in readers:
        mine = [e for e in entries if e.reader == reader]
        spent = sum(e.amount_fen for e in mine)
        after = stub.GetBalance(pb.GetBalanceRequest(reader=reader)).balance_fen
        assert after == before[reader] - spent
        serials = [e.terminal_serial for e in mine]
        assert len(set(serials)) == len(serials)  # one PSAM serial per debit
        counters = sorted(e.card_counter for e in mine)
        assert counters == list(range(counters[0], counters[0] + len(mine)))  # each debit used the card once
