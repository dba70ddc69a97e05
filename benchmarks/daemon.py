"""healthcardd overhead: ReadCard and Debit p50/p99 through the daemon vs the card API directly, debits/s, RSS.

Both paths use the same in-process virtual card and SAM (``--simulate``); the daemon runs as a subprocess on
loopback, so its figures include gRPC, validation, the SQLite journal and the audit row. A Debit makes two
durable (fsynced) journal commits — ``prepared`` before the card is changed, ``debited`` with the TAC before the
reply — so the run is repeated with the state directory on tmpfs (fsync free) to separate the storage's fsync
time from the daemon's own overhead; the state directory's disk is measured too (a durable SQLite commit and,
as its flush floor, one 4 KiB ``O_DSYNC`` overwrite). A gRPC health check shows the floor of any RPC. The
library is timed three ways: back to back (its best case; "added" is computed against it); paced, idle 1 ms
before each call like a daemon's CPU between requests (a CPU that idles runs the same Python code slower); and
"+ journal", back to back with the daemon's own SQLite journal and audit rows in-process (what a program linking
the library needs for the same money guarantees: its difference to the daemon is gRPC and the service around the
job).

    .venv/bin/python benchmarks/daemon.py [--n 200]
    .venv/bin/python benchmarks/daemon.py --profile [--n 1000] [--state-parent /dev/shm]
    .venv/bin/python benchmarks/daemon.py --compare /path/to/other/checkout [--n 600] [--state-parent /dev/shm]

``--compare`` runs this checkout's daemon and another checkout's side by side and drives them alternately,
request by request, so both see the same machine state (for before/after figures on a machine whose speed drifts).

``--profile`` shows where a Debit's and a ReadCard's time goes inside the daemon: the daemon runs with the
functions of each stage wrapped in a timer (about 1 µs per call), and the table gives each stage's median and
calls per RPC; "outside the servicer" is the client's median minus the servicer's (gRPC both ways, the client).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.audit import AuditTrail
from daemon.cardops import ApiCardOps
from daemon.database import Database
from daemon.journal import Journal, Kind
from daemon.transactions import Request, Transactions
from healthcard.api import Section, open_virtual_session
from tests.daemon.procs import free_port, wait_serving

PACE_S = 0.001  # idle before each paced library call: about one gRPC round trip on this machine


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def direct(n: int, *, pause: float = 0.0) -> dict[str, list[float]]:
    """The card API in-process; ``pause`` seconds idle before each timed call (as a daemon's CPU idles between
    requests while gRPC and the client run)."""
    out: dict[str, list[float]] = {"read": [], "debit": []}
    with open_virtual_session() as s:
        for _ in range(n):
            if pause:
                time.sleep(pause)
            t = time.perf_counter()
            s.read([Section.HOLDER])
            out["read"].append(time.perf_counter() - t)
            if pause:
                time.sleep(pause)
            t = time.perf_counter()
            s.debit(1)
            out["debit"].append(time.perf_counter() - t)
    return out


class _SessionBackend:
    """The part of ``daemon.backend.ReaderBackend`` that ``Transactions.execute`` uses, over one open session."""

    name = "direct"

    def __init__(self, session: Any) -> None:
        self._session = session

    @contextmanager
    def session(self) -> Iterator[Any]:
        yield ApiCardOps(self._session)


def direct_journaled(n: int, state: str) -> dict[str, list[float]]:
    """The card API in-process with the daemon's own journal and audit trail (SQLite in ``state``), back to back.

    What a program linking the library needs for the daemon's guarantees: ReadCard = read + an audit row; Debit =
    ``Transactions.execute`` (intent, ``prepared`` fsynced before the card changes, TAC + audit row fsynced).
    """
    db = Database(Path(state) / "direct.db")
    transactions, audit = Transactions(Journal(db)), AuditTrail(db)
    out: dict[str, list[float]] = {"read": [], "debit": []}
    try:
        with open_virtual_session() as s:
            backend = _SessionBackend(s)
            for i in range(n):
                t = time.perf_counter()
                s.read([Section.HOLDER])
                audit.record(client="bench", operation="ReadCard", outcome="OK", reader="direct")
                out["read"].append(time.perf_counter() - t)
                t = time.perf_counter()
                request = Request(kind=Kind.DEBIT, reader="direct", amount_fen=1, request_id=f"j{i}", client="bench",
                                  audit_operation="Debit")  # fmt: skip
                transactions.execute(backend, request)  # type: ignore[arg-type]
                out["debit"].append(time.perf_counter() - t)
    finally:
        db.close()
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def durable_commit_ms(directory: str, n: int = 100) -> float:
    """Median time of one small SQLite WAL commit with ``synchronous=FULL`` in ``directory`` (one fsync)."""
    path = Path(directory) / "probe.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (v INTEGER)")
    times = []
    for i in range(n):
        t = time.perf_counter()
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        times.append(time.perf_counter() - t)
    conn.close()
    return statistics.median(times) * 1000


def dsync_write_ms(directory: str, n: int = 200) -> float:
    """Median time of one 4 KiB overwrite of an already written block with ``O_DSYNC`` (the disk's flush floor)."""
    path = Path(directory) / "probe.bin"
    path.write_bytes(bytes(4096 * 64))
    fd = os.open(path, os.O_RDWR | getattr(os, "O_DSYNC", 0))
    times = []
    try:
        for i in range(n):
            t = time.perf_counter()
            os.pwrite(fd, bytes([i % 256]) * 4096, (i % 64) * 4096)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
    return statistics.median(times) * 1000


def through_daemon(state: str, n: int, *, throughput: bool) -> dict[str, Any]:
    """ReadCard/Debit/health latencies through a ``healthcardd --simulate`` subprocess with ``state``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "daemon.main", "--simulate", "--listen", f"127.0.0.1:{port}",
                             "--state-dir", state, "--log-level", "WARNING"],
                            cwd=Path(__file__).resolve().parents[1], stderr=subprocess.DEVNULL)  # fmt: skip
    out: dict[str, Any] = {"read": [], "debit": [], "health": [], "rate": float("nan"), "rss": float("nan")}
    try:
        wait_serving(f"127.0.0.1:{port}", proc, timeout_s=300)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            stub = pb_grpc.HealthCardServiceStub(ch)
            stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]))  # warm-up
            for i in range(n):
                t = time.perf_counter()
                health.Check(health_pb2.HealthCheckRequest())
                out["health"].append(time.perf_counter() - t)
                t = time.perf_counter()
                stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]))
                out["read"].append(time.perf_counter() - t)
                t = time.perf_counter()
                stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"b{i}"))
                out["debit"].append(time.perf_counter() - t)
            if throughput:  # 8 clients on both readers
                count = 0
                lock = threading.Lock()
                stop_at = time.perf_counter() + 5

                def client(k: int) -> None:
                    nonlocal count
                    i = 0
                    while time.perf_counter() < stop_at:
                        stub.Debit(pb.DebitRequest(reader=f"virtual-{k % 2}", amount_fen=1, request_id=f"t{k}-{i}"))
                        i += 1
                        with lock:
                            count += 1

                started = time.perf_counter()
                threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                out["rate"] = count / (time.perf_counter() - started)
            out["rss"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)
    return out


# Runs healthcardd with the stage functions wrapped in timers; writes {stage: [seconds, ...]} as JSON at exit.
_PROFILED_DAEMON = """
import atexit, functools, importlib, json, os, sys, time
times = {}
for spec in os.environ["HCD_PROFILE_STAGES"].split(","):
    module, qualname = spec.split(":")
    owner = importlib.import_module(module)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    fn = getattr(owner, name)
    def timed(*a, _fn=fn, _key=qualname, **k):
        t = time.perf_counter()
        try:
            return _fn(*a, **k)
        finally:
            times.setdefault(_key, []).append(time.perf_counter() - t)
    setattr(owner, name, functools.wraps(fn)(timed))
atexit.register(lambda: open(os.environ["HCD_PROFILE_OUT"], "w").write(json.dumps(times)))
from daemon.main import main
sys.exit(main(sys.argv[1:]))
"""
_STAGES = {
    "debit": [
        ("daemon.service:HealthCardServicer.Debit", "servicer (validation, job, audit, metrics, response)"),
        ("daemon.readers:ReaderWorker.submit", "  reader job (inline when idle)"),
        ("daemon.journal:Journal.begin", "    journal: intent (NORMAL commit)"),
        ("daemon.transactions:Transactions.resolve_card", "    open-entry check of the card"),
        ("healthcard.api.purse:debit", "    card API debit (card + SAM APDUs, hooks below)"),
        ("daemon.journal:Journal.mark_prepared", "      journal: prepared (FULL commit)"),
        ("daemon.journal:Journal.complete", "      journal: TAC + confirmed + audit (FULL commit)"),
        ("sam.virtual.sam:VirtualSam._persist", "      simulated SAM saved"),
        ("healthcard.store:LoggedCardState._append", "      simulated card commit logged"),
    ],
    "read": [
        ("daemon.service:HealthCardServicer.ReadCard", "servicer (validation, job, audit, metrics, response)"),
        ("daemon.readers:ReaderWorker.submit", "  reader job (inline when idle)"),
        ("daemon.transactions:Transactions.resolve_card", "    open-entry check of the card"),
        ("daemon.cardops:ApiCardOps.read", "    card API read (holder)"),
        ("daemon.audit:AuditTrail.record", "  audit row (NORMAL commit)"),
    ],
}


def profile(n: int, parent: str | None) -> None:
    """Stage medians of Debit and ReadCard inside a ``healthcardd --simulate`` (module docstring)."""
    for op, stages in _STAGES.items():
        state = tempfile.mkdtemp(prefix="hcd-prof-", dir=parent)
        out = Path(state) / "profile.json"
        port = free_port()
        env = {**os.environ, "HCD_PROFILE_OUT": str(out), "HCD_PROFILE_STAGES": ",".join(s for s, _ in stages)}
        proc = subprocess.Popen([sys.executable, "-c", _PROFILED_DAEMON, "--simulate", "--listen",
                                 f"127.0.0.1:{port}", "--state-dir", state, "--log-level", "WARNING"],
                                cwd=Path(__file__).resolve().parents[1], env=env,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        client: list[float] = []
        try:
            wait_serving(f"127.0.0.1:{port}", proc, timeout_s=300)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = pb_grpc.HealthCardServiceStub(ch)
                for i in range(n):
                    t = time.perf_counter()
                    if op == "debit":
                        stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"p{i}"))
                    else:
                        stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]))
                    client.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait(20)
        times = json.loads(out.read_text())
        servicer = pct(times[stages[0][0].split(":")[1]], 0.5)
        print(f"\n{'Debit 1 fen' if op == 'debit' else 'ReadCard (holder)'}, n={n}, state in {parent or 'tmp'}: "
              f"client p50 {pct(client, 0.5):.3f} ms")  # fmt: skip
        print("| stage | p50 ms | calls per RPC |\n|---|---|---|")
        print(f"| outside the servicer (gRPC both ways, client) | {pct(client, 0.5) - servicer:.3f} | 1 |")
        for spec, label in stages:
            values = times.get(spec.split(":")[1], [])
            if values:
                print(f"| {label} | {pct(values, 0.5):.3f} | {len(values) / n:.2f} |")


def compare(other: str, n: int, parent: str | None) -> None:
    """Paired A/B: this checkout's daemon and ``other``'s, alternately per request (module docstring)."""
    trees = {"this": str(Path(__file__).resolve().parents[1]), "other": str(Path(other).resolve())}
    procs, stubs, healths, targets = [], {}, {}, {}
    try:
        for name, tree in trees.items():
            port = free_port()
            state = tempfile.mkdtemp(prefix="hcd-cmp-", dir=parent)
            procs.append(subprocess.Popen([sys.executable, "-m", "daemon.main", "--simulate", "--listen",
                                           f"127.0.0.1:{port}", "--state-dir", state, "--log-level", "WARNING"],
                                          cwd=tree, stderr=subprocess.DEVNULL))  # fmt: skip
            targets[name] = f"127.0.0.1:{port}"
            channel = grpc.insecure_channel(targets[name])
            healths[name], stubs[name] = health_pb2_grpc.HealthStub(channel), pb_grpc.HealthCardServiceStub(channel)
        for proc, target in zip(procs, targets.values(), strict=True):
            wait_serving(target, proc, timeout_s=300)
        res: dict[tuple[str, str], list[float]] = {(t, op): [] for t in trees for op in ("health", "read", "debit")}
        for i in range(n + 30):
            for name in trees:
                t0 = time.perf_counter()
                healths[name].Check(health_pb2.HealthCheckRequest())
                t1 = time.perf_counter()
                stubs[name].ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]))
                t2 = time.perf_counter()
                stubs[name].Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"c{i}"))
                t3 = time.perf_counter()
                if i >= 30:  # warm-up
                    res[(name, "health")].append(t1 - t0)
                    res[(name, "read")].append(t2 - t1)
                    res[(name, "debit")].append(t3 - t2)
        print(f"n={n} each, alternately; state in {parent or 'tmp'}; p50 / p99 ms")
        print("| checkout | health Check | ReadCard (holder) | Debit 1 fen |\n|---|---|---|---|")
        for name, tree in trees.items():
            cells = " | ".join(f"{pct(res[(name, op)], 0.5):.2f} / {pct(res[(name, op)], 0.99):.2f}"
                               for op in ("health", "read", "debit"))  # fmt: skip
            print(f"| {name} ({tree}) | {cells} |")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="stage medians inside the daemon instead")
    ap.add_argument("--compare", metavar="CHECKOUT", help="paired A/B against another checkout's daemon")
    ap.add_argument("--state-parent", help="--profile/--compare: directory for the state (e.g. /dev/shm)")
    args = ap.parse_args()
    n = args.n
    if args.compare:
        compare(args.compare, n, args.state_parent)
        return
    if args.profile:
        profile(n, args.state_parent)
        return
    disk = tempfile.mkdtemp(prefix="hcd-bench-")
    runs = {"disk": through_daemon(disk, n, throughput=True)}
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else ""
    if shm:
        runs["tmpfs"] = through_daemon(tempfile.mkdtemp(prefix="hcd-bench-", dir=shm), n, throughput=False)
    lib = direct(n)
    paced = direct(n, pause=PACE_S)
    journaled = {"disk": direct_journaled(n, disk)}
    if shm:
        journaled["tmpfs"] = direct_journaled(n, tempfile.mkdtemp(prefix="hcd-bench-", dir=shm))
    print(f"n={n} per operation, {os.cpu_count()} CPUs; in the state dir: one durable SQLite commit "
          f"{durable_commit_ms(disk):.2f} ms, one 4 KiB O_DSYNC overwrite {dsync_write_ms(disk):.2f} ms")  # fmt: skip
    print(f"library = card API in-process back to back; paced = the same, {PACE_S * 1000:g} ms idle before each call; "
          "+ journal = in-process with the daemon's journal and audit rows in the same state dir")  # fmt: skip
    print("| operation | state dir | library p50 ms | library p99 ms | paced p50 ms | + journal p50 ms "
          "| daemon p50 ms | daemon p99 ms | added p50 ms | added vs paced | added vs + journal |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for where, via in runs.items():
        label_dir = "disk (ext4)" if where == "disk" else "tmpfs (fsync free)"
        for op, label in (("read", "ReadCard (holder)"), ("debit", "Debit 1 fen")):
            lp50, lp99, dp50, dp99 = pct(lib[op], 0.5), pct(lib[op], 0.99), pct(via[op], 0.5), pct(via[op], 0.99)
            pp50, jp50 = pct(paced[op], 0.5), pct(journaled[where][op], 0.5)
            print(f"| {label} | {label_dir} | {lp50:.2f} | {lp99:.2f} | {pp50:.2f} | {jp50:.2f} | {dp50:.2f} "
                  f"| {dp99:.2f} | {dp50 - lp50:.2f} | {dp50 - pp50:.2f} | {dp50 - jp50:.2f} |")  # fmt: skip
        print(f"| gRPC health Check (floor) | {label_dir} | - | - | - | - | {pct(via['health'], 0.5):.2f} "
              f"| {pct(via['health'], 0.99):.2f} | - | - | - |")  # fmt: skip
    print(f"debits/s (8 clients, 2 virtual readers, 5 s, disk): {runs['disk']['rate']:.0f}")
    print(f"daemon RSS after the run: {runs['disk']['rss']:.1f} MB")


if __name__ == "__main__":
    main()
