"""Map every failure to a gRPC status code, a machine-readable reason and a human message (issue #6).

The reason travels in trailing metadata in the style of ``google.rpc.ErrorInfo`` (protos/healthcard/v1/
errors.proto): ``healthcard-error-reason`` (the reason name without prefix) and ``healthcard-error-bin``
(a serialized ``healthcard.v1.ErrorDetails``). Messages come from :mod:`apdu.errors`, which never includes keys,
PINs or session data; unexpected exceptions are reported as INTERNAL without their text.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from apdu.errors import (
    BlockedError,
    CardError,
    DataError,
    HealthCardError,
    InsufficientFundsError,
    LibraryError,
    MacError,
    PinBlockedError,
    ReaderError,
    SamError,
)
from daemon._gen.healthcard.v1 import errors_pb2
from daemon.database import StorageFullError
from daemon.journal import RequestIdConflictError, RequestIdExpiredError

__all__ = [
    "DETAILS_KEY",
    "REASON_KEY",
    "CardNotBlankError",
    "DaemonError",
    "Failure",
    "NotSupportedError",
    "ReaderBusyError",
    "SamUnavailableError",
    "SamUnusableError",
    "ShuttingDownError",
    "TransactionInDoubtError",
    "TransactionNotFoundError",
    "TransactionNotSettleableError",
    "UnknownReaderError",
    "classify",
    "code_of_reason",
]

REASON_KEY = "healthcard-error-reason"
DETAILS_KEY = "healthcard-error-bin"
R = errors_pb2.ErrorReason


class DaemonError(HealthCardError):
    """A failure detected by the daemon itself (not by the card, SAM or reader)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason: int = R.ERROR_REASON_INTERNAL
    field = ""
    message_zh = ""
    metadata: tuple[tuple[str, str], ...] = ()
    #: ``ErrorDetails.layer`` / ``status_word`` when a device below the daemon caused it (a SAM's status word).
    reported_layer = "daemon"
    status_word = ""


class UnknownReaderError(DaemonError):
    """The request names a reader that is not configured."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = R.ERROR_REASON_UNKNOWN_READER
    field = "reader"


class ReaderBusyError(DaemonError):
    """The request waited longer than the queue timeout for its reader's worker (PC/SC field problems, sources.md
    F6.5)."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = R.ERROR_REASON_READER_BUSY


class ShuttingDownError(DaemonError):
    """The daemon is stopping and accepts no new card operations."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = R.ERROR_REASON_SHUTTING_DOWN


class NotSupportedError(DaemonError):
    """The operation is not available with this backend."""

    code = grpc.StatusCode.UNIMPLEMENTED
    reason = R.ERROR_REASON_NOT_SUPPORTED


class SamUnusableError(DaemonError):
    """The reader's SAM refused the configured SAM PIN; the daemon no longer uses it (daemon/samgate.py)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_SAM_UNUSABLE


class CardNotBlankError(DaemonError):
    """IssueCard found a card that is already personalised (it has a card number)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_CARD_ERROR


class SamUnavailableError(DaemonError):
    """The SAM's reader is empty or gone: nothing was sent to the card (reported as SAM_ERROR, layer ``sam``)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_SAM_ERROR
    field = "reader"
    reported_layer = "sam"


class TransactionInDoubtError(DaemonError):
    """A Debit/Load the card may have executed, whose outcome the daemon could not learn within the call.

    Never a failure: the journal entry stays ``prepared`` and a retry with the same request id asks the card
    (errors.proto, ``ERROR_REASON_TRANSACTION_IN_DOUBT``; docs/daemon.md "Errors"). ``cause`` is the reason name
    of what went wrong (``READER_UNAVAILABLE``, ``CARD_REMOVED``, ``WRONG_MAC``, ``INTERNAL`` ...).
    """

    code = grpc.StatusCode.UNKNOWN
    reason = R.ERROR_REASON_TRANSACTION_IN_DOUBT

    def __init__(self, *, kind: str, transaction_id: str, request_id: str, cause: str, detail: str) -> None:
        verb = "debited" if kind == "debit" else "loaded"
        super().__init__(
            f"{kind} {transaction_id} is in doubt: the card may have been {verb} ({cause}: {detail}); retry with "
            f"the same request_id {request_id!r} and the same card in the reader for the final answer"
        )
        self.transaction_id = transaction_id
        self.message_zh = (
            f"交易结果待确认：卡片可能已{'扣款' if kind == 'debit' else '圈存'}。请插入同一张卡，"
            "用相同的 request_id 重试以取得最终结果，请勿另行收费。"
        )
        self.metadata = (("transaction_id", transaction_id), ("request_id", request_id), ("cause", cause))


class TransactionNotFoundError(DaemonError):
    """No journal entry has the transaction id of the request."""

    code = grpc.StatusCode.NOT_FOUND
    reason = R.ERROR_REASON_TRANSACTION_NOT_FOUND
    field = "transaction_id"


class TransactionNotSettleableError(DaemonError):
    """SettleTransaction on an entry that is final, not prepared, or that its card has just decided."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_TRANSACTION_NOT_SETTLEABLE
    field = "transaction_id"


@dataclass(frozen=True)
class Failure:
    """What the client receives for one failure."""

    code: grpc.StatusCode
    reason: int
    message: str
    layer: str = "daemon"
    field: str = ""
    status_word: str = ""
    message_zh: str = ""
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def reason_name(self) -> str:
        """``"INSUFFICIENT_BALANCE"`` etc."""
        return R.Name(self.reason).removeprefix("ERROR_REASON_")  # type: ignore[arg-type]

    def details(self) -> errors_pb2.ErrorDetails:
        """The ``ErrorDetails`` message."""
        return errors_pb2.ErrorDetails(
            reason=self.reason,  # type: ignore[arg-type]
            domain="healthcard.v1",
            layer=self.layer,
            field=self.field,
            status_word=self.status_word,
            message=self.message,
            message_zh=self.message_zh,
            metadata=dict(self.metadata),
        )

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The two trailing metadata entries."""
        return ((REASON_KEY, self.reason_name), (DETAILS_KEY, self.details().SerializeToString()))


