"""The host's own failures; each maps to a gRPC status and an ``ErrorReason`` through :func:`daemon.errors.classify`."""

from __future__ import annotations

import grpc

from daemon.errors import DaemonError, R

__all__ = [
    "CardAlreadyRegisteredError",
    "CardNotRegisteredError",
    "CardStatusConflictError",
    "HostKeysUnavailableError",
    "NodeMismatchError",
]


class CardNotRegisteredError(DaemonError):
    """No card with this number is in the registry."""

    code = grpc.StatusCode.NOT_FOUND
    reason = R.ERROR_REASON_CARD_NOT_REGISTERED
    field = "card_number"


class CardStatusConflictError(DaemonError):
    """The card's status does not allow the change asked for (docs/host.md, the card status machine)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_CARD_STATUS_CONFLICT
    field = "card_number"


class CardAlreadyRegisteredError(DaemonError):
    """RegisterCard for a card number the registry holds with other facts."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = R.ERROR_REASON_CARD_ALREADY_REGISTERED
    field = "card_number"


class HostKeysUnavailableError(DaemonError):
    """The host's key store cannot answer (its SAM removed, its reader or the PC/SC service gone, the PIN refused, a
    key missing): nothing was authorised or booked, the caller retries later (docs/host.md "Keys in a SAM").

    ``reported_layer`` and ``status_word`` say which device failed and how (``SAM`` and e.g. ``6983``, or
    ``reader``); the message names the reader and the status word in English, ``message_zh`` in Chinese.
    """

    code = grpc.StatusCode.UNAVAILABLE
    reason = R.ERROR_REASON_HOST_KEYS_UNAVAILABLE

    def __init__(self, message: str, *, message_zh: str, layer: str, status_word: str = "") -> None:
        super().__init__(message)
        self.message_zh = message_zh
        self.reported_layer = layer
        self.status_word = status_word


class NodeMismatchError(DaemonError):
    """A daemon's token spoke for another node: with tokens, a daemon uploads and asks for authorisations only under
    its own token's name as ``node_id`` (docs/host.md "Roles"). Without the rule one kiosk's token could upload a
    forged transaction under another node's journal id first, and the real one would then be taken for a
    duplicate and never booked."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = R.ERROR_REASON_PERMISSION_DENIED
    field = "node_id"
