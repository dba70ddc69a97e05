"""Issue #11 item 6, daemon side: a wrong SAM PIN in the configuration must not lock the SAM.

Before the fix the daemon sent the configured PIN with every card session: after three RPCs the SAM's PIN was
blocked (a real PSAM then goes back to its issuer). Now it is sent once; after the SAM refuses it the daemon
never sends it again in this run, reports the SAM as unusable and logs one line.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, Secret
from daemon.logs import configure_logging
from daemon.server import Daemon
from tests.adversarial.conftest import reason, rpc_error


def _tries_left(state: Path, reader: str) -> int:
    return int(json.loads((state / "cards" / f"{reader}-sam.json").read_text(encoding="utf-8"))["pin_tries_left"])


@pytest.fixture
def wrong_pin_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, io.StringIO]]:
    state = tmp_path / "state"
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)
    config = Config(listen="127.0.0.1:0", state_dir=state, simulate=True, poll_interval_s=0.05,
                    sam_pin=Secret("000000")).validate()  # the virtual SAMs' PIN is 123456  # fmt: skip
    d = Daemon(config)
    d.start()
    try:
        yield d, stream
    finally:
        d.stop(grace=5)
        logging.getLogger().handlers.clear()


def test_a_wrong_sam_pin_costs_exactly_one_try(wrong_pin_daemon: tuple[Daemon, io.StringIO]) -> None:
    daemon, stream = wrong_pin_daemon
    state = daemon.config.state_dir
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
        stub = pb_grpc.HealthCardServiceStub(ch)
        calls = [
            lambda: stub.ReadCard(pb.ReadCardRequest(reader="virtual-0")),
            lambda: stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")),
            lambda: stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="pin-debit")),
        ]
        for _ in range(5):  # 15 RPCs that all need the SAM
            for call in calls:
                err = rpc_error(call)
                assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
                assert reason(err) == "SAM_UNUSABLE" and "000000" not in err.details()
        readers = {r.name: r.state for r in stub.ListReaders(pb.ListReadersRequest()).readers}
    assert _tries_left(state, "virtual-0") == 2  # exactly one wrong try, whatever the number of RPCs
    assert readers["virtual-0"] == pb.READER_STATE_SAM_UNUSABLE
    assert readers["virtual-0-sam"] == pb.READER_STATE_SAM_UNUSABLE
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    refusals = [x for x in lines if "refused the configured SAM PIN" in x["message"] and x.get("reader") == "virtual-0"]
    assert len(refusals) == 1 and refusals[0]["level"] == "ERROR"
    assert "000000" not in stream.getvalue()


def test_the_right_pin_is_verified_and_the_sam_keeps_its_tries(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    for i in range(3):
        stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"ok-{i}"))
    assert _tries_left(daemon.config.state_dir, "virtual-0") == 3
    readers = {r.name: r.state for r in stub.ListReaders(pb.ListReadersRequest()).readers}
    assert readers["virtual-0"] == pb.READER_STATE_READY and readers["virtual-0-sam"] == pb.READER_STATE_READY
