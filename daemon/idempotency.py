"""IssueCard, WriteCard and AddRecord at most once per request id (issue #11 item 3; Debit/Load: journal.py).

The ``requests`` table of the daemon's database (database.py) keeps one row per request id: the operation, the
reader, a fingerprint of the request's content, the card it was done to and the serialized response.

* :meth:`RequestStore.begin` — before the card is touched, on the reader's worker. A new request id is recorded
  ``started`` (durable: it must exist before the card may change). A known one must be the same request — same
  operation, reader, content and operator — else :class:`~daemon.journal.RequestIdConflictError` names what differs; the
  same holds across Debit/Load, whose request ids live in the journal (one namespace for every mutating RPC).
* :meth:`RequestStore.finish` — the response and the card number: ``done``. A repeat then gets the stored response
  without touching the card again.

A ``started`` row found again means an earlier attempt failed or the daemon stopped before ``done``: the card may
or may not have been written. The service then looks on the card for that attempt's effect before doing it again
(service.py); WriteCard merges the same values again, which changes nothing more.

The fingerprint is the SHA-256 of the request's deterministic protobuf serialisation without ``request_id``,
``operator_id`` and ``reader`` (both compared on their own, to name them: a request id replayed by another operator
would put the first operator's write in the second one's audit trail).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass

from google.protobuf.message import Message

from apdu.errors import ReaderError
from daemon.backend import ReaderBackend
from daemon.database import Database
from daemon.journal import RequestIdConflictError, RequestIdExpiredError
from daemon.retention import expired_key

__all__ = ["RequestStore", "StoredRequest", "card_in_reader", "fingerprint"]


def fingerprint(request: Message) -> str:
    """SHA-256 (hex) of ``request`` without ``request_id``, ``operator_id`` and ``reader`` (module docstring)."""
    copy = type(request)()
    copy.CopyFrom(request)
    for name in ("request_id", "operator_id", "reader"):
        copy.ClearField(name)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def card_in_reader(backend: ReaderBackend) -> str | None:
    """The card number of the card in ``backend``'s reader, or ``None`` when the reader is empty."""
    try:
        with backend.session() as card:
            return card.card_number
    except ReaderError as exc:
        if exc.removed:
            return None
        raise


@dataclass(frozen=True)
class StoredRequest:
    """One row of ``requests``."""

    request_id: str
    operation: str
    reader: str
    fingerprint: str
    done: bool
    card_number: str
    response: bytes


class RequestStore:
    """The ``requests`` table (module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def begin(
        self, *, request_id: str, operation: str, reader: str, fingerprint: str, operator_id: str = ""
    ) -> StoredRequest | None:
        """``None`` for a new request id (now ``started``), else its row; a different request is a conflict."""
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._db.transaction(durable=True) as conn:
            money = conn.execute("SELECT kind FROM transactions WHERE request_id = ?", (request_id,)).fetchone()
            if money is not None:
                raise RequestIdConflictError(
                    f"request_id {request_id!r} was already used for a {money['kind']}: kind differs; nothing was "
                    "done, use a new request_id",
                    mismatch="kind",
                )
            if conn.execute("SELECT 1 FROM expired_requests WHERE id_hash = ?", (expired_key(request_id),)).fetchone():
                raise RequestIdExpiredError(request_id)
            inserted = conn.execute(
                "INSERT INTO requests (request_id, operation, reader, fingerprint, operator_id, state, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, 'started', ?, ?) ON CONFLICT (request_id) DO NOTHING",
                (request_id, operation, reader, fingerprint, operator_id, now, now),
            ).rowcount
            row = None if inserted else conn.execute(
                "SELECT * FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()  # fmt: skip
        if row is None:
            return None
        stored = StoredRequest(
            request_id=request_id, operation=row["operation"], reader=row["reader"], fingerprint=row["fingerprint"],
            done=row["state"] == "done", card_number=row["card_number"], response=bytes(row["response"] or b""),
        )  # fmt: skip
        mismatch = [name for name, first, now_ in (
            ("kind", stored.operation, operation), ("reader", stored.reader, reader),
            ("content", stored.fingerprint, fingerprint), ("operator_id", row["operator_id"], operator_id),
        ) if first != now_]  # fmt: skip
        if mismatch:
            raise RequestIdConflictError(
                f"request_id {request_id!r} was already used for a {stored.operation} on {stored.reader!r}: "
                f"{', '.join(mismatch)} differ; nothing was done, use a new request_id",
                mismatch=",".join(mismatch),
            )
        return stored

    def finish(self, request_id: str, *, card_number: str, response: bytes) -> None:
        """The request was done: keep its card number and response (a SIGKILL loses neither; database.py)."""
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._db.transaction(durable=False) as conn:
            conn.execute(
                "UPDATE requests SET state = 'done', card_number = ?, response = ?, updated_at = ?"
                " WHERE request_id = ?",
                (card_number, response, now, request_id),
            )

    @staticmethod
    def check_card(backend: ReaderBackend, stored: StoredRequest) -> None:
        """Refuse a repeat of ``stored`` while another card is in the reader (an empty reader is fine)."""
        number = card_in_reader(backend)
        if number is not None and stored.card_number and number != stored.card_number:
            raise RequestIdConflictError(
                f"request_id {stored.request_id!r} belongs to a {stored.operation} of another card; the card in "
                f"reader {stored.reader!r} was not touched: use a new request_id for it",
                mismatch="card_number",
            )
