"""Bearer-token authentication (``authorization: Bearer <token>`` metadata) and client identity.

When tokens are configured every RPC except gRPC health checking must carry one of them; the comparison is
constant-time (``hmac.compare_digest``). The client identity recorded in the audit trail is ``token:<name>``
for an authenticated client, otherwise ``peer:<address>``. Tokens never reach logs or error messages.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from daemon.config import TokenConfig
from daemon.errors import REASON_KEY

__all__ = ["TokenAuthInterceptor", "client_identity", "token_name"]

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def _bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :].strip()
    return None


def token_name(tokens: Sequence[TokenConfig], presented: str | None) -> str | None:
    """The name of the configured token equal to ``presented`` (constant-time per token), or ``None``."""
    if presented is None:
        return None
    found = None
    for token in tokens:
        if hmac.compare_digest(token.token.reveal().encode(), presented.encode()):
            found = token.name
    return found


def client_identity(context: grpc.ServicerContext, tokens: Sequence[TokenConfig]) -> str:
    """``token:<name>`` or ``peer:<address>`` for the audit trail."""
    if not tokens:  # no token can match: the metadata is not read
        return f"peer:{context.peer()}"
    name = token_name(tokens, _bearer(context.invocation_metadata()))
    return f"token:{name}" if name is not None else f"peer:{context.peer()}"


def _deny(message: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    def abort(_request: Any, context: grpc.ServicerContext) -> Any:
        context.set_trailing_metadata(((REASON_KEY, "UNAUTHENTICATED"),))
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return abort


class TokenAuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuse RPCs without a valid bearer token (health checking stays open for load balancers)."""

    def __init__(self, tokens: Sequence[TokenConfig]) -> None:
        self._tokens = tuple(tokens)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if not self._tokens or method.startswith(_OPEN_PREFIXES):
            return continuation(handler_call_details)
        presented = _bearer(handler_call_details.invocation_metadata)
        if token_name(self._tokens, presented) is not None:
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        message = "missing bearer token" if presented is None else "invalid bearer token"
        if handler is not None and handler.response_streaming and not handler.request_streaming:
            return grpc.unary_stream_rpc_method_handler(_deny(message))
        if handler is not None and handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(_deny(message))
        if handler is not None and handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(_deny(message))
        return grpc.unary_unary_rpc_method_handler(_deny(message))
