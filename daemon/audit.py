"""The audit trail: who did what to which card, never the data itself (issue #6, hospital security rules).

Every read of personal data, write, issuance, load and debit appends one row to the ``audit`` table of the
daemon's database: time, client identity (bearer-token name or peer address), operator id when the request
carries one, reader, card number, operation and outcome. Field values are bounded and never contain card
data beyond the card number.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from dataclasses import dataclass

from daemon.database import Database

__all__ = ["AuditEvent", "AuditRecord", "AuditTrail"]

_MAX_TEXT = 128


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class AuditEvent:
    """One audit row."""

    event_id: int
    event_time: _dt.datetime
    client: str
    operator_id: str
    reader: str
    card_number: str
    operation: str
    outcome: str
    request_id: str


@dataclass(frozen=True)
class AuditRecord:
    """One audit row to append (the event id and, by default, the time are assigned when it is written).

    :meth:`insert` writes it inside a transaction the caller holds: the journal appends the audit row of a
    load or debit in the same durable commit as the TAC (daemon/journal.py ``Journal.complete``).
    """

    client: str
    operation: str
    outcome: str
    reader: str = ""
    card_number: str = ""
    operator_id: str = ""
    request_id: str = ""

    def insert(self, conn: sqlite3.Connection, when: _dt.datetime | None = None) -> int:
        """Append this row with ``conn`` (inside the caller's transaction); returns the event id."""
        event_time = (when or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC).isoformat(timespec="microseconds")
        values = (event_time, self.client, self.operator_id, self.reader, self.card_number, self.operation,
                  self.outcome, self.request_id)  # fmt: skip
        cursor = conn.execute(
            "INSERT INTO audit (event_time, client, operator_id, reader, card_number, operation, outcome,"
            " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(_bounded(v) for v in values),
        )
        return int(cursor.lastrowid or 0)


class AuditTrail:
    """The ``audit`` table of a :class:`~daemon.database.Database` (append-only)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        *,
        client: str,
        operation: str,
        outcome: str,
        reader: str = "",
        card_number: str = "",
        operator_id: str = "",
        request_id: str = "",
        when: _dt.datetime | None = None,
    ) -> int:
        """Append one event in a commit of its own and return its id."""
        record = AuditRecord(client, operation, outcome, reader, card_number, operator_id, request_id)
        with self._db.transaction(durable=False) as conn:  # fsynced with the next durable commit (database.py)
            return record.insert(conn, when)

    def list_events(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
    ) -> tuple[list[AuditEvent], int | None]:
        """Events newest first; returns ``(events, next_before_id)`` (``None`` on the last page)."""
        sql = "SELECT * FROM audit WHERE 1 = 1"
        params: list[object] = []
        if before_id is not None:
            sql += " AND event_id < ?"
            params.append(before_id)
        if start is not None:
            sql += " AND event_time >= ?"
            params.append(start.astimezone(_dt.UTC).isoformat(timespec="microseconds"))
        if end is not None:
            sql += " AND event_time < ?"
            params.append(end.astimezone(_dt.UTC).isoformat(timespec="microseconds"))
        rows = self._db.query(sql + " ORDER BY event_id DESC LIMIT ?", (*params, limit + 1))
        more = len(rows) > limit
        events = [
            AuditEvent(
                event_id=int(r["event_id"]),
                event_time=_dt.datetime.fromisoformat(r["event_time"]),
                client=r["client"],
                operator_id=r["operator_id"],
                reader=r["reader"],
                card_number=r["card_number"],
                operation=r["operation"],
                outcome=r["outcome"],
                request_id=r["request_id"],
            )
            for r in rows[:limit]
        ]
        return events, (events[-1].event_id if more and events else None)
