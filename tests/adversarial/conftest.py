"""Shared helpers of the attack suite (issue #11): daemons in this process, RPC error inspection."""

from __future__ import annotations

from typing import Any

import grpc

from daemon.errors import REASON_KEY


def rpc_error(call: Any) -> Any:
    """Run ``call()`` and return the ``grpc.RpcError`` it raised (the test fails if it raised none)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the RPC succeeded; a refusal was expected")


def reason(err: Any) -> str:
    """The ``healthcard-error-reason`` trailing metadata entry of a failed RPC."""
    return str(dict(err.trailing_metadata() or ()).get(REASON_KEY, ""))
