"""Prometheus metrics of one daemon: RPC latency, APDUs and errors per reader (issue #6).

Each :class:`Metrics` owns its own registry, so several daemons can live in one test process; ``serve()``
exposes it over HTTP on a local port (``metrics_listen``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from daemon.config import split_host_port

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """The daemon's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc_latency = Histogram(
            "healthcardd_rpc_latency_seconds", "RPC latency by method", ["method"],
            registry=self.registry, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.rpc_total = Counter(
            "healthcardd_rpcs", "RPCs by method and status code", ["method", "code"], registry=self.registry
        )
        self.apdus = Counter("healthcardd_apdus", "APDUs sent, by reader", ["reader"], registry=self.registry)
        self.reader_errors = Counter(
            "healthcardd_reader_errors", "Failed operations by reader and reason", ["reader", "reason"],
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "healthcardd_reader_queue_depth", "Requests waiting per reader", ["reader"], registry=self.registry
        )
        self.open_transactions = Gauge(
            "healthcardd_open_transactions", "Journal entries not yet confirmed or voided", registry=self.registry
        )

    def serve(self, address: str) -> None:
        """Start the HTTP exporter on ``HOST:PORT`` (a daemon thread)."""
        host, port = split_host_port(address)
        start_http_server(port, addr=host, registry=self.registry)
