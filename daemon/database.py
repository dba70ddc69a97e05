"""The daemon's embedded SQLite database: the transaction journal and the audit trail in one file.

WAL mode (SQLite documentation, "Write-Ahead Logging" and "PRAGMA synchronous"). Two kinds of commit:

* ``durable=True`` — ``synchronous=FULL``: the WAL is fsynced before the commit returns, so the row survives a
  power cut. The journal uses it for the rows that protect money: ``prepared`` (before the APDU that changes the
  card), ``debited`` (the card's TAC, before the reply) and voiding a ``prepared`` entry.
* ``durable=False`` — ``synchronous=NORMAL``: written to the WAL (survives a crash or SIGKILL of the daemon) and
  fsynced by the next durable commit or checkpoint. The WAL is sequential, so a durable commit also makes every
  earlier commit durable: the ``intent`` row is on disk no later than the ``prepared`` row that follows it.

One connection shared by the daemon's threads behind a lock (SQLite connections are not safe to use from two
threads at once). Pages are 1 KiB in a new database, and every index is one more page per commit: the journal
keeps only the indexes its queries need.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "Database"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id     TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('debit', 'load')),
    state              TEXT NOT NULL CHECK (state IN ('intent', 'prepared', 'debited', 'confirmed', 'voided')),
    reader             TEXT NOT NULL,
    card_number        TEXT NOT NULL DEFAULT '',
    amount_fen         INTEGER NOT NULL CHECK (amount_fen > 0),
    balance_before_fen INTEGER,
    balance_after_fen  INTEGER,
    card_counter       INTEGER,
    terminal_id        TEXT NOT NULL DEFAULT '',
    terminal_serial    INTEGER,
    tac                TEXT NOT NULL DEFAULT '',
    mac2               TEXT NOT NULL DEFAULT '',
    transaction_time   TEXT NOT NULL DEFAULT '',
    business_date      TEXT NOT NULL DEFAULT '',
    merchant_id        TEXT NOT NULL DEFAULT '',
    order_id           TEXT NOT NULL DEFAULT '',
    operator_id        TEXT NOT NULL DEFAULT '',
    client             TEXT NOT NULL DEFAULT '',
    void_reason        TEXT NOT NULL DEFAULT '',
    settlement_note    TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    seq                INTEGER NOT NULL
);
DROP INDEX IF EXISTS transactions_open;
CREATE INDEX IF NOT EXISTS transactions_card ON transactions (card_number);
-- Open entries only (small): the check before every card operation, recovery at start-up and insertion. It
-- replaces transactions_open (state): one index less to write in every journal commit.
CREATE INDEX IF NOT EXISTS transactions_open_card ON transactions (card_number, seq)
    WHERE state IN ('intent', 'prepared', 'debited');
CREATE INDEX IF NOT EXISTS transactions_day ON transactions (business_date, terminal_id);
CREATE INDEX IF NOT EXISTS transactions_seq ON transactions (seq);
CREATE TABLE IF NOT EXISTS audit (
    event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    event_time  TEXT NOT NULL,
    client      TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    reader      TEXT NOT NULL,
    card_number TEXT NOT NULL,
    operation   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (event_time);
"""


class Database:
    """An open SQLite database file (created with the schema on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            # A new database gets 1 KiB pages: a journal commit writes whole pages of the table and each index it
            # touches to the WAL, so small pages mean fewer bytes to fsync (~0.3 ms less per debit on the ext4
            # disk of docs/performance.md). An existing database keeps its page size.
            self._conn.execute("PRAGMA page_size=1024")
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Checkpoint (copy the WAL into the database file, with an fsync of it) every 4 MB of WAL as with the
            # default 1000 pages of 4 KiB: with 1 KiB pages the default would checkpoint four times as often, in
            # the request path of whichever commit crosses the limit.
            self._conn.execute("PRAGMA wal_autocheckpoint=4000")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._sync = "NORMAL"
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(transactions)")}
            if "settlement_note" not in columns:  # a database from before SettleTransaction
                self._conn.execute("ALTER TABLE transactions ADD COLUMN settlement_note TEXT NOT NULL DEFAULT ''")
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success and rolled back on error.

        ``durable``: fsync the WAL at commit (``synchronous=FULL``); otherwise ``NORMAL`` (module docstring).
        """
        with self._lock:
            wanted = "FULL" if durable else "NORMAL"
            if wanted != self._sync:  # may only change outside a transaction
                self._conn.execute(f"PRAGMA synchronous={wanted}")
                self._sync = wanted
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return every row."""
        with self._lock:
            return list(self._conn.execute(sql, params))

    def synchronous(self) -> int:
        """The ``PRAGMA synchronous`` level in effect now (1 NORMAL, 2 FULL)."""
        return int(self.query("PRAGMA synchronous")[0][0])

    def journal_mode(self) -> str:
        """The journal mode in effect (``"wal"``)."""
        return str(self.query("PRAGMA journal_mode")[0][0])

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()
