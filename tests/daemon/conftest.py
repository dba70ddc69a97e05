"""A healthcardd in this process on a free loopback port, with the two simulated readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.server import Daemon
from tests.daemon.inprocess import running_daemon, simulated_config


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(simulated_config(tmp_path / "state", queue_timeout_s=5.0)) as d:
        yield d


@pytest.fixture
def channel(daemon: Daemon) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.HealthCardServiceStub:
    return pb_grpc.HealthCardServiceStub(channel)
