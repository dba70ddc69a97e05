"""Issue #11 items 2 and 3: a charged card is never reported as failed, and a request id is bound to its card.

The attacks (a reader that drops the answer, a holder who pulls the card at the wrong moment, a SAM that refuses
MAC2, a full disk, a client deadline, a kiosk that reuses request ids) run against a healthcardd in this process
with its simulated readers. For each: Debit/Load answer the result or TRANSACTION_IN_DOUBT (status UNKNOWN),
never a plain failure for a card that may have changed; the journal agrees with the card; a retry with the same
request id gives the final answer without charging twice; a failure answer means the card was not changed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from apdu.errors import ReaderError
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.database import StorageFullError
from daemon.errors import DETAILS_KEY, REASON_KEY
from daemon.server import Daemon
from healthcard.person import load_person
from healthcard.virtual import new_demo_card
from tests.daemon.inprocess import daemon_stub, running_daemon, simulated_config

READER = "virtual-0"
ROOT = Path(__file__).resolve().parents[2]
DEBIT_FOR_PURCHASE, CREDIT_FOR_LOAD, INITIALIZE = 0x54, 0x52, 0x50
CREDIT_SAM_FOR_PURCHASE = 0x72  # the PSAM's MAC2 check (JR/T 0025.2 purchase with a PSAM step 4)


def _backend(daemon: Daemon, reader: str = READER) -> Any:
    return daemon.readers.worker(reader).backend  # SimulatedReader


def _error(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, errors_pb2.ErrorDetails]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    trailers: dict[str, Any] = dict(err.trailing_metadata() or ())
    details = errors_pb2.ErrorDetails.FromString(trailers[DETAILS_KEY]) if DETAILS_KEY in trailers else None
    return err.code(), trailers.get(REASON_KEY, ""), details or errors_pb2.ErrorDetails()


def _balance(stub: pb_grpc.HealthCardServiceStub, reader: str = READER) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader=reader)).balance_fen)


def _entry(stub: pb_grpc.HealthCardServiceStub, request_id: str) -> Any:
    (entry,) = [t for t in stub.ListTransactions(pb.ListTransactionsRequest(page_size=100)).transactions
                if t.request_id == request_id]  # fmt: skip
    return entry


def _audit_operations(stub: pb_grpc.HealthCardServiceStub) -> list[str]:
    return [e.operation for e in stub.ListAuditEvents(pb.ListAuditEventsRequest(page_size=100)).events]


def _after(transport: Any, ins: int, action: Callable[[bytes], bytes], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Once, when the card (or SAM) in ``transport`` has executed the proprietary (CLA 8x) command ``ins``:
    ``action(answer)`` is what the reader hands back instead of the answer."""
    card = transport.card
    original = card.execute
    fired: list[int] = []

    def execute(apdu: bytes) -> bytes:
        answer: bytes = original(apdu)
        if not fired and apdu[0] & 0xF0 == 0x80 and apdu[1] == ins:
            fired.append(ins)
            return action(answer)
        return answer

    monkeypatch.setattr(card, "execute", execute)
    return fired


def _lose_answer(backend: Any, ins: int, monkeypatch: pytest.MonkeyPatch, *, pull: bool) -> list[int]:
    """The card executes ``ins``; its answer is lost by the reader (and the card pulled out when ``pull``)."""

    def lose(_answer: bytes) -> bytes:
        if pull:
            backend.remove_card()
        raise ReaderError("the reader lost the card's answer", reader=backend.name, removed=pull)

    return _after(backend.card_transport, ins, lose, monkeypatch)


def _debit(reader: str = READER, amount: int = 300, request_id: str = "pay-1") -> pb.DebitRequest:
    return pb.DebitRequest(reader=reader, amount_fen=amount, request_id=request_id, order_id=request_id)


def _load(reader: str = READER, amount: int = 2_000, request_id: str = "top-1") -> pb.LoadRequest:
    return pb.LoadRequest(reader=reader, amount_fen=amount, request_id=request_id, order_id=request_id)


def _assert_in_doubt(code: grpc.StatusCode, reason: str, details: errors_pb2.ErrorDetails, request_id: str) -> None:
    assert (code, reason) == (grpc.StatusCode.UNKNOWN, "TRANSACTION_IN_DOUBT")
    assert details.metadata["request_id"] == request_id and len(details.metadata["transaction_id"]) == 32
    assert "same request_id" in details.message and details.message_zh


