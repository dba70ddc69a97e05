"""Operator queries and reports beside payments (issue #13): flat query latency, Debit p99 under polling, a 100k day.

Three parts, one run, ratios computed within it (the 2 shared CPUs drift too much between runs):

1. **Query latency, 10k vs 1M rows.** Two synthetic journals (``benchmarks/journal_data.py``: 1,000 entries a
   day, 100 cards, so one card holds 1 % of the rows) are queried in-process through :class:`daemon.journal.Journal`
   (read connections, keyset pages of 100, rows converted to ``Transaction`` messages as the service does): the
   median of each filter at both sizes and their ratio (goal ≤ 1.5).
2. **Debit p99 while an operator polls, 1M rows.** ``healthcardd --simulate`` on the 1M-row journal; Debits back
   to back from one client, in 6 alternating timed blocks without and with a second process that every second lists
   the prepared entries, a one-day window, a card, and pages through a day's reconciliation report (goal: p99
   with polling ≤ 1.5 × p99 without).
3. **A 100,000-entry day.** A daemon on a journal of one 100k-entry day: the report paged with page_size 1000
   (default client limits), the daemon's RSS sampled every 5 ms while it serves it (goal: grows < 20 MB), and
   Debits alone and while a second process pages the whole report again and again.

    .venv/bin/python -m benchmarks.queries [--rows 1000000] [--block-s 5] [--quick]

``--quick`` uses 200k rows, a 30k day and 1 s blocks (a smoke run, not the figures in docs/performance.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import multiprocessing
import multiprocessing.synchronize
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.journal_data import Synthetic, fill_journal
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.convert import transaction_message
from daemon.database import Database
from daemon.journal import Entry, Journal, Kind, State
from tests.daemon.procs import free_port, wait_serving

_TREE = Path(__file__).resolve().parents[1]


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _timed(fn: Callable[[], object], n: int) -> float:
    """Median milliseconds of ``n`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _queries(journal: Journal, data: Synthetic) -> dict[str, Callable[[], object]]:
    """The operator's queries on a journal, each returning converted messages like the service."""
    first, last = _dt.date.fromisoformat(data.first_day), _dt.date.fromisoformat(data.last_day)
    middle = first + (last - first) / 2
    day = middle.isoformat()
    start = _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.UTC)
    window = {"start": start, "end": start + _dt.timedelta(days=1)}
    _, deep = journal.list_entries(limit=data.rows // 2)  # a cursor half-way down the journal

    def listing(**filters: object) -> Callable[[], object]:
        def run() -> object:
            entries, _ = journal.list_entries(limit=100, **filters)  # type: ignore[arg-type]
            return [transaction_message(e) for e in entries]

        return run

    def report() -> object:
        totals = journal.reconciliation_totals(day)
        entries, _ = journal.reconciliation_entries(day, limit=100)
        return totals, [transaction_message(e) for e in entries]

    return {
        "newest 100, no filter": listing(),
        "page 100 half-way down (keyset)": listing(page_token=deep),
        "state = PREPARED": listing(state=State.PREPARED),
        "state = VOIDED (1 % of rows)": listing(state=State.VOIDED),
        "state = CONFIRMED": listing(state=State.CONFIRMED),
        "one-day time window (middle)": listing(**window),
        "one card (1 % of rows)": listing(card_number="C000000042"),
        "card + one-day window": listing(card_number="C000000042", **window),
        "report of a day: totals + first page of 100": report,
    }


def query_latency(small: Path, big: Path, small_data: Synthetic, big_data: Synthetic, n: int) -> None:
    dbs = {"small": Database(small), "big": Database(big)}
    try:
        journals = {k: Journal(db) for k, db in dbs.items()}
        qs = {"small": _queries(journals["small"], small_data), "big": _queries(journals["big"], big_data)}
        print(f"\n### 1. Query latency (median of {n}, ms; pages of 100 converted to messages)\n")
        print(f"| query | {small_data.rows:,} rows | {big_data.rows:,} rows | ratio |\n|---|---:|---:|---:|")
        worst = 0.0
        for name in qs["small"]:
            # alternate the two sizes so both see the same machine state
            a = b = 0.0
            for _ in range(3):
                a += _timed(qs["small"][name], n // 3)
                b += _timed(qs["big"][name], n // 3)
            a, b = a / 3, b / 3
            worst = max(worst, b / a)
            print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
        print(f"\nlargest ratio: {worst:.2f} (goal ≤ 1.5)")
        conversion(dbs["big"], big_data.last_day)
    finally:
        for db in dbs.values():
            db.close()


_DAEMON = """
import sys
if float(sys.argv[1]):
    sys.setswitchinterval(float(sys.argv[1]))
from daemon.main import main
sys.exit(main(sys.argv[2:]))
"""


def _entry_by_name(row: sqlite3.Row) -> Entry:
    """The row conversion before issue #13 (``dataclasses.fields`` and a name lookup per field), as a baseline."""
    values = {f.name: row[f.name] for f in dataclasses.fields(Entry)}
    values["kind"], values["state"] = Kind(values["kind"]), State(values["state"])
    for name in ("transaction_time", "created_at", "updated_at"):
        values[name] = _dt.datetime.fromisoformat(values[name]) if values[name] else None
    return Entry(**values)


def conversion(db: Database, day: str, rounds: int = 15) -> None:
    """A report page of 1,000 rows: fetched and converted to entries now and as before, alternately; then messages."""
    journal = Journal(db)
    before_sql = (
        "SELECT * FROM transactions WHERE business_date = ? AND state = 'confirmed'"
        " ORDER BY terminal_id, kind, terminal_serial, seq LIMIT 1000"
    )
    times: dict[str, list[float]] = {"now": [], "before": [], "messages": []}
    for _ in range(rounds):
        t = time.perf_counter()
        entries, _ = journal.reconciliation_entries(day, limit=1000)
        times["now"].append((time.perf_counter() - t) / len(entries))
        t = time.perf_counter()
        old = [_entry_by_name(row) for row in db.query(before_sql, (day,))]
        times["before"].append((time.perf_counter() - t) / len(old))
        t = time.perf_counter()
        [transaction_message(e) for e in entries]
        times["messages"].append((time.perf_counter() - t) / len(entries))
    assert old == entries
    now, before = statistics.median(times["now"]) * 1e6, statistics.median(times["before"]) * 1e6
    print(f"\nrows of a report page fetched and converted to entries: {now:.1f} µs per entry (by name with "
          f"dataclasses.fields, as before: {before:.1f} µs; ratio {now / before:.2f}); then to Transaction "
          f"messages: {statistics.median(times['messages']) * 1e6:.1f} µs per entry")  # fmt: skip


@contextmanager
def running_daemon(state: Path, switch_s: float) -> Iterator[tuple[int, str]]:
    """``healthcardd --simulate`` on ``state`` (``switch_s``: its ``sys.setswitchinterval``, 0 = Python's default,
    5 ms); yields (pid, address)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _DAEMON, str(switch_s), "--simulate", "--listen",
                             f"127.0.0.1:{port}", "--state-dir", str(state), "--log-level", "WARNING"],
                            cwd=_TREE, stderr=subprocess.DEVNULL)  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        wait_serving(address, proc, timeout_s=300)
        yield proc.pid, address
    finally:
        proc.terminate()
        proc.wait(30)


def _page_report(stub: pb_grpc.HealthCardServiceStub, day: str) -> int:
    count, token = 0, ""
    while True:
        page = stub.GetReconciliationReport(
            pb.GetReconciliationReportRequest(business_date=day, page_size=1000, page_token=token)
        )
        count += len(page.transactions)
        token = page.next_page_token
        if not token:
            return count


def _operator(address: str, day: str, period: float, on: multiprocessing.synchronize.Event,
              stop: multiprocessing.synchronize.Event, done: multiprocessing.Queue[int]) -> None:  # fmt: skip
    """A second process: while ``on`` is set, the operator's queries every ``period`` seconds (0 = back to back)."""
    start = _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.UTC)
    rounds = 0
    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.HealthCardServiceStub(ch)
        while not stop.is_set():
            if not on.wait(0.05):
                continue
            t = time.monotonic()
            stub.ListTransactions(pb.ListTransactionsRequest(state=pb.TRANSACTION_STATE_PREPARED))
            window = pb.ListTransactionsRequest()
            window.start_time.FromDatetime(start)
            window.end_time.FromDatetime(start + _dt.timedelta(days=1))
            stub.ListTransactions(window)
            stub.ListTransactions(pb.ListTransactionsRequest(card_number="C000000042"))
            _page_report(stub, day)
            rounds += 1
            if period:
                time.sleep(max(0.0, period - (time.monotonic() - t)))
    done.put(rounds)


def debits_beside_operator(address: str, day: str, block_s: float, period: float, label: str) -> None:
    """Debits back to back in 6 alternating blocks of ``block_s`` seconds, without and with the operator process."""
    ctx = multiprocessing.get_context("spawn")
    on, stop, done = ctx.Event(), ctx.Event(), ctx.Queue()
    operator = ctx.Process(target=_operator, args=(address, day, period, on, stop, done))
    operator.start()
    times: dict[bool, list[float]] = {False: [], True: []}
    try:
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.HealthCardServiceStub(ch)
            for _ in range(20):  # warm-up
                stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=_request_id()))
            for block in range(6):
                polling = block % 2 == 1
                (on.set if polling else on.clear)()
                time.sleep(0.2)
                until = time.perf_counter() + block_s
                while time.perf_counter() < until:
                    t = time.perf_counter()
                    stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=_request_id()))
                    times[polling].append(time.perf_counter() - t)
    finally:
        on.clear()
        stop.set()
        rounds = done.get(timeout=600)
        operator.join(60)
    alone, beside = times[False], times[True]
    print(f"| {label} | {len(alone)} / {len(beside)} | {_ms(alone, 0.5):.2f} / {_ms(alone, 0.99):.2f} "
          f"| {_ms(beside, 0.5):.2f} / {_ms(beside, 0.99):.2f} | {_ms(beside, 0.99) / _ms(alone, 0.99):.2f} "
          f"| {rounds} |")  # fmt: skip


def _request_id() -> str:
    return uuid.uuid4().hex


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def big_day(state: Path, rows: int, block_s: float, switch_s: float) -> None:
    day_end = _dt.datetime(2026, 1, 2, tzinfo=_dt.UTC)
    db = Database(state / "healthcardd.db")
    fill_journal(db, rows, per_day=rows, end=day_end)
    db.close()
    day = "2026-01-01"
    with running_daemon(state, switch_s) as (pid, address):
        with grpc.insecure_channel(address) as ch:  # default client limits (4 MiB receive)
            stub = pb_grpc.HealthCardServiceStub(ch)
            _page_report(stub, day)  # warm-up: code paths and the page cache, as a daemon that already served one
            before = _rss_kb(pid)
            peak, stop = [before], threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], _rss_kb(pid))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t = time.perf_counter()
            runs = 3
            for _ in range(runs):
                count = _page_report(stub, day)
            elapsed = (time.perf_counter() - t) / runs
            stop.set()
            sampler.join()
            after = _rss_kb(pid)
        print(f"\n### 3. A day of {rows:,} entries ({count:,} confirmed), report paged by 1000 with default limits\n")
        print(f"- whole report: {elapsed:.2f} s ({runs} runs, mean); daemon RSS before {before / 1024:.1f} MB, "
              f"peak while serving {peak[0] / 1024:.1f} MB (+{(peak[0] - before) / 1024:.1f} MB), after "
              f"{after / 1024:.1f} MB (goal: grows < 20 MB)")  # fmt: skip
        print("\n| journal | Debits alone / beside | alone p50 / p99 ms | while the report is paged back to back "
              "p50 / p99 ms | p99 ratio | reports served |\n|---|---|---|---|---:|---:|")  # fmt: skip
        debits_beside_operator(address, day, block_s, 0.0, f"one {rows:,}-entry day")


def polling(state: Path, big: Synthetic, block_s: float, switch_s: float) -> None:
    print(f"\n### 2. Debit (1 fen) through the daemon on {big.rows:,} rows: back to back, 6 alternating blocks "
          f"of {block_s:g} s\n")  # fmt: skip
    print("| journal | Debits alone / beside | alone p50 / p99 ms | operator polling every second p50 / p99 ms "
          "| p99 ratio (goal ≤ 1.5) | polls |\n|---|---|---|---|---:|---:|")  # fmt: skip
    with running_daemon(state, switch_s) as (_, address):
        debits_beside_operator(address, big.last_day, block_s, 1.0, f"{big.rows:,} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--day", type=int, default=100_000, help="entries of the big day (part 3)")
    ap.add_argument("--block-s", type=float, default=5.0, help="seconds of each of the 6 Debit blocks")
    ap.add_argument("--n", type=int, default=60, help="timed calls per query and size (part 1)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="123", help="which parts to run, e.g. 2 or 13 (default: all)")
    ap.add_argument("--switch-interval", type=float, default=0.0, metavar="MS",
                    help="daemons run with sys.setswitchinterval(MS / 1000) (default: Python's)")  # fmt: skip
    ap.add_argument("--state-parent", help="directory for the journals (default: the system's temporary one)")
    args = ap.parse_args()
    switch_s = args.switch_interval / 1000
    if args.quick:
        args.rows, args.block_s, args.n, args.day = 200_000, 1.0, 30, 30_000
    root = Path(tempfile.mkdtemp(prefix="hcd-queries-", dir=args.state_parent))
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, journals in {root}")
    (root / "small").mkdir()
    (root / "big").mkdir()
    (root / "day").mkdir()
    t = time.perf_counter()
    db = Database(root / "small" / "healthcardd.db")
    small = fill_journal(db, args.small)
    db.close()
    db = Database(root / "big" / "healthcardd.db")
    big = fill_journal(db, args.rows)
    db.close()
    print(f"synthetic journals of {args.small:,} and {args.rows:,} rows built in {time.perf_counter() - t:.1f} s")
    if "1" in args.parts:
        query_latency(root / "small" / "healthcardd.db", root / "big" / "healthcardd.db", small, big, args.n)
    if "2" in args.parts:
        polling(root / "big", big, args.block_s, switch_s)
    if "3" in args.parts:
        big_day(root / "day", args.day, args.block_s, switch_s)


if __name__ == "__main__":
    main()
