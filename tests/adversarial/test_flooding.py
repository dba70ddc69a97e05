"""Issue #11 item 7: one client must not stall or flood the daemon.

Before the fix: 16 open WatchCards streams took every worker thread and blocked all RPCs, health included; a
0.9 MB reader name went into log lines and became a Prometheus label (+527 MiB of log, +144 MiB RSS per 300
calls).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import generate_latest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, ConfigError
from daemon.grpcserver import StreamLimitInterceptor, monitoring_stream_share
from daemon.logs import configure_logging
from daemon.server import Daemon
from tests.adversarial.conftest import reason, rpc_error

STREAMS = 20  # more than the 16 worker threads of the default configuration


@pytest.fixture
def flooded(daemon: Daemon) -> Iterator[tuple[Daemon, list[Any]]]:
    """The daemon with ``STREAMS`` WatchCards streams opened by one client, each started (first event read)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{daemon.port}")
    stub = pb_grpc.HealthCardServiceStub(channel)
    calls: list[Any] = [stub.WatchCards(pb.WatchCardsRequest()) for _ in range(STREAMS)]
    try:
        yield daemon, calls
    finally:
        for call in calls:
            call.cancel()
        channel.close()


def _outcome(call: Any) -> str:
    """``"open"`` for a stream that delivered its first event, else its status code name."""
    try:
        next(call)
        return "open"
    except grpc.RpcError as exc:
        return str(exc.code().name)


def test_open_streams_never_starve_unary_rpcs_or_health(flooded: tuple[Daemon, list[Any]]) -> None:
    daemon, calls = flooded
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda c=c: outcomes.append(_outcome(c))) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    limit = daemon.config.workers // 2 - monitoring_stream_share(daemon.config.workers // 2)
    assert outcomes.count("open") == limit and outcomes.count("RESOURCE_EXHAUSTED") == STREAMS - limit, outcomes
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
        started = time.monotonic()
        assert health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status == (
            health_pb2.HealthCheckResponse.SERVING
        )
        stub = pb_grpc.HealthCardServiceStub(ch)
        assert len(stub.ListReaders(pb.ListReadersRequest(), timeout=5).readers) >= 3
        assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0"), timeout=5).balance_fen > 0
        assert time.monotonic() - started < 5
        err = rpc_error(lambda: next(iter(stub.WatchCards(pb.WatchCardsRequest(), timeout=5))))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and reason(err) == "RESOURCE_EXHAUSTED"
    for call in calls:  # closing streams frees their slots
        call.cancel()
    deadline = time.monotonic() + 10
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
        stub = pb_grpc.HealthCardServiceStub(ch)
        while True:
            try:
                next(iter(stub.WatchCards(pb.WatchCardsRequest(), timeout=5)))
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "stream slots were not released"
                time.sleep(0.2)


def test_health_watches_of_a_monitoring_tool_never_starve_watch_cards(daemon: Daemon) -> None:
    """A monitor holding many health Watch streams took every stream slot: kiosks' WatchCards were refused."""
    limit = daemon.config.workers // 2
    share = monitoring_stream_share(limit)
    with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as monitor, \
            grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as kiosk:  # fmt: skip
        watches: list[Any] = [health_pb2_grpc.HealthStub(monitor).Watch(health_pb2.HealthCheckRequest())
                              for _ in range(STREAMS)]  # fmt: skip
        cards: list[Any] = []
        try:
            outcomes = [_outcome(w) for w in watches]
            assert outcomes.count("open") == share and outcomes.count("RESOURCE_EXHAUSTED") == STREAMS - share
            cards = [pb_grpc.HealthCardServiceStub(kiosk).WatchCards(pb.WatchCardsRequest()) for _ in range(limit)]
            assert [_outcome(c) for c in cards].count("open") == limit - share  # was 0 on the old code
            # and the health checks the monitor needs still answer
            assert health_pb2_grpc.HealthStub(monitor).Check(health_pb2.HealthCheckRequest(), timeout=5).status == (
                health_pb2.HealthCheckResponse.SERVING
            )
        finally:
            for call in (*watches, *cards):
                call.cancel()


@pytest.mark.parametrize(("limit", "share"), [(1, 0), (2, 1), (3, 1), (7, 1), (8, 2), (15, 3)])
def test_the_monitoring_share_never_exceeds_the_stream_limit(limit: int, share: int) -> None:
    interceptor = StreamLimitInterceptor(limit)
    assert (monitoring_stream_share(limit), interceptor.monitoring_limit) == (share, share)
    assert limit - share >= 1  # the service's streams always keep a slot


def test_max_streams_must_leave_threads_for_unary_rpcs() -> None:
    with pytest.raises(ConfigError, match="max_streams"):
        Config(simulate=True, workers=8, max_streams=8).validate()
    assert Config(simulate=True, workers=8, max_streams=7).validate().max_streams == 7


HUGE = "R" * 900_000


@pytest.mark.parametrize("rpc", ["ReadCard", "GetBalance", "Debit", "WatchCards"])
def test_a_huge_reader_name_reaches_neither_logs_nor_metrics(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, rpc: str
) -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=stream)
    try:
        for i in range(3):
            if rpc == "WatchCards":
                err = rpc_error(lambda: next(iter(stub.WatchCards(pb.WatchCardsRequest(reader=HUGE), timeout=10))))
            else:
                request = getattr(pb, f"{rpc}Request")(reader=HUGE, amount_fen=1, request_id=f"huge-{i}") if rpc == (
                    "Debit") else getattr(pb, f"{rpc}Request")(reader=HUGE)  # fmt: skip
                err = rpc_error(lambda request=request: getattr(stub, rpc)(request, timeout=10))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason(err) == "INVALID_ARGUMENT"
            assert len(err.details()) < 300
    finally:
        logging.getLogger().handlers.clear()
    assert "R" * 200 not in stream.getvalue()
    assert len(stream.getvalue()) < 20_000
    exposition = generate_latest(daemon.metrics.registry).decode()
    assert "R" * 200 not in exposition and len(exposition) < 100_000


def test_an_unknown_reader_is_counted_under_a_fixed_label(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    for i in range(5):
        rpc_error(lambda i=i: stub.GetBalance(pb.GetBalanceRequest(reader=f"no-such-reader-{i}")))
    exposition = generate_latest(daemon.metrics.registry).decode()
    assert "no-such-reader" not in exposition
    assert 'reader="unknown",reason="UNKNOWN_READER"} 5.0' in exposition


def test_requests_over_one_mebibyte_are_refused_by_size(stub: pb_grpc.HealthCardServiceStub) -> None:
    err = rpc_error(lambda: stub.GetBalance(pb.GetBalanceRequest(reader="R" * (1 << 21)), timeout=10))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_config_file_may_set_max_streams(tmp_path: Path) -> None:
    from daemon.config import load_config  # noqa: PLC0415

    path = tmp_path / "d.toml"
    path.write_text("simulate = true\nworkers = 10\nmax_streams = 3\n", encoding="utf-8")
    assert load_config(path).validate().max_streams == 3
