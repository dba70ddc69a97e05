"""Prometheus metrics of the host: its own registry, served by the daemon's exporter (:class:`daemon.metrics.Exporter`:
HTTPS with ``[tls]``, bearer token with the ``monitor`` role when tokens are configured)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from daemon.metrics import Exporter

__all__ = ["HostMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class HostMetrics(Exporter):
    """RPC latency and outcomes, the blacklist version and the number of daemons following it."""

    def __init__(self) -> None:
        super().__init__()
        self.rpc_latency = Histogram(
            "healthcard_host_rpc_latency_seconds", "RPC latency by method", ["method"],
            registry=self.registry, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.rpc_total = Counter(
            "healthcard_host_rpcs", "RPCs by method and status code", ["method", "code"], registry=self.registry
        )
        self.blacklist_version = Gauge(
            "healthcard_host_blacklist_version", "Newest blacklist version", registry=self.registry
        )
        self.uploads = Counter(
            "healthcard_host_uploads", "Uploaded transactions by outcome (verified, failed, missing, unknown_card,"
            " duplicate)", ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.audit_findings = Gauge(
            "healthcard_host_audit_findings", "Findings of the last automatic audit, by kind", ["kind"],
            registry=self.registry,
        )  # fmt: skip
        self.visit_signatures = Counter(
            "healthcard_host_visit_signatures", "Uploaded visit records by signature check (valid: kept for 补卡;"
            " refused: forged, unsigned or untrusted, never returned by GetHolderData)", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.watchers = Gauge(
            "healthcard_host_blacklist_watchers", "Open WatchBlacklist streams", registry=self.registry
        )
        self.keys_ready = Gauge(
            "healthcard_host_keys_ready", "1 while the key store answers (the host SAM's last operation or probe"
            " worked), 0 after HOST_KEYS_UNAVAILABLE", registry=self.registry,
        )  # fmt: skip
