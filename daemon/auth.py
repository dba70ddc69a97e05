"""Bearer-token authentication (``authorization: Bearer <token>`` metadata), roles and client identity.

When tokens are configured every RPC except gRPC health checking must carry one of them (the comparison is
constant-time, ``hmac.compare_digest``), else UNAUTHENTICATED; and one of the token's roles must be allowed to
call the method by the service's :data:`daemon.roles.Policy`, else PERMISSION_DENIED (issue #11 item 10). Both
refusals carry the usual reason metadata (``healthcard-error-reason``, :mod:`daemon.errors`). The client
identity recorded in the audit trail is ``token:<name>`` for an authenticated client, otherwise
``peer:<address>``. Tokens never reach logs or error messages.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from daemon._gen.healthcard.v1 import errors_pb2
from daemon.config import TokenConfig
from daemon.errors import Failure
from daemon.roles import Policy, allowed

__all__ = ["OPEN_PREFIXES", "TokenAuthInterceptor", "bearer", "client_identity", "find_token", "token_name"]

#: Methods open without a token: health checking (load balancers, systemd watchdogs).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
_MAX_METHOD = 200  # characters of a method name kept in a refusal message

#: Called for every refused RPC with (method, client identity, reason name), e.g. to write an audit row.
RefusalHook = Callable[[str, str, str], None]


def bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the ``authorization: Bearer ...`` metadata entry, if any."""
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :].strip()
    return None


def find_token(tokens: Sequence[TokenConfig], presented: str | None) -> TokenConfig | None:
    """The configured token equal to ``presented`` (constant-time, every token compared), or ``None``."""
    if presented is None:
        return None
    found = None
    for token in tokens:
        if hmac.compare_digest(token.token.reveal().encode(), presented.encode()):
            found = token
    return found


def token_name(tokens: Sequence[TokenConfig], presented: str | None) -> str | None:
    """The name of the configured token equal to ``presented``, or ``None``."""
    token = find_token(tokens, presented)
    return token.name if token is not None else None


def client_identity(context: grpc.ServicerContext, tokens: Sequence[TokenConfig]) -> str:
    """``token:<name>`` or ``peer:<address>`` for the audit trail."""
    if not tokens:  # no token can match: the metadata is not read
        return f"peer:{context.peer()}"
    name = token_name(tokens, bearer(context.invocation_metadata()))
    return f"token:{name}" if name is not None else f"peer:{context.peer()}"


def _deny(failure: Failure) -> Callable[[Any, grpc.ServicerContext], Any]:
    def abort(_request: Any, context: grpc.ServicerContext) -> Any:
        context.set_trailing_metadata(failure.trailing_metadata())
        context.abort(failure.code, failure.message)

    return abort


def _refusal_handler(
    handler: grpc.RpcMethodHandler[Any, Any] | None, failure: Failure
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same streaming shape as ``handler`` that refuses with ``failure``."""
    deny = _deny(failure)
    if handler is not None and handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler is not None and handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    if handler is not None and handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class TokenAuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuse RPCs without a valid bearer token, or whose token has no role the ``policy`` allows.

    ``policy``: full method name -> allowed roles (:data:`daemon.roles.HEALTHCARD_POLICY` for healthcardd; the
    hospital host passes its own). ``on_refused`` is told about every refusal (the daemon audits them).
    """

    def __init__(self, tokens: Sequence[TokenConfig], policy: Policy, *, on_refused: RefusalHook | None = None) -> None:
        self._tokens = tuple(tokens)
        self._policy = policy
        self._on_refused = on_refused

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if not self._tokens or method.startswith(OPEN_PREFIXES):
            return continuation(handler_call_details)
        presented = bearer(handler_call_details.invocation_metadata)
        token = find_token(self._tokens, presented)
        if token is not None and allowed(self._policy, method, token.roles):
            return continuation(handler_call_details)
        shown = method if len(method) <= _MAX_METHOD else method[:_MAX_METHOD] + "…"
        if token is None:
            message = "missing bearer token" if presented is None else "invalid bearer token"
            failure = Failure(
                grpc.StatusCode.UNAUTHENTICATED, errors_pb2.ERROR_REASON_UNAUTHENTICATED, message, "daemon"
            )
            client = "unauthenticated"
        else:
            message = (
                f"token {token.name!r} (roles {', '.join(token.roles) or 'none'}) may not call {shown}"
                " (docs/security.md, roles)"
            )
            failure = Failure(
                grpc.StatusCode.PERMISSION_DENIED, errors_pb2.ERROR_REASON_PERMISSION_DENIED, message, "daemon"
            )
            client = f"token:{token.name}"
        if self._on_refused is not None:
            self._on_refused(shown, client, failure.reason_name)
        return _refusal_handler(continuation(handler_call_details), failure)
