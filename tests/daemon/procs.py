"""``healthcardd --simulate`` as a subprocess on a free loopback port, and the waits around it, for the tests that
run it as a process (example clients, crash tests, host links) and for ``benchmarks/``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(target: str, proc: subprocess.Popen[bytes] | None = None, *, timeout_s: float = 30) -> None:
    """Poll the standard gRPC health service at ``target`` until it answers SERVING.

    Raises ``RuntimeError`` when ``proc`` (the server's process, if given) exits first or ``timeout_s`` runs out.
    """
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:  # SERVING
                    return
            except grpc.RpcError:
                pass
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {target} did not start serving")
            time.sleep(0.1)


@contextmanager
def healthcardd_process(state: Path, *extra: str, fault: str = "") -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``healthcardd --simulate`` on ``state`` (``HEALTHCARDD_FAULT=fault``); yields ``(process,
    127.0.0.1:PORT)`` once health says SERVING, and terminates it afterwards unless it already exited."""
    target = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", "--simulate", "--listen", target, "--state-dir", str(state),
         "--log-level", "WARNING", *extra],
        cwd=ROOT, env={**os.environ, "HEALTHCARDD_FAULT": fault}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_serving(target, proc)
        yield proc, target
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)


@contextmanager
def healthcardd(state: Path, *extra: str) -> Iterator[str]:
    """Start ``healthcardd --simulate`` on ``state``; yields ``127.0.0.1:PORT`` once health says SERVING."""
    with healthcardd_process(state, *extra) as (_, target):
        yield target
