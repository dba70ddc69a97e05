"""Prometheus metrics of one daemon: RPC latency, APDUs and errors per reader (issue #6).

Each :class:`Metrics` owns its own registry, so several daemons can live in one test process; ``serve()``
exposes it over HTTP on a local port (``metrics_listen``).

Every RPC looks up a few labelled children (method, code, reader). ``prometheus_client``'s ``labels()`` checks the
names, converts the values with ``str()`` and takes the metric's lock each time (about 3 µs); the metrics here
keep the child they got for each exact ``labels()`` call (its positional values or its keyword items), so a
repeated call is one dictionary look-up. ``remove()`` and ``clear()`` drop those kept children.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from daemon.config import split_host_port

__all__ = ["Metrics"]

class _KeptChildren:
    """Mixin for a ``prometheus_client`` metric: ``labels()`` remembers the child returned for each call."""

    _kept: dict[Any, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._kept = {}
        super().__init__(*args, **kwargs)

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Any:
        """The child for these label values (``prometheus_client`` checks and creates it the first time)."""
        if labelvalues and labelkwargs:  # refused by prometheus_client: never kept
            return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
        key = labelvalues or tuple(labelkwargs.items())
        try:
            child = self._kept.get(key)
        except TypeError:  # an unhashable label value: prometheus_client str()s it
            return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
        if child is None:
            child = self._kept[key] = super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
        return child

    def remove(self, *labelvalues: Any) -> None:
        """Remove a labelset (and forget the kept children)."""
        self._kept = {}
        super().remove(*labelvalues)  # type: ignore[misc]

    def clear(self) -> None:
        """Remove every labelset (and forget the kept children)."""
        self._kept = {}
        super().clear()  # type: ignore[misc]


class _Counter(_KeptChildren, Counter):
    pass


class _Gauge(_KeptChildren, Gauge):
    pass


class _Histogram(_KeptChildren, Histogram):
    pass


_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """The daemon's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc_latency: Histogram = _Histogram(
            "healthcardd_rpc_latency_seconds", "RPC latency by method", ["method"],
            registry=self.registry, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.rpc_total: Counter = _Counter(
            "healthcardd_rpcs", "RPCs by method and status code", ["method", "code"], registry=self.registry
        )
        self.apdus: Counter = _Counter("healthcardd_apdus", "APDUs sent, by reader", ["reader"], registry=self.registry)
        self.reader_errors: Counter = _Counter(
            "healthcardd_reader_errors", "Failed operations by reader and reason", ["reader", "reason"],
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth: Gauge = _Gauge(
            "healthcardd_reader_queue_depth", "Requests waiting per reader", ["reader"], registry=self.registry
        )
        self.open_transactions = Gauge(
            "healthcardd_open_transactions", "Journal entries not yet confirmed or voided", registry=self.registry
        )

    def serve(self, address: str) -> None:
        """Start the HTTP exporter on ``HOST:PORT`` (a daemon thread)."""
        host, port = split_host_port(address)
        start_http_server(port, addr=host, registry=self.registry)
