"""healthcardd overhead: ReadCard and Debit p50/p99 through the daemon vs the card API directly, debits/s, RSS.

Both paths use the same in-process virtual card and SAM (``--simulate``); the daemon runs as a subprocess on
loopback, so its figures include gRPC, validation, the SQLite journal (WAL, synchronous=FULL) and the audit row.

    .venv/bin/python benchmarks/daemon.py [--n 200]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from healthcard.api import Section, open_virtual_session


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def direct(n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"read": [], "debit": []}
    with open_virtual_session() as s:
        for _ in range(n):
            t = time.perf_counter()
            s.read([Section.HOLDER])
            out["read"].append(time.perf_counter() - t)
            t = time.perf_counter()
            s.debit(1)
            out["debit"].append(time.perf_counter() - t)
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    n = ap.parse_args().n
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tempfile.mkdtemp(prefix="hcd-bench-")
    proc = subprocess.Popen([sys.executable, "-m", "daemon.main", "--simulate", "--listen", f"127.0.0.1:{port}",
                             "--state-dir", state, "--log-level", "WARNING"],
                            cwd=Path(__file__).resolve().parents[1], stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    time.sleep(0.1)
            stub = pb_grpc.HealthCardServiceStub(ch)
            via: dict[str, list[float]] = {"read": [], "debit": []}
            for i in range(n):
                t = time.perf_counter()
                stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]))
                via["read"].append(time.perf_counter() - t)
                t = time.perf_counter()
                stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"b{i}"))
                via["debit"].append(time.perf_counter() - t)
            # throughput: 8 clients on both readers
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
            rate = count / (time.perf_counter() - started)
            rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)
    lib = direct(n)
    print(f"n={n} per operation, {os.cpu_count()} CPUs")
    print("| operation | library p50 ms | library p99 ms | daemon p50 ms | daemon p99 ms | added p50 ms |")
    print("|---|---|---|---|---|---|")
    for op, label in (("read", "ReadCard (holder)"), ("debit", "Debit 1 fen")):
        lp50, lp99, dp50, dp99 = pct(lib[op], 0.5), pct(lib[op], 0.99), pct(via[op], 0.5), pct(via[op], 0.99)
        print(f"| {label} | {lp50:.2f} | {lp99:.2f} | {dp50:.2f} | {dp99:.2f} | {dp50 - lp50:.2f} |")
    print(f"debits/s (8 clients, 2 virtual readers, 5 s): {rate:.0f}")
    print(f"daemon RSS after the run: {rss:.1f} MB")
    print(f"median library debit: {statistics.median(lib['debit']) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
