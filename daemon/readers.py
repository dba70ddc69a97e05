"""Reader manager: one worker per reader, so APDUs to one reader never interleave (PC/SC field problems, sources.md
F6.5).

Each reader has an I/O lock held by whoever talks to it. An RPC that finds its reader idle (lock free, nothing
queued) runs its job on its own thread under the lock — no hand-off to another thread and back, which cost two
thread wake-ups per RPC. Otherwise the job is queued to the reader's worker thread, which runs queued jobs in
order under the same lock. A queued job that does not *start* within the queue timeout is withdrawn and the RPC
fails with READER BUSY; a job that started always runs to the end (a money transaction is never abandoned
half-way, not even at shutdown). Different readers run in parallel. Between jobs the worker
polls card presence, publishes insert/remove events, and calls ``on_insert`` for a new card (the service
resolves that card's open journal entries there). The daemon's own jobs (e.g. blocking a card the host listed
while it is in the reader) are posted to the queue without anyone waiting (:meth:`ReaderWorker.post`). Backend
failures while polling (reader unplugged, pcscd restarted) are reported as an absent reader and retried with
backoff (PC/SC field problems, sources.md F6.1; PC/SC field problems, sources.md F6.2).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from daemon.backend import ReaderBackend
from daemon.errors import ReaderBusyError, ShuttingDownError, UnknownReaderError
from daemon.events import EventBus
from daemon.validation import loggable

__all__ = ["ReaderManager", "ReaderStatus", "ReaderWorker"]

T = TypeVar("T")
log = logging.getLogger("healthcardd.readers")


@dataclass(frozen=True)
class ReaderStatus:
    """What ListReaders reports for one reader."""

    name: str
    sam_reader: str
    available: bool
    card_present: bool
    atr: bytes
    sam_available: bool = True  # the SAM reader is there
    sam_present: bool = True  # a SAM is in it
    sam_usable: bool = True  # False once the SAM refused the configured PIN (daemon/samgate.py)


@dataclass
class _Job:
    fn: Callable[[ReaderBackend], Any]
    future: Future[Any] = field(default_factory=Future)
    context: contextvars.Context = field(default_factory=contextvars.copy_context)  # the RPC's request id


class ReaderWorker:
    """Serialises all I/O to one reader: inline on the RPC's thread when idle, else its worker thread."""

    def __init__(
        self,
        backend: ReaderBackend,
        events: EventBus,
        *,
        poll_interval: float = 0.25,
        on_insert: Callable[[ReaderBackend], None] | None = None,
        on_apdus: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self._events = events
        self._poll_interval = poll_interval
        self._on_insert = on_insert
        self._on_apdus = on_apdus
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._present = False
        self._atr = b""
        self._available = True
        self._sam_available = True
        self._sam_present = True
        self._backoff = poll_interval
        self._next_poll = 0.0
        self._apdus_seen = 0
        self._stopping = False
        self._io = threading.Lock()  # held while anything talks to the reader: an inline job, a queued job, a poll
        self._queued = 0  # jobs queued or taken by the worker but not started; inline runs only when 0
        self._queued_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"reader:{self.name}", daemon=True)

    def start(self) -> None:
        """Start the worker thread (polls once before taking jobs)."""
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Jobs waiting."""
        return self._queue.qsize()

    def status(self) -> ReaderStatus:
        """The last polled state."""
        return ReaderStatus(self.name, self.backend.sam_reader, self._available, self._present, self._atr,
                            self._sam_available, self._sam_present,
                            bool(getattr(self.backend, "sam_usable", True)))  # fmt: skip

    def submit(self, fn: Callable[[ReaderBackend], T], *, queue_timeout: float) -> T:
        """Run ``fn(backend)`` alone on the reader; READER BUSY if it has not started within ``queue_timeout`` s.

        An idle reader runs it right here on the caller's thread; a busy one queues it to the worker thread
        (run in the caller's context, so the RPC's request id stays on its log lines).
        """
        if self._stopping:
            raise ShuttingDownError("healthcardd is shutting down")
        if self._queued == 0 and self._io.acquire(blocking=False):  # idle reader: run here, no thread hand-off
            try:
                if self._stopping:
                    raise ShuttingDownError("healthcardd is shutting down")
                return fn(self.backend)
            finally:
                self._count_apdus()
                self._io.release()
        job = _Job(fn)
        with self._queued_lock:
            self._queued += 1
        self._queue.put(job)
        try:
            try:
                return job.future.result(timeout=queue_timeout)  # type: ignore[no-any-return]
            except TimeoutError:
                if job.future.cancel():  # still queued: withdraw it
                    raise ReaderBusyError(
                        f"reader {self.name!r} is busy: the request waited {queue_timeout:g} s in the queue"
                    ) from None
                return job.future.result()  # type: ignore[no-any-return]  # started: wait for the end
        except CancelledError:
            raise ShuttingDownError("healthcardd is shutting down") from None

    def post(self, fn: Callable[[ReaderBackend], object]) -> None:
        """Queue ``fn(backend)`` for the worker thread and return at once: a job of the daemon itself (e.g. blocking
        a card the host listed while it is in the reader). It runs after the job in flight and those queued before
        it, never beside them; a failure is logged (no caller waits for it). Dropped while shutting down."""
        if self._stopping:
            return
        name = getattr(fn, "__name__", "job")

        def logged(backend: ReaderBackend) -> None:
            try:
                fn(backend)
            except Exception:  # no RPC waits for it: say so in the log
                log.exception("reader job %s failed", name, extra={"reader": self.name})

        with self._queued_lock:
            self._queued += 1
        self._queue.put(_Job(logged))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the job in flight, fail the queued ones, stop the thread."""
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        with self._io:
            self._poll()
        while True:
            wait = max(0.0, self._next_poll - time.monotonic())
            try:
                job = self._queue.get(timeout=wait if wait > 0 else 0.001)
            except queue.Empty:
                with self._io:
                    self._poll()
                continue
            if job is None:
                break
            with self._io:
                with self._queued_lock:
                    self._queued -= 1
                self._run_queued(job)
                if time.monotonic() >= self._next_poll:
                    self._poll()
        while True:  # fail whatever is still queued
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future.cancel():
                continue
        with self._io:  # an inline job in flight finishes first
            try:
                self.backend.close()
            except Exception:  # closing at shutdown; nothing to do
                log.warning("closing reader failed", extra={"reader": self.name})

    def _run_queued(self, job: _Job) -> None:
        if self._stopping and job.future.cancel():
            return
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.context.run(job.fn, self.backend))
        except BaseException as exc:  # handed to the waiting RPC
            job.future.set_exception(exc)
        finally:
            self._count_apdus()

    def _count_apdus(self) -> None:
        total = self.backend.apdu_count
        if self._on_apdus is not None and total > self._apdus_seen:
            self._on_apdus(self.name, total - self._apdus_seen)
        self._apdus_seen = total

    def _poll_sam(self) -> None:
        """The SAM's reader and presence for ListReaders (a pulled SAM shows as absent)."""
        try:
            present = self.backend.poll_sam()
        except Exception as exc:  # the SAM reader is gone / service down
            if self._sam_available:
                log.warning("SAM reader unavailable: %s", type(exc).__name__, extra={"reader": self.name})
            self._sam_available, self._sam_present = False, False
            return
        if present != self._sam_present:
            log.info("SAM %s", "inserted" if present else "removed", extra={"reader": self.name})
        self._sam_available, self._sam_present = True, present

    def _poll(self) -> None:
        self._poll_sam()
        try:
            present, atr = self.backend.poll()
        except Exception as exc:  # reader gone / service down: report absent, retry later
            if self._available:
                log.warning("reader unavailable: %s", type(exc).__name__, extra={"reader": self.name})
            self._available = False
            if self._present:
                self._present, self._atr = False, b""
                self._events.publish(self.name, inserted=False)
            self._backoff = min(self._backoff * 2, 5.0)
            self._next_poll = time.monotonic() + self._backoff
            return
        if not self._available:
            log.info("reader available again", extra={"reader": self.name})
        self._available = True
        self._backoff = self._poll_interval
        self._next_poll = time.monotonic() + self._poll_interval
        if present != self._present or (present and atr != self._atr):
            if self._present:
                self._events.publish(self.name, inserted=False)
            self._present, self._atr = present, atr
            if present:
                self._events.publish(self.name, inserted=True, atr=atr)
                if self._on_insert is not None:
                    try:
                        self._on_insert(self.backend)
                    except Exception:  # recovery retried at the next insertion or operation
                        log.exception("resolving open transactions on insertion failed", extra={"reader": self.name})
                    self._count_apdus()