# --- item 2: Debit ----------------------------------------------------------------------------------------------


def test_debit_whose_answer_the_reader_lost_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = _balance(stub)
    fired = _lose_answer(_backend(daemon), DEBIT_FOR_PURCHASE, monkeypatch, pull=False)
    reply = stub.Debit(_debit())  # was UNAVAILABLE / READER_UNAVAILABLE with the journal already CONFIRMED
    assert fired and not reply.replayed
    assert reply.balance_fen == start - 300 == _balance(stub) and len(reply.tac) == 8
    entry = _entry(stub, "pay-1")
    assert (entry.state, entry.tac, entry.transaction_id) == (pb.TRANSACTION_STATE_CONFIRMED, reply.tac,
                                                              reply.transaction_id)  # fmt: skip
    assert "Debit:recovered" in _audit_operations(stub)
    again = stub.Debit(_debit())
    assert again.replayed and again.tac == reply.tac and _balance(stub) == start - 300


def test_debit_card_pulled_right_after_it_debited_is_in_doubt_and_the_retry_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, DEBIT_FOR_PURCHASE, monkeypatch, pull=True)
    code, reason, details = _error(lambda: stub.Debit(_debit()))  # was ABORTED / CARD_REMOVED
    _assert_in_doubt(code, reason, details, "pay-1")
    assert details.metadata["cause"] == "CARD_REMOVED"
    entry = _entry(stub, "pay-1")
    assert entry.state == pb.TRANSACTION_STATE_PREPARED and entry.transaction_id == details.metadata["transaction_id"]
    # still in doubt while the card is out: never a failure
    assert _error(lambda: stub.Debit(_debit()))[1] == "TRANSACTION_IN_DOUBT"
    backend.insert_card()
    again = stub.Debit(_debit())
    assert again.replayed and len(again.tac) == 8 and again.transaction_id == entry.transaction_id
    assert again.balance_fen == start - 300 == _balance(stub)  # charged once
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_CONFIRMED


