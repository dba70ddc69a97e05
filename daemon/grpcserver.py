"""The gRPC server plumbing healthcardd and healthcard-host share: server, TLS/insecure port, health, reflection.

One place for how a service of the project listens (issue #6 rules: loopback by default, TLS with an optional
client CA for mutual TLS otherwise) and how a failure becomes a gRPC status with the project's trailing
metadata (:class:`daemon.errors.Failure`), so the daemon (:mod:`daemon.server`) and the hospital host
(:mod:`daemon.host.server`) do not each carry a copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from daemon._gen.healthcard.v1 import errors_pb2
from daemon.config import TlsConfig
from daemon.errors import Failure

__all__ = [
    "MAX_MESSAGE",
    "MONITORING_PREFIXES",
    "StreamLimitInterceptor",
    "abort",
    "bind",
    "default_stream_limit",
    "enable_health_and_reflection",
    "monitoring_stream_share",
    "new_server",
    "set_serving",
]

MAX_MESSAGE = 1 << 20


def default_stream_limit(workers: int) -> int:
    """Half the worker threads (at least 1) may serve streams; the rest are kept for unary RPCs and health."""
    return max(1, workers // 2)


#: Method prefixes of the streams a monitoring or debugging tool opens (health Watch, server reflection): they
#: have their own share of the stream slots (:func:`monitoring_stream_share`).
MONITORING_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def monitoring_stream_share(limit: int) -> int:
    """Slots of ``limit`` kept apart for monitoring streams: a quarter (at least 1); 0 — one shared pool — for 1."""
    return 0 if limit < 2 else max(1, limit // 4)


class StreamLimitInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """At most ``limit`` response-streaming RPCs at a time; beyond, RESOURCE_EXHAUSTED (issue #11 item 7).

    grpcio's synchronous server runs every RPC on one thread of its pool for as long as it lasts, and a stream
    (WatchCards, health Watch, reflection) lasts as long as its client wants: 16 open WatchCards streams took all
    16 workers and every unary RPC, health checking included, waited. Capping the streams below the pool size
    keeps ``workers - limit`` threads for unary calls whatever the clients do. Put it last in the interceptor
    list so that it wraps the real handler (refusals by the token check are never counted).

    Health Watch and reflection streams (:data:`MONITORING_PREFIXES`) get their own
    :func:`monitoring_stream_share` of the ``limit`` slots and the service's streams (WatchCards, the host's
    WatchBlacklist) the rest, so neither can starve the other: a monitoring tool holding many health watches
    took every slot and the kiosks' WatchCards were refused (harden2 item 5). With ``limit`` 1 both share it.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the stream limit must be at least 1")
        self.limit = limit
        self.monitoring_limit = monitoring_stream_share(limit)
        self._slots = threading.BoundedSemaphore(limit - self.monitoring_limit)
        self._monitoring_slots = threading.BoundedSemaphore(self.monitoring_limit) if self.monitoring_limit else None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or not handler.response_streaming:
            return handler
        behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream
        if behavior is None:
            return handler
        method = str(handler_call_details.method)
        if self._monitoring_slots is not None and method.startswith(MONITORING_PREFIXES):
            slots, limit, kind = self._monitoring_slots, self.monitoring_limit, "health/reflection streams"
        else:
            slots, limit, kind = self._slots, self.limit - self.monitoring_limit, "open streams"

        def limited(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if not slots.acquire(blocking=False):
                abort(context, Failure(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, errors_pb2.ERROR_REASON_RESOURCE_EXHAUSTED,
                    f"too many {kind} (at most {limit} at a time); retry later", "daemon",
                ))  # fmt: skip
            try:
                yield from behavior(request, context)
            finally:
                slots.release()

        if handler.request_streaming:
            factory = grpc.stream_stream_rpc_method_handler
        else:
            factory = grpc.unary_stream_rpc_method_handler
        return factory(
            limited, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def new_server(
    workers: int, interceptors: Sequence[grpc.ServerInterceptor[Any, Any]] = (), *, max_streams: int | None = None
) -> grpc.Server:
    """A gRPC server with ``workers`` threads, requests of at most 1 MiB, no SO_REUSEPORT (a taken port is an
    error), and at most ``max_streams`` concurrent streams (default: half the workers; :class:`StreamLimitInterceptor`).
    """
    limit = default_stream_limit(workers) if max_streams is None else max_streams
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc"),
        interceptors=[*interceptors, StreamLimitInterceptor(limit)],
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.so_reuseport", 0)],
    )


def bind(server: grpc.Server, address: str, tls: TlsConfig | None) -> int:
    """Listen on ``address`` (TLS when configured, mutual TLS with a client CA); the port, 0 when it failed."""
    if tls is not None:
        credentials = grpc.ssl_server_credentials(
            [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
            root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
            require_client_auth=tls.client_ca_file is not None,
        )
        return int(server.add_secure_port(address, credentials))
    return int(server.add_insecure_port(address))


def enable_health_and_reflection(server: grpc.Server, service_names: Iterable[str]) -> health.HealthServicer:
    """gRPC health checking and server reflection for ``service_names``; returns the health servicer."""
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    names = (*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    return servicer


def set_serving(servicer: health.HealthServicer, service_names: Iterable[str]) -> None:
    """Mark the server (``""``) and each service SERVING."""
    for name in ("", *service_names):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def abort(context: grpc.ServicerContext, failure: Failure) -> NoReturn:
    """End the RPC with ``failure``: its status code and message, the reason and details as trailing metadata."""
    context.set_trailing_metadata(failure.trailing_metadata())
    context.abort(failure.code, failure.message)
    raise AssertionError("unreachable: ServicerContext.abort raises")
