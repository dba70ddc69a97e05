"""Shared helpers of the attack suite (issue #11): daemons in this process, RPC error inspection.

``daemon`` / ``stub``: a healthcardd in this process with its simulated readers (virtual-0, virtual-1, the
dispenser virtual-blank) and a stub on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config
from daemon.errors import REASON_KEY
from daemon.server import Daemon


def rpc_error(call: Any) -> Any:
    """Run ``call()`` and return the ``grpc.RpcError`` it raised (the test fails if it raised none)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the RPC succeeded; a refusal was expected")


def reason(err: Any) -> str:
    """The ``healthcard-error-reason`` trailing metadata entry of a failed RPC."""
    return str(dict(err.trailing_metadata() or ()).get(REASON_KEY, ""))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path / "state", simulate=True, poll_interval_s=0.05,
                    queue_timeout_s=10.0).validate()  # fmt: skip
    d = Daemon(config)
    d.start()
    try:
        yield d
    finally:
        d.stop(grace=5)


@pytest.fixture
def stub(daemon: Daemon) -> Iterator[pb_grpc.HealthCardServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield pb_grpc.HealthCardServiceStub(channel)