def test_debit_card_pulled_before_it_committed_is_in_doubt_and_the_retry_answers_the_failure(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    """The card lost power inside DEBIT FOR PURCHASE before its commit: not charged. The retry says so."""
    backend = _backend(daemon)
    start = _balance(stub)

    def pull(point: str) -> bool:
        if point != "purchase:mac1-verified":
            return False
        backend.remove_card()
        return True

    backend._card.tear = pull
    code, reason, details = _error(lambda: stub.Debit(_debit()))
    _assert_in_doubt(code, reason, details, "pay-1")
    backend._card.tear = None
    backend.insert_card()
    code, reason, _ = _error(lambda: stub.Debit(_debit()))
    assert reason not in {"TRANSACTION_IN_DOUBT", ""} and code != grpc.StatusCode.UNKNOWN  # a final failure
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_VOIDED
    assert _balance(stub) == start  # ... and a failure means the card was not changed


def test_debit_the_sam_refuses_mac2_after_the_card_debited_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = _balance(stub)
    fired = _after(_backend(daemon).sam_transport, CREDIT_SAM_FOR_PURCHASE, lambda _a: b"\x93\x02", monkeypatch)
    reply = stub.Debit(_debit())  # was FAILED_PRECONDITION / WRONG_MAC with the journal CONFIRMED
    assert fired and reply.balance_fen == start - 300 == _balance(stub) and len(reply.tac) == 8
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_CONFIRMED
    assert stub.Debit(_debit()).replayed and _balance(stub) == start - 300


def test_debit_card_pulled_before_the_card_was_touched_is_a_plain_failure_and_nothing_changed(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, INITIALIZE, monkeypatch, pull=True)  # INITIALIZE FOR PURCHASE changes no money
    code, reason, _ = _error(lambda: stub.Debit(_debit()))
    assert (code, reason) == (grpc.StatusCode.ABORTED, "CARD_REMOVED")
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_VOIDED
    backend.insert_card()
    assert _balance(stub) == start


def test_debit_journal_failing_after_the_card_debited_is_in_doubt_not_internal(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk right after the card answered: the TAC cannot be recorded. In doubt, then recovered."""
    start = _balance(stub)

    def full(*_a: object, **_k: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    for name in ("complete", "mark_debited"):
        monkeypatch.setattr(daemon.journal, name, full)
    code, reason, details = _error(lambda: stub.Debit(_debit()))  # was INTERNAL
    _assert_in_doubt(code, reason, details, "pay-1")
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_PREPARED
    monkeypatch.undo()  # space freed
    assert _balance(stub) == start - 300  # the card was charged: "failed" would have been a lie
    again = stub.Debit(_debit())
    assert again.replayed and again.balance_fen == start - 300 == _balance(stub) and len(again.tac) == 8


def test_a_replay_of_a_charged_debit_with_the_disk_full_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay's own audit row cannot be written: the answer is still the payment, not STORAGE_FULL."""
    first = stub.Debit(_debit())

    def full(*_a: object, **_k: object) -> None:
        raise StorageFullError()

    monkeypatch.setattr(daemon.audit, "record", full)
    again = stub.Debit(_debit())
    assert again.replayed and again.tac == first.tac


def test_debit_past_the_client_deadline_is_answered_by_the_retry_without_a_second_charge(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _slow_commit(backend, "purchase:commit", 1.5)
    code, _, _ = _error(lambda: stub.Debit(_debit(), timeout=0.3))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED  # the client cannot know: in doubt
    again = stub.Debit(_debit(), timeout=10)  # queued behind the first on the reader: its final answer
    assert again.replayed and again.balance_fen == start - 300 == _balance(stub)
    assert _entry(stub, "pay-1").state == pb.TRANSACTION_STATE_CONFIRMED


def test_a_retry_that_waits_too_long_behind_the_first_call_is_in_doubt_not_reader_busy(tmp_path: Path) -> None:
    """The client's deadline expired and it retried at once; the retry's queue wait runs out while the first
    call is still debiting. READER_BUSY would say "not charged" — but the first call charges the card."""
    config = simulated_config(tmp_path / "state", queue_timeout_s=0.3)
    with running_daemon(config) as d, daemon_stub(d) as stub:
        start = _balance(stub)
        _slow_commit(_backend(d), "purchase:commit", 1.5)
        first = threading.Thread(target=lambda: _error(lambda: stub.Debit(_debit(), timeout=0.2)))
        first.start()
        time.sleep(0.5)  # the first call is inside DEBIT FOR PURCHASE now
        code, reason, details = _error(lambda: stub.Debit(_debit(), timeout=10))  # was UNAVAILABLE/READER_BUSY
        _assert_in_doubt(code, reason, details, "pay-1")
        assert details.metadata["cause"] == "READER_BUSY"
        first.join()
        again = _settled(lambda: stub.Debit(_debit(), timeout=10))  # retry until the first call is done
        assert again.replayed and again.balance_fen == start - 300 == _balance(stub)


def _settled(call: Callable[[], Any]) -> Any:
    """``call()`` retried while it answers TRANSACTION_IN_DOUBT (at most 10 s), as a client does."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            err: Any = exc
            if dict(err.trailing_metadata() or ()).get(REASON_KEY) != "TRANSACTION_IN_DOUBT":
                raise
            assert time.monotonic() < deadline, "still in doubt after 10 s"
            time.sleep(0.2)


def _slow_commit(backend: Any, point: str, seconds: float) -> None:
    """The card takes ``seconds`` to commit at ``point`` (once): a slow card or reader."""

    def slow(name: str) -> bool:
        if name == point:
            backend._card.tear = None
            time.sleep(seconds)
        return False

    backend._card.tear = slow


# --- item 2: Load -----------------------------------------------------------------------------------------------


def test_load_whose_answer_the_reader_lost_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = _balance(stub)
    fired = _lose_answer(_backend(daemon), CREDIT_FOR_LOAD, monkeypatch, pull=False)
    reply = stub.Load(_load())
    assert fired and reply.balance_fen == start + 2_000 == _balance(stub) and len(reply.tac) == 8
    assert _entry(stub, "top-1").state == pb.TRANSACTION_STATE_CONFIRMED
    assert "Load:recovered" in _audit_operations(stub)
    assert stub.Load(_load()).replayed and _balance(stub) == start + 2_000


def test_load_card_pulled_right_after_it_loaded_is_in_doubt_and_the_retry_answers_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, CREDIT_FOR_LOAD, monkeypatch, pull=True)
    code, reason, details = _error(lambda: stub.Load(_load()))
    _assert_in_doubt(code, reason, details, "top-1")
    assert _entry(stub, "top-1").state == pb.TRANSACTION_STATE_PREPARED
    backend.insert_card()
    again = stub.Load(_load())
    assert again.replayed and again.balance_fen == start + 2_000 == _balance(stub)  # loaded once
    assert _entry(stub, "top-1").state == pb.TRANSACTION_STATE_CONFIRMED


def test_load_past_the_client_deadline_is_answered_by_the_retry_without_a_second_load(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _slow_commit(backend, "load:commit", 1.5)
    assert _error(lambda: stub.Load(_load(), timeout=0.3))[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    again = stub.Load(_load(), timeout=10)
    assert again.replayed and again.balance_fen == start + 2_000 == _balance(stub)


# --- item 3: a request id is bound to kind, reader, amount and card -------------------------------------------


def _other_card_in(backend: Any) -> None:
    """Take the card out of ``backend``'s reader and put another holder's card in (a different card number)."""
    backend.remove_card()
    backend.card_transport.insert(new_demo_card(person=load_person(ROOT / "examples/persons/li-na.json")))
    backend._generation += 1  # what insert_card() does: the next job opens a session on the new card


def test_same_request_id_with_another_card_is_refused_and_that_card_is_not_charged(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    first = stub.Debit(_debit(request_id="REG-0001"))
    _other_card_in(_backend(daemon))
    second_start = _balance(stub)
    code, reason, details = _error(lambda: stub.Debit(_debit(request_id="REG-0001")))  # was OK, first card's reply
    assert (code, reason, details.metadata["mismatch"]) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT",
                                                            "card_number")  # fmt: skip
    assert first.card_number not in details.message  # the other patient's ID number is not disclosed
    assert _balance(stub) == second_start
    paid = stub.Debit(_debit(request_id="REG-0002"))  # a new request id charges the second card
    assert paid.card_number != first.card_number and paid.balance_fen == second_start - 300


def test_same_request_id_for_a_load_with_another_card_is_refused(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    stub.Load(_load(request_id="TOP-1"))
    _other_card_in(_backend(daemon))
    start = _balance(stub)
    code, reason, details = _error(lambda: stub.Load(_load(request_id="TOP-1")))
    assert (code, reason, details.metadata["mismatch"]) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT",
                                                            "card_number")  # fmt: skip
    assert _balance(stub) == start


def test_same_request_id_with_no_card_in_the_reader_answers_the_stored_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    """A kiosk that lost the answer after the patient took the card: the stored result names its card."""
    first = stub.Debit(_debit())
    _backend(daemon).remove_card()
    again = stub.Debit(_debit())
    assert again.replayed and again.card_number == first.card_number and again.tac == first.tac


@pytest.mark.parametrize(
    ("request_", "mismatch"),
    [
        (pb.DebitRequest(reader=READER, amount_fen=301, request_id="pay-1", order_id="pay-1"), "amount_fen"),
        (pb.DebitRequest(reader="virtual-1", amount_fen=300, request_id="pay-1", order_id="pay-1"), "reader"),
        (pb.LoadRequest(reader=READER, amount_fen=300, request_id="pay-1", order_id="pay-1"), "kind"),
    ],
)
def test_same_request_id_with_another_amount_reader_or_kind_is_refused_naming_it(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, request_: Any, mismatch: str
) -> None:
    stub.Debit(_debit())
    balances = {r: _balance(stub, r) for r in (READER, "virtual-1")}
    call = stub.Debit if isinstance(request_, pb.DebitRequest) else stub.Load
    code, reason, details = _error(lambda: call(request_))
    assert (code, reason, details.metadata["mismatch"]) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT",
                                                            mismatch)  # fmt: skip
    assert mismatch in details.message
    assert {r: _balance(stub, r) for r in balances} == balances


def test_transaction_time_of_a_recovered_debit_is_the_card_transaction_time(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result recovered within the call is the journal's entry (time, terminal, serial), not a made-up one."""
    _lose_answer(_backend(daemon), DEBIT_FOR_PURCHASE, monkeypatch, pull=False)
    reply = stub.Debit(_debit())
    entry = _entry(stub, "pay-1")
    assert (reply.terminal_id, reply.terminal_serial, reply.card_counter) == (
        entry.terminal_id, entry.terminal_serial, entry.card_counter)  # fmt: skip
    age = dt.datetime.now(dt.UTC) - reply.transaction_time.ToDatetime(dt.UTC)
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)


# --- item 2: the example kiosk never prints 失败 for a payment in doubt ------------------------------------------


def _kiosk() -> Any:
    spec = importlib.util.spec_from_file_location("kiosk_client", ROOT / "examples" / "kiosk_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_kiosk(daemon: Daemon, *extra: str) -> int:
    args = ["--target", f"127.0.0.1:{daemon.port}", "--reader", READER, "--fee", "500", "--order", "REG-K1", *extra]
    return int(_kiosk().main(args))


def test_kiosk_past_its_deadline_retries_and_prints_the_receipt(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, capsys: pytest.CaptureFixture[str]
) -> None:
    start = _balance(stub)
    _slow_commit(_backend(daemon), "purchase:commit", 1.5)
    assert _run_kiosk(daemon, "--timeout", "0.5", "--retries", "5") == 0
    out, err = capsys.readouterr()
    assert "处理中/待确认" in out and "挂号收据" in out and "失败" not in out + err
    assert _balance(stub) == start - 500  # once


def test_kiosk_card_pulled_after_the_debit_waits_for_the_card_and_prints_the_receipt(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, DEBIT_FOR_PURCHASE, monkeypatch, pull=True)
    threading.Timer(1.5, backend.insert_card).start()  # the patient puts the card back
    assert _run_kiosk(daemon, "--retries", "8") == 0
    out, err = capsys.readouterr()
    assert "处理中/待确认" in out and "挂号收据" in out and "失败" not in out + err
    assert _balance(stub) == start - 500


def test_kiosk_without_a_final_answer_says_do_not_pay_again_never_failed(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, DEBIT_FOR_PURCHASE, monkeypatch, pull=True)  # the card does not come back in time
    assert _run_kiosk(daemon, "--retries", "2") == 3
    out, err = capsys.readouterr()
    assert "处理中/待确认" in out and "待确认" in err and "Do NOT pay again" in err and "失败" not in out + err
    backend.insert_card()
    assert _balance(stub) == start - 500  # it had been charged: 失败 would have made the patient pay twice
    assert _entry(stub, "REG-K1").state == pb.TRANSACTION_STATE_CONFIRMED


# --- item 2: the Node.js example client treats in doubt the same way -------------------------------------------


def _node(daemon: Daemon, *args: str) -> tuple[int, dict[str, Any]]:
    from tests.daemon.test_node_client import NODE, _node_modules  # noqa: PLC0415 - skipped without node

    if NODE is None:
        pytest.skip("node is not on PATH (Node.js is optional)")
    done = subprocess.run(
        [NODE, str(ROOT / "examples" / "node" / "debit.js"), "--target", f"127.0.0.1:{daemon.port}", "--json",
         "--reader", READER, "--amount", "250", "--request-id", "node-1", *args],
        env={**os.environ, "NODE_PATH": str(_node_modules())}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_node_client_past_its_deadline_retries_and_gets_the_result(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    start = _balance(stub)
    _slow_commit(_backend(daemon), "purchase:commit", 2.0)
    code, result = _node(daemon, "--deadline-ms", "500", "--retries", "5")
    assert code == 0, result
    assert result["replayed_retry"] is True and result["retry_same_tac"] and len(result["tac"]) == 8
    assert int(result["balance_fen"]) == start - 250 == _balance(stub)


def test_node_client_without_a_final_answer_reports_in_doubt_not_failed(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(daemon)
    start = _balance(stub)
    _lose_answer(backend, DEBIT_FOR_PURCHASE, monkeypatch, pull=True)
    code, result = _node(daemon, "--retries", "1")
    assert code == 3 and result["in_doubt"]["request_id"] == "node-1" and "error" not in result
    backend.insert_card()
    assert _balance(stub) == start - 250  # charged: reporting a failure would have been wrong
