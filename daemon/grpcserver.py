"""The gRPC server plumbing healthcardd and healthcard-host share: server, TLS/insecure port, health, reflection.

One place for how a service of the project listens (issue #6 rules: loopback by default, TLS with an optional
client CA for mutual TLS otherwise) and how a failure becomes a gRPC status with the project's trailing
metadata (:class:`daemon.errors.Failure`), so the daemon (:mod:`daemon.server`) and the hospital host
(:mod:`daemon.host.server`) do not each carry a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent import futures
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from daemon.config import TlsConfig
from daemon.errors import Failure

__all__ = ["abort", "bind", "enable_health_and_reflection", "new_server", "set_serving"]

MAX_MESSAGE = 1 << 20


def new_server(workers: int, interceptors: Sequence[grpc.ServerInterceptor[Any, Any]] = ()) -> grpc.Server:
    """A gRPC server with ``workers`` threads, 1 MiB messages and no SO_REUSEPORT (a taken port is an error)."""
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc"),
        interceptors=list(interceptors),
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
