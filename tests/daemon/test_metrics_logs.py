"""daemon.metrics labels each sample right; daemon.logs request ids and binding."""

from __future__ import annotations

import re

import grpc
import pytest

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.logs import bind_request_id, current_request_id, new_request_id
from daemon.metrics import Metrics
from daemon.server import Daemon


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_metrics_are_kept_per_label_set() -> None:
    m = Metrics()
    m.rpc_total.labels(method="ReadCard", code="OK").inc()
    m.rpc_total.labels(method="ReadCard", code="OK").inc()
    m.rpc_total.labels(code="OK", method="Debit").inc()  # keyword order does not matter
    m.rpc_total.labels("Debit", "OK").inc(2)  # positional values: the same child
    m.rpc_total.labels(method="Debit", code="UNAVAILABLE").inc()
    assert _value(m, "healthcardd_rpcs_total", method="ReadCard", code="OK") == 2
    assert _value(m, "healthcardd_rpcs_total", method="Debit", code="OK") == 3
    assert _value(m, "healthcardd_rpcs_total", method="Debit", code="UNAVAILABLE") == 1
    m.queue_depth.labels(reader="virtual-0").set(3)
    m.queue_depth.labels(reader="virtual-1").set(1)
    assert _value(m, "healthcardd_reader_queue_depth", reader="virtual-0") == 3
    assert _value(m, "healthcardd_reader_queue_depth", reader="virtual-1") == 1
    m.rpc_latency.labels(method="ReadCard").observe(0.0007)
    assert _value(m, "healthcardd_rpc_latency_seconds_bucket", method="ReadCard", le="0.001") == 1
    assert _value(m, "healthcardd_rpc_latency_seconds_bucket", method="ReadCard", le="0.0005") == 0


def test_rpcs_are_counted_per_method_code_and_reader(daemon: Daemon, channel: grpc.Channel) -> None:
    stub = pb_grpc.HealthCardServiceStub(channel)
    m = daemon.metrics
    for reader in ("virtual-0", "virtual-1", "virtual-0"):
        stub.ReadCard(pb.ReadCardRequest(reader=reader, sections=[cd.CARD_SECTION_HOLDER]))
    stub.Debit(pb.DebitRequest(reader="virtual-1", amount_fen=1, request_id="m-1"))
    with pytest.raises(grpc.RpcError):
        stub.Debit(pb.DebitRequest(reader="virtual-1", amount_fen=1))
    assert _value(m, "healthcardd_rpcs_total", method="ReadCard", code="OK") == 3
    assert _value(m, "healthcardd_rpcs_total", method="Debit", code="OK") == 1
    assert _value(m, "healthcardd_rpcs_total", method="Debit", code="INVALID_ARGUMENT") == 1
    assert _value(m, "healthcardd_rpc_latency_seconds_count", method="ReadCard") == 3
    apdus = [_value(m, "healthcardd_apdus_total", reader=r) for r in ("virtual-0", "virtual-1")]
    assert all(n is not None and n > 0 for n in apdus)
    assert _value(m, "healthcardd_reader_queue_depth", reader="virtual-1") == 0


def test_new_request_ids_are_random_hex() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"srv-[0-9a-f]{16}", i) for i in ids)


def test_bind_request_id_nests_and_restores() -> None:
    assert current_request_id() == "-"
    with bind_request_id("outer"):
        assert current_request_id() == "outer"
        with bind_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
        with pytest.raises(KeyError), bind_request_id("failing"):
            raise KeyError("x")
        assert current_request_id() == "outer"
    assert current_request_id() == "-"
