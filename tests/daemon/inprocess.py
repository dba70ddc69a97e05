"""A simulated healthcardd in the test process on a free loopback port, and a client stub on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config
from daemon.server import Daemon


def simulated_config(state_dir: Path, **options: Any) -> Config:
    """``healthcardd --simulate`` on a free loopback port, polling the readers every 50 ms, plus ``options``
    (validated)."""
    return Config(listen="127.0.0.1:0", state_dir=state_dir, simulate=True, poll_interval_s=0.05, **options).validate()


@contextmanager
def running_daemon(config: Config, *, grace: float = 5) -> Iterator[Daemon]:
    """The daemon of ``config``, started; stopped with ``grace`` seconds afterwards."""
    daemon = Daemon(config)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop(grace=grace)


@contextmanager
def daemon_stub(daemon: Daemon) -> Iterator[pb_grpc.HealthCardServiceStub]:
    """A client of ``daemon``'s HealthCardService, once its channel is ready."""
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield pb_grpc.HealthCardServiceStub(channel)