#: The gRPC code :func:`classify` gives each reason (the one code of a reason whatever raised it), so a failure
#: replayed from the journal (a voided request repeated) comes back under the code it was first answered with.
_CODE_OF_REASON: dict[int, grpc.StatusCode] = {
    R.ERROR_REASON_INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    R.ERROR_REASON_UNKNOWN_READER: grpc.StatusCode.INVALID_ARGUMENT,
    R.ERROR_REASON_READER_BUSY: grpc.StatusCode.UNAVAILABLE,
    R.ERROR_REASON_READER_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    R.ERROR_REASON_SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    R.ERROR_REASON_CARD_REMOVED: grpc.StatusCode.ABORTED,
    R.ERROR_REASON_REQUEST_ID_CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    R.ERROR_REASON_REQUEST_ID_EXPIRED: grpc.StatusCode.ALREADY_EXISTS,
    R.ERROR_REASON_NOT_SUPPORTED: grpc.StatusCode.UNIMPLEMENTED,
    R.ERROR_REASON_UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    R.ERROR_REASON_TRANSACTION_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    R.ERROR_REASON_INTERNAL: grpc.StatusCode.INTERNAL,
    R.ERROR_REASON_TRANSACTION_IN_DOUBT: grpc.StatusCode.UNKNOWN,
    R.ERROR_REASON_STORAGE_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    R.ERROR_REASON_RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    R.ERROR_REASON_PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    R.ERROR_REASON_HOST_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    R.ERROR_REASON_HOST_KEYS_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


def code_of_reason(reason: int) -> grpc.StatusCode:
    """The gRPC code of ``reason`` (docs/daemon.md "Errors"): FAILED_PRECONDITION unless the table says otherwise."""
    return _CODE_OF_REASON.get(reason, grpc.StatusCode.FAILED_PRECONDITION)


def _card_reason(exc: CardError) -> int:
    sam = isinstance(exc, SamError)
    if isinstance(exc, InsufficientFundsError):
        return R.ERROR_REASON_INSUFFICIENT_BALANCE
    if isinstance(exc, MacError):
        return R.ERROR_REASON_WRONG_MAC
    if isinstance(exc, PinBlockedError | BlockedError):
        return R.ERROR_REASON_SAM_LOCKED if sam else R.ERROR_REASON_CARD_BLOCKED
    return R.ERROR_REASON_SAM_ERROR if sam else R.ERROR_REASON_CARD_ERROR


def classify(exc: BaseException) -> Failure:
    """The :class:`Failure` for an exception raised while serving a request."""
    if isinstance(exc, DaemonError):
        return Failure(
            exc.code, exc.reason, exc.message, exc.reported_layer, field=exc.field, status_word=exc.status_word,
            message_zh=exc.message_zh, metadata=exc.metadata,
        )  # fmt: skip
    if isinstance(exc, StorageFullError):
        return Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, R.ERROR_REASON_STORAGE_FULL, exc.message, "library")
    if isinstance(exc, RequestIdConflictError):
        return Failure(
            grpc.StatusCode.ALREADY_EXISTS,
            R.ERROR_REASON_REQUEST_ID_CONFLICT,
            exc.message,
            "data",
            "request_id",
            metadata=(("mismatch", exc.mismatch),),
        )
    if isinstance(exc, RequestIdExpiredError):
        return Failure(grpc.StatusCode.ALREADY_EXISTS, R.ERROR_REASON_REQUEST_ID_EXPIRED, exc.message, "data",
                       "request_id")  # fmt: skip
    if isinstance(exc, DataError):
        code, reason = grpc.StatusCode.INVALID_ARGUMENT, R.ERROR_REASON_INVALID_ARGUMENT
        return Failure(code, reason, exc.message, "data", exc.field)
    if isinstance(exc, ReaderError):
        text = exc.message.lower()
        if exc.no_card or (exc.removed and "no card" in text):
            return Failure(grpc.StatusCode.FAILED_PRECONDITION, R.ERROR_REASON_NO_CARD, exc.message, "reader")
        if exc.removed:
            return Failure(grpc.StatusCode.ABORTED, R.ERROR_REASON_CARD_REMOVED, exc.message, "reader")
        return Failure(grpc.StatusCode.UNAVAILABLE, R.ERROR_REASON_READER_UNAVAILABLE, exc.message, "reader")
    if isinstance(exc, CardError):
        return Failure(
            grpc.StatusCode.FAILED_PRECONDITION,
            _card_reason(exc),
            f"{exc.info.english} (SW {exc.sw:04X})",
            exc.layer.value,
            status_word=f"{exc.sw:04X}",
            message_zh=exc.info.chinese,
        )
    if isinstance(exc, LibraryError) and "mac" in exc.message.lower():
        return Failure(grpc.StatusCode.DATA_LOSS, R.ERROR_REASON_WRONG_MAC, exc.message, "library")
    if isinstance(exc, HealthCardError):
        return Failure(grpc.StatusCode.INTERNAL, R.ERROR_REASON_INTERNAL, exc.message, exc.layer.value)
    return Failure(grpc.StatusCode.INTERNAL, R.ERROR_REASON_INTERNAL, f"internal error ({type(exc).__name__})")
