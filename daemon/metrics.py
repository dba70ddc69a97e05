"""Prometheus metrics of one daemon: RPC latency, APDUs and errors per reader (issue #6).

Each :class:`Metrics` owns its own registry, so several daemons can live in one test process; ``serve()``
exposes it over HTTP on ``metrics_listen``. The exporter follows the gRPC listener's rules (issue #11 item 10):
when tokens are configured a scrape needs ``authorization: Bearer <token>`` of a token whose roles the policy
allows for :data:`daemon.roles.METRICS_SCRAPE` (``monitor`` or ``admin``), else 401/403; with ``[tls]`` it
serves HTTPS (and requires client certificates when ``client_ca_file`` is set). A non-loopback address without
TLS and tokens is refused at start-up by :meth:`daemon.config.Config.validate`.

Reader labels come only from configured reader names (:meth:`Metrics.reader_label`): a request naming any
other reader is counted under ``"unknown"``, so a client cannot grow the label set (issue #11 item 7).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from daemon.config import TlsConfig, TokenConfig, split_host_port

__all__ = ["UNKNOWN_READER_LABEL", "Exporter", "Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
UNKNOWN_READER_LABEL = "unknown"

_StartResponse = Callable[..., Any]
_App = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]


class Exporter:
    """A Prometheus registry and its HTTP(S) exporter (module docstring); shared by healthcardd and the host."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._server: WSGIServer | None = None

    def serve(
        self,
        address: str,
        *,
        tls: TlsConfig | None = None,
        tokens: Sequence[TokenConfig] = (),
        allowed_roles: Collection[str] = (),
    ) -> int:
        """Start the HTTP(S) exporter on ``HOST:PORT`` in a daemon thread; returns the bound port.

        ``tokens``: when any, a scrape must present one of them whose roles meet ``allowed_roles``.
        """
        host, port = split_host_port(address)
        app: _App = make_wsgi_app(self.registry)
        if tokens:
            app = _bearer_only(app, tokens, frozenset(allowed_roles))
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("_MetricsServer", (_ThreadingWSGIServer,), {"address_family": family})
        server: WSGIServer = make_server(host, port, app, server_class, handler_class=_QuietHandler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            if tls.client_ca_file is not None:
                context.load_verify_locations(str(tls.client_ca_file))
                context.verify_mode = ssl.CERT_REQUIRED
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop the exporter (if serving)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Metrics(Exporter):
    """The daemon's counters and histograms."""

    def __init__(self, readers: Collection[str] = ()) -> None:
        super().__init__()
        self._readers = frozenset(readers)
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

    def reader_label(self, reader: str) -> str:
        """``reader`` when it is a configured reader, else ``"unknown"`` (labels never come from clients)."""
        return reader if reader in self._readers else UNKNOWN_READER_LABEL


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the daemon logs JSON; scrape lines would only be noise)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def _bearer_only(app: _App, tokens: Sequence[TokenConfig], allowed_roles: frozenset[str]) -> _App:
    """``app`` behind the daemon's bearer tokens: 401 without a valid token, 403 without an allowed role."""
    from daemon.auth import find_token  # noqa: PLC0415 - daemon.auth imports daemon.errors and the gRPC code

    def guarded(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        presented = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None
        token = find_token(tokens, presented)
        if token is None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"missing or invalid bearer token\n"]
        if not allowed_roles & set(token.roles):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"this token's roles may not read the metrics\n"]
        return app(environ, start_response)

    return guarded
