"""``healthcardd --simulate`` as a subprocess on a free loopback port, for tests that run example clients."""

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


@contextmanager
def healthcardd(state: Path, *extra: str) -> Iterator[str]:
    """Start ``healthcardd --simulate`` on ``state``; yields ``127.0.0.1:PORT`` once health says SERVING."""
    target = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", "--simulate", "--listen", target, "--state-dir", str(state),
         "--log-level", "WARNING", *extra],
        cwd=ROOT, env={**os.environ, "HEALTHCARDD_FAULT": ""}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "healthcardd did not start"
                time.sleep(0.1)
        yield target
    finally:
        proc.terminate()
        proc.wait(15)
