"""Retention: decided journal entries and done card-write requests older than ``retention_days`` are pruned.

Hospitals keep payment records at least a year, so the default age is 400 days (``retention_days`` in the
configuration, docs/daemon.md "Retention"; 0 keeps everything). :meth:`Retention.prune` removes, oldest first:

* journal entries (``transactions``) that are decided — ``confirmed`` or ``voided`` — created before the cutoff
  and no longer in the host outbox (``host_outbox``: the host has acknowledged their upload). Open entries
  (``intent``, ``prepared``, ``debited``: in doubt until their card decides them) are never pruned, whatever
  their age;
* card-write requests (``requests``) that are ``done`` and were last updated before the cutoff (a ``started`` one
  may have changed its card and is kept).

Each pruned request id leaves a tombstone in ``expired_requests``: the first 16 bytes of the SHA-256 of the id
and the day it was pruned (~60 bytes a row instead of ~500). A later request with that id — a client retrying a
year-old payment — is answered REQUEST_ID_EXPIRED and nothing is done (:class:`daemon.journal.RequestIdExpiredError`),
never treated as new: the card is not charged twice. The check is part of the insert of every new request (one
primary-key probe in the same statement).

Batches never block a payment for long: rows are chosen by a keyset over ``(created_at, seq)`` (index
``transactions_created``; ``requests`` by its primary key) with a read connection, and each batch of at most
``batch`` rows is deleted in its own short write transaction, with a pause between batches that lets the
payments' commits in.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import threading

from daemon.database import Database

__all__ = ["Retention", "expired_key"]

log = logging.getLogger("healthcardd.retention")

#: Each statement re-checks in the write transaction what the read chose (a row may have changed in between).
_DELETE_ENTRY = "DELETE FROM transactions WHERE transaction_id = ? AND state IN ('confirmed', 'voided')"
_DELETE_UPLOADED_ENTRY = (
    "DELETE FROM transactions WHERE transaction_id = ? AND state IN ('confirmed', 'voided')"
    " AND NOT EXISTS (SELECT 1 FROM host_outbox WHERE item_key = transaction_id)"
)
_DELETE_REQUEST = "DELETE FROM requests WHERE request_id = ? AND state = 'done'"
#: ``expired_requests`` is created with the schema (daemon/database.py) so that every insert can look it up.
_TOMBSTONE = "INSERT OR IGNORE INTO expired_requests (id_hash, pruned_on) VALUES (?, ?)"


def expired_key(request_id: str) -> bytes:
    """The tombstone key of a request id: the first 16 bytes of its SHA-256."""
    return hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()[:16]


class Retention:
    """Prunes what is older than ``days`` (module docstring)."""

    def __init__(self, db: Database, days: int, *, batch: int = 50, pause_s: float = 0.05) -> None:
        self._db = db
        self.days = days
        self._batch = batch
        self._pause = pause_s
        self._stop = threading.Event()

    def prune(self, now: _dt.datetime | None = None) -> int:
        """Prune everything older than the age at ``now`` (default: the current time); the rows removed."""
        if self.days <= 0:
            return 0
        now = now or _dt.datetime.now(_dt.UTC)
        cutoff = (now - _dt.timedelta(days=self.days)).isoformat(timespec="microseconds")
        today = now.date().isoformat()
        outbox = bool(self._db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'host_outbox'"))
        total = self._prune_journal(cutoff, today, outbox) + self._prune_requests(cutoff, today)
        if total:
            log.info("retention: %d record(s) older than %d days pruned", total, self.days)
        return total

    def _prune_journal(self, cutoff: str, today: str, outbox: bool) -> int:
        delete = _DELETE_UPLOADED_ENTRY if outbox else _DELETE_ENTRY
        last: tuple[str, int] = ("", -1)
        total = 0
        while not self._stop.is_set():
            rows = self._db.query(
                "SELECT transaction_id, request_id, state, created_at, seq FROM transactions"
                " WHERE created_at < ? AND (created_at, seq) > (?, ?) ORDER BY created_at, seq LIMIT ?",
                (cutoff, *last, self._batch),
            )
            if not rows:
                break
            last = (str(rows[-1]["created_at"]), int(rows[-1]["seq"]))
            ids = [(str(r["transaction_id"]), str(r["request_id"])) for r in rows
                   if r["state"] in ("confirmed", "voided")]  # fmt: skip
            if ids:
                total += self._delete(delete, ids, today)
            self._stop.wait(self._pause)
        return total

    def _prune_requests(self, cutoff: str, today: str) -> int:
        last = ""
        total = 0
        while not self._stop.is_set():
            rows = self._db.query(
                "SELECT request_id, state, updated_at FROM requests WHERE request_id > ? ORDER BY request_id LIMIT ?",
                (last, self._batch),
            )
            if not rows:
                break
            last = str(rows[-1]["request_id"])
            ids = [(str(r["request_id"]), str(r["request_id"])) for r in rows
                   if r["state"] == "done" and str(r["updated_at"]) < cutoff]  # fmt: skip
            if ids:
                total += self._delete(_DELETE_REQUEST, ids, today)
            self._stop.wait(self._pause)
        return total

    def _delete(self, delete: str, ids: list[tuple[str, str]], today: str) -> int:
        """``delete`` each ``(row key, request id)`` in one write transaction, leaving a tombstone for each row gone."""
        deleted = 0
        with self._db.transaction(durable=False) as conn:
            for row_key, request_id in ids:
                if conn.execute(delete, (row_key,)).rowcount:
                    conn.execute(_TOMBSTONE, (expired_key(request_id), today))
                    deleted += 1
        return deleted

    def stop(self) -> None:
        """Stop a prune in progress after its current batch."""
        self._stop.set()

    def run(self, interval_s: float = 3600.0, first_after_s: float = 60.0) -> None:
        """Prune every ``interval_s`` until :meth:`stop` (a thread's target); failures are logged, not fatal."""
        wait = first_after_s
        while not self._stop.wait(wait):
            try:
                self.prune()
            except Exception:  # the next round tries again; payments are not affected
                log.exception("retention: pruning failed")
            wait = interval_s
