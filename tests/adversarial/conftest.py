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
from daemon.errors import REASON_KEY
from daemon.server import Daemon
from tests.daemon.inprocess import daemon_stub, running_daemon, simulated_config


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
    with running_daemon(simulated_config(tmp_path / "state", queue_timeout_s=10.0)) as d:
        yield d


@pytest.fixture
def stub(daemon: Daemon) -> Iterator[pb_grpc.HealthCardServiceStub]:
    with daemon_stub(daemon) as s:
        yield s
