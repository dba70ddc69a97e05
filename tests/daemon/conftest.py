"""A healthcardd in this process on a free loopback port, with the two simulated readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config
from daemon.server import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path / "state", simulate=True, poll_interval_s=0.05,
                    queue_timeout_s=5.0).validate()  # fmt: skip
    d = Daemon(config)
    d.start()
    try:
        yield d
    finally:
        d.stop(grace=5)


@pytest.fixture
def channel(daemon: Daemon) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.HealthCardServiceStub:
    return pb_grpc.HealthCardServiceStub(channel)
