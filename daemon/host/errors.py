"""The host's own failures; each maps to a gRPC status and an ``ErrorReason`` through :func:`daemon.errors.classify`."""

from __future__ import annotations

import grpc

from daemon.errors import DaemonError, R

__all__ = ["CardAlreadyRegisteredError", "CardNotRegisteredError", "CardStatusConflictError"]


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
