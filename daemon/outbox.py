"""The daemon's store-and-forward outbox towards healthcard-host (issue #12; docs/host.md, "Uploads").

Rows wait in the daemon's SQLite (table ``host_outbox``) until the host has acknowledged them, so nothing is
lost while the host is down for hours, nor across a crash or restart of the daemon:

* ``upload`` rows are written **by the database itself**: a trigger on the journal's ``transactions`` table adds
  one, in the same commit, whenever an entry becomes ``confirmed`` (the card was changed and the TAC is known).
  No code path that confirms an entry can forget it, and the journal code needs no change.
* ``record`` rows carry a visit record this daemon wrote onto a card (AddRecord), for the host's copy (补卡).
* ``register`` rows carry a card this daemon has seen (card number, purse factor, balance) for the host's
  registry (``RegisterCard`` with ``observed``), enqueued before any upload of that card.

A row is deleted only after the host answered for it; a crash between the host's answer and the delete sends it
again, and the host records it once (its key is node id + journal id). A row the host refuses as malformed is
*parked* (kept, with the reason, skipped from then on) so it cannot block the rows behind it.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.database import Database, rekey_table

__all__ = ["Outbox", "OutboxRow"]

#: Cards whose registration was enqueued: physical cards, KH + purse factor (a holder's cards share the KH).
_SEEN_SCHEMA = """CREATE TABLE IF NOT EXISTS host_seen_cards (
        card_number  TEXT NOT NULL,
        purse_factor TEXT NOT NULL DEFAULT '',
        seen_at      TEXT NOT NULL,
        PRIMARY KEY (card_number, purse_factor)
    )"""
_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS host_outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL CHECK (kind IN ('register', 'upload', 'record')),
        item_key   TEXT NOT NULL UNIQUE,
        payload    TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        parked     TEXT NOT NULL DEFAULT ''
    )""",
    _SEEN_SCHEMA,
    """CREATE TRIGGER IF NOT EXISTS host_outbox_on_confirm AFTER UPDATE OF state ON transactions
       WHEN NEW.state = 'confirmed' AND OLD.state <> 'confirmed'
       BEGIN
         INSERT OR IGNORE INTO host_outbox (kind, item_key, created_at)
         VALUES ('upload', NEW.transaction_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
       END""",
    """CREATE TRIGGER IF NOT EXISTS host_outbox_on_insert AFTER INSERT ON transactions
       WHEN NEW.state = 'confirmed'
       BEGIN
         INSERT OR IGNORE INTO host_outbox (kind, item_key, created_at)
         VALUES ('upload', NEW.transaction_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
       END""",
)


@dataclass(frozen=True)
class OutboxRow:
    """One waiting row: an upload (``key`` = journal transaction id) or a registration (``payload``)."""

    seq: int
    kind: str
    key: str
    payload: Mapping[str, Any]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def _allow_records(conn: sqlite3.Connection) -> None:
    """An outbox from before visit records (its CHECK allows 'register' and 'upload' only) is rebuilt with its rows;
    the journal's triggers that fill it are dropped first and created again by :data:`_STATEMENTS`."""
    rows = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'host_outbox'").fetchall()
    if not rows or "'record'" in rows[0][0]:
        return
    conn.execute("DROP TRIGGER IF EXISTS host_outbox_on_confirm")
    conn.execute("DROP TRIGGER IF EXISTS host_outbox_on_insert")
    conn.execute("ALTER TABLE host_outbox RENAME TO host_outbox_old")
    conn.execute(_STATEMENTS[0])
    conn.execute("INSERT INTO host_outbox SELECT * FROM host_outbox_old")
    conn.execute("DROP TABLE host_outbox_old")


class Outbox:
    """The outbox in the daemon's database (module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        with db.transaction() as conn:
            # a daemon from before physical cards: its KH-only rows are kept with factor '' (each card of such a
            # KH is registered once more, as observed: the host keeps what it has)
            rekey_table(conn, "host_seen_cards", "purse_factor", _SEEN_SCHEMA, "card_number, '', seen_at")
            _allow_records(conn)
            for statement in _STATEMENTS:
                conn.execute(statement)

    def pending(self, limit: int = 200) -> list[OutboxRow]:
        """The oldest rows not parked, in the order they were written."""
        rows = self._db.query(
            "SELECT seq, kind, item_key, payload FROM host_outbox WHERE parked = '' ORDER BY seq LIMIT ?", (limit,)
        )
        return [OutboxRow(int(r["seq"]), str(r["kind"]), str(r["item_key"]),
                          json.loads(r["payload"]) if r["payload"] else {}) for r in rows]  # fmt: skip

    def done(self, seqs: Iterable[int]) -> None:
        """The host answered for these rows: delete them."""
        seqs = list(seqs)
        if seqs:
            with self._db.transaction(durable=False) as conn:
                conn.executemany("DELETE FROM host_outbox WHERE seq = ?", [(s,) for s in seqs])

    def park(self, seq: int, reason: str) -> None:
        """Keep the row but skip it from now on (the host refused it as malformed)."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE host_outbox SET parked = ? WHERE seq = ?", (reason[:500] or "refused", seq))

    def counts(self) -> tuple[int, int]:
        """``(waiting, parked)``."""
        rows = self._db.query(
            "SELECT COALESCE(SUM(parked = ''), 0) AS waiting, COALESCE(SUM(parked <> ''), 0) AS parked FROM host_outbox"
        )
        return int(rows[0]["waiting"]), int(rows[0]["parked"])

    def record_written(self, key: str, payload: Mapping[str, Any]) -> bool:
        """Enqueue a visit record written onto a card (``key``: the same write is enqueued once); True when new."""
        with self._db.transaction() as conn:
            added = conn.execute(
                "INSERT OR IGNORE INTO host_outbox (kind, item_key, payload, created_at) VALUES ('record', ?, ?, ?)",
                (key, json.dumps(dict(payload), ensure_ascii=False), _now()),
            ).rowcount
        return bool(added)

    def card_seen_before(self, card_number: str, purse_factor: str = "") -> bool:
        """Whether the physical card's registration (any card of the KH without a factor) was enqueued already."""
        return bool(self._db.query(
            "SELECT 1 FROM host_seen_cards WHERE card_number = ? AND (? = '' OR purse_factor = ?)",
            (card_number, purse_factor, purse_factor),
        ))  # fmt: skip

    def card_seen(self, card_number: str, purse_factor: str, registration: Mapping[str, Any]) -> bool:
        """Enqueue the registration of a physical card seen for the first time; False when it was seen before."""
        with self._db.transaction() as conn:
            added = conn.execute(
                "INSERT OR IGNORE INTO host_seen_cards (card_number, purse_factor, seen_at) VALUES (?, ?, ?)",
                (card_number, purse_factor, _now()),
            ).rowcount
            if added:
                conn.execute(
                    "INSERT OR IGNORE INTO host_outbox (kind, item_key, payload, created_at)"
                    " VALUES ('register', ?, ?, ?)",
                    (f"register:{card_number}:{purse_factor}", json.dumps(dict(registration), ensure_ascii=False),
                     _now()),
                )  # fmt: skip
        return bool(added)
