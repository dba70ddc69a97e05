"""Reader workers: one job at a time per reader (inline when idle, queued when busy), READER BUSY, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from apdu.errors import HealthCardError
from daemon.backend import Completed, Prepared
from daemon.cardops import SimulatedReader
from daemon.errors import ReaderBusyError, ShuttingDownError
from daemon.events import EventBus
from daemon.logs import bind_request_id, current_request_id
from daemon.readers import ReaderWorker
from healthcard.api import Section


class FakeBackend:
    """Counts how many parties talk to the reader at once (polls included): must never exceed 1."""

    name = "fake-0"
    sam_reader = ""
    apdu_count = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.polls = 0
        self.closed_at: float | None = None

    @contextmanager
    def using(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(0.0005)
            yield
        finally:
            with self._lock:
                self.active -= 1

    def poll(self) -> tuple[bool, bytes]:
        with self.using():
            self.polls += 1
        return True, b"\x3b\x00"

    def poll_sam(self) -> bool:
        return True

    def session(self) -> Any:
        return self.using()

    def close(self) -> None:
        self.closed_at = time.monotonic()


@pytest.fixture
def worker() -> Iterator[tuple[ReaderWorker, FakeBackend]]:
    backend = FakeBackend()
    w = ReaderWorker(backend, EventBus(), poll_interval=0.01)
    w.start()
    yield w, backend
    w.stop(5)


def _on(backend: Any) -> str:
    with backend.session():
        return threading.current_thread().name


def test_an_idle_reader_runs_the_job_on_the_callers_thread() -> None:
    backend = FakeBackend()
    w = ReaderWorker(backend, EventBus(), poll_interval=60)
    w.start()
    try:
        deadline = time.monotonic() + 5
        while backend.polls == 0 and time.monotonic() < deadline:  # the start-up poll
            time.sleep(0.01)
        time.sleep(0.01)
        assert w.submit(_on, queue_timeout=1) == threading.current_thread().name  # no hand-off
        assert w.submit(_on, queue_timeout=1) == threading.current_thread().name
    finally:
        w.stop(5)


def test_a_busy_reader_queues_to_its_worker_and_times_out_with_reader_busy(
    worker: tuple[ReaderWorker, FakeBackend],
) -> None:
    w, backend = worker
    release, started = threading.Event(), threading.Event()

    def hold(b: Any) -> None:
        with b.session():
            started.set()
            release.wait(5)

    holder = threading.Thread(target=w.submit, args=(hold,), kwargs={"queue_timeout": 5})
    holder.start()
    assert started.wait(5)
    with pytest.raises(ReaderBusyError, match="busy"):
        w.submit(_on, queue_timeout=0.1)
    names: list[str] = []
    waiter = threading.Thread(target=lambda: names.append(w.submit(_on, queue_timeout=5)))
    waiter.start()
    time.sleep(0.05)
    release.set()
    holder.join(5)
    waiter.join(5)
    assert names == [f"reader:{backend.name}"]  # queued: run by the worker thread
    assert backend.max_active == 1


def test_many_clients_never_overlap_on_one_reader(worker: tuple[ReaderWorker, FakeBackend]) -> None:
    w, backend = worker
    done: list[str] = []

    def client() -> None:
        for _ in range(20):
            done.append(w.submit(_on, queue_timeout=10))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(done) == 160
    assert backend.max_active == 1  # jobs and presence polls never interleave
    assert backend.polls >= 1
    assert any(name.startswith("reader:") for name in done)  # contention: jobs went through the queue


def test_a_posted_job_runs_after_the_job_in_flight_never_beside_it_and_its_failure_is_logged(
    worker: tuple[ReaderWorker, FakeBackend], caplog: pytest.LogCaptureFixture
) -> None:
    w, backend = worker
    order: list[str] = []
    release, started, posted = threading.Event(), threading.Event(), threading.Event()

    def hold(b: Any) -> None:
        with b.session():
            started.set()
            release.wait(5)
            order.append("transaction")

    def block(b: Any) -> None:
        with b.session():
            order.append("block")
        posted.set()

    def broken(_: Any) -> None:
        raise RuntimeError("card went away")

    holder = threading.Thread(target=w.submit, args=(hold,), kwargs={"queue_timeout": 5})
    holder.start()
    assert started.wait(5)
    w.post(block)  # returns at once although the reader is busy
    w.post(broken)
    assert order == []
    release.set()
    assert posted.wait(5)
    holder.join(5)
    assert order == ["transaction", "block"] and backend.max_active == 1
    deadline = time.monotonic() + 5
    while "reader job broken failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "reader job broken failed" in caplog.text
    assert w.submit(_on, queue_timeout=5)  # the worker carries on


def test_a_queued_job_keeps_the_rpcs_request_id(worker: tuple[ReaderWorker, FakeBackend]) -> None:
    w, _ = worker
    release, started = threading.Event(), threading.Event()

    def hold(b: Any) -> None:
        started.set()
        release.wait(5)

    holder = threading.Thread(target=w.submit, args=(hold,), kwargs={"queue_timeout": 5})
    holder.start()
    assert started.wait(5)
    seen: list[tuple[str, str]] = []

    def rpc() -> None:
        with bind_request_id("req-42"):
            seen.append(w.submit(lambda _b: (threading.current_thread().name, current_request_id()), queue_timeout=5))

    t = threading.Thread(target=rpc)
    t.start()
    time.sleep(0.05)
    release.set()
    t.join(5)
    holder.join(5)
    assert seen == [("reader:fake-0", "req-42")]


def test_stop_finishes_the_inline_job_in_flight_then_refuses(worker: tuple[ReaderWorker, FakeBackend]) -> None:
    w, backend = worker
    started = threading.Event()
    ended: list[float] = []

    def slow(b: Any) -> None:
        started.set()
        time.sleep(0.2)
        ended.append(time.monotonic())

    t = threading.Thread(target=w.submit, args=(slow,), kwargs={"queue_timeout": 5})
    t.start()
    assert started.wait(5)
    w.stop(5)
    t.join(5)
    assert ended and backend.closed_at is not None and backend.closed_at >= ended[0]
    with pytest.raises(ShuttingDownError):
        w.submit(_on, queue_timeout=1)


class _RecordingHooks:
    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def prepared(self, prepared: Prepared) -> None:
        self.steps.append(("prepared", prepared))

    def completed(self, completed: Completed) -> None:
        self.steps.append(("completed", completed))


def test_simulated_debit_and_load_hand_the_hooks_what_they_return(tmp_path: Path) -> None:
    reader = SimulatedReader("virtual-0", tmp_path)
    try:
        with reader.session() as card:
            before = card.balance()
            debit_hooks, load_hooks = _RecordingHooks(), _RecordingHooks()
            debited = card.debit(250, debit_hooks)
            loaded = card.load(1000, load_hooks)
            after = card.balance()
    finally:
        reader.close()
    assert [s for s, _ in debit_hooks.steps] == ["prepared", "completed"]
    prepared, completed = debit_hooks.steps[0][1], debit_hooks.steps[1][1]
    assert (prepared.amount_fen, prepared.balance_before_fen) == (250, before)
    assert completed == debited and debited.balance_fen == before - 250 and len(debited.tac) == 8
    assert [s for s, _ in load_hooks.steps] == ["prepared", "completed"]
    assert load_hooks.steps[0][1].balance_before_fen == before - 250 and load_hooks.steps[0][1].terminal_serial == 0
    assert load_hooks.steps[1][1] == loaded and loaded.balance_fen == after == before - 250 + 1000


def test_simulated_read_answers_the_card_api_data_of_the_sections_asked(tmp_path: Path) -> None:
    reader = SimulatedReader("virtual-0", tmp_path)
    try:
        with reader.session() as card:
            number = card.card_number
            holder = card.read([Section.HOLDER])
            both = card.read([Section.CLINICAL, Section.SPECIAL, Section.HOLDER])
    finally:
        reader.close()
    assert holder.sections == (Section.HOLDER,) and holder.holder is not None and holder.holder.name
    assert holder.card_number == number
    assert both.sections == (Section.HOLDER, Section.CLINICAL, Section.SPECIAL) and both.holder == holder.holder


def test_simulated_session_is_kept_across_jobs_and_dropped_after_a_failure(tmp_path: Path) -> None:
    reader = SimulatedReader("virtual-0", tmp_path)
    try:
        with reader.session() as first:
            number = first.card_number
        counted = reader.apdu_count
        assert counted > 0
        with reader.session() as second:
            assert second.balance() >= 0
        assert second._s is first._s and reader.apdu_count > counted  # same card session, APDUs counted
        with pytest.raises(RuntimeError), reader.session():
            raise RuntimeError("job failed")
        with reader.session() as third:
            assert third._s is not first._s and third.card_number == number  # a new session after the failure
        reader.remove_card()
        with pytest.raises(HealthCardError, match="no card"), reader.session():
            pass
        reader.insert_card()
        with reader.session() as fourth:
            assert fourth._s is not third._s and fourth.card_number == number
    finally:
        reader.close()
