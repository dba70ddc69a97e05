"""Retention beside payments (harden2 item 2): the journal's insert of a new request id with and without 200,000
tombstones, and while a prune removes 20,000 old entries in its batches.

Each figure is the median / p99 / max in ms of 2,000 ``Journal.begin`` + ``void`` pairs (the journal's two writes
of a failed payment, without the card) in this process on a fresh database in a temporary directory:

1. no tombstones;
2. 200,000 tombstones in ``expired_requests`` (the insert probes them by primary key);
3. while :meth:`daemon.retention.Retention.prune` runs on another thread over 20,000 decided entries older than
   the age (batch size ``--batch``, default that of ``Retention``).

    .venv/bin/python -m benchmarks.retention [--batch 50]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import tempfile
import threading
import time
from pathlib import Path

from daemon.database import Database
from daemon.journal import Journal, Kind
from daemon.retention import Retention, expired_key


def _latencies(journal: Journal, n: int, prefix: str) -> str:
    out = []
    for i in range(n):
        started = time.perf_counter()
        entry, _ = journal.begin(request_id=f"{prefix}-{i}", kind=Kind.DEBIT, reader="r", amount_fen=1)
        journal.void(entry.transaction_id, "CARD_REMOVED: benchmark")
        out.append((time.perf_counter() - started) * 1e3)
    out.sort()
    return f"median {statistics.median(out):.2f} ms, p99 {out[int(len(out) * 0.99)]:.2f} ms, max {out[-1]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=0, help="rows per prune batch (default: Retention's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        journal = Journal(db)
        print("no tombstones:      ", _latencies(journal, 2000, "a"))
        with db.transaction() as conn:
            conn.executemany("INSERT INTO expired_requests VALUES (?, '2026-01-01')",
                             [(expired_key(f"t{i}"),) for i in range(200_000)])  # fmt: skip
        print("200,000 tombstones: ", _latencies(journal, 2000, "b"))
        for i in range(20_000):
            entry, _ = journal.begin(request_id=f"old-{i}", kind=Kind.DEBIT, reader="r", amount_fen=1)
            journal.void(entry.transaction_id, "CARD_REMOVED: benchmark")
        retention = Retention(db, 400, batch=args.batch) if args.batch else Retention(db, 400)
        later = _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=401)
        pruned: list[int] = []
        thread = threading.Thread(target=lambda: pruned.append(retention.prune(now=later)))
        thread.start()
        print("while pruning:      ", _latencies(journal, 2000, "c"))
        thread.join()
        print(f"pruned {pruned[0]} rows")
        db.close()


if __name__ == "__main__":
    main()