class ReaderManager:
    """All reader workers of the daemon."""

    def __init__(self, workers: Mapping[str, ReaderWorker], *, queue_timeout: float) -> None:
        self._workers = dict(workers)
        self.queue_timeout = queue_timeout

    def start(self) -> None:
        """Start every worker."""
        for worker in self._workers.values():
            worker.start()

    def names(self) -> list[str]:
        """Reader names in configuration order."""
        return list(self._workers)

    def worker(self, reader: str) -> ReaderWorker:
        """The worker of ``reader``; :class:`UnknownReaderError` if there is none."""
        try:
            return self._workers[reader]
        except KeyError:
            raise UnknownReaderError(
                f"unknown reader {loggable(reader)!r}; configured: {', '.join(self._workers) or 'none'}"
            ) from None

    def run(self, reader: str, fn: Callable[[ReaderBackend], T]) -> T:
        """Run ``fn`` on the worker of ``reader`` (serialised with every other job of that reader)."""
        return self.worker(reader).submit(fn, queue_timeout=self.queue_timeout)

    def statuses(self) -> list[ReaderStatus]:
        """The state of every reader."""
        return [w.status() for w in self._workers.values()]

    def stop(self) -> None:
        """Stop every worker, each finishing its job in flight."""
        threads = [threading.Thread(target=w.stop) for w in self._workers.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
