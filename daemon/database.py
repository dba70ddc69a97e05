"""The daemon's embedded SQLite database: the transaction journal and the audit trail in one file.

WAL mode (SQLite documentation, "Write-Ahead Logging" and "PRAGMA synchronous"). Two kinds of commit:

* ``durable=True`` — ``synchronous=FULL``: the WAL is fsynced before the commit returns, so the row survives a
  power cut. The journal uses it for the rows that protect money: ``prepared`` (before the APDU that changes the
  card), ``debited`` (the card's TAC, before the reply) and voiding a ``prepared`` entry.
* ``durable=False`` — ``synchronous=NORMAL``: written to the WAL (survives a crash or SIGKILL of the daemon) and
  fsynced by the next durable commit or checkpoint. The WAL is sequential, so a durable commit also makes every
  earlier commit durable: the ``intent`` row is on disk no later than the ``prepared`` row that follows it.

Writes go through one connection shared by the daemon's threads behind a lock (SQLite connections are not safe
to use from two threads at once). Reads (:meth:`Database.query`) use connections of their own, opened read-only
with ``query_only``, one per reading thread at a time from a small pool: in WAL mode a reader sees the last
commit and neither waits for the writer nor holds it up ("Write-Ahead Logging" §2.2 "Concurrency"), so an
operator's listing or report never sits between a Debit and its journal commit. An in-memory database has no
second connection and reads through the writer's.

Pages are 1 KiB in a new database, and every index is one more page per commit: the journal keeps only the
indexes its queries need.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apdu.errors import HealthCardError, Layer

__all__ = ["SCHEMA_VERSION", "Database", "StorageFullError", "is_storage_full", "rekey_table"]

SCHEMA_VERSION = 2  # 2: the journal's kind allows 'unload' (圈提, issue #12); _allow_unload migrates a version 1

#: The journal table (``{table}``: also built under another name by the migration to version 2).
_TRANSACTIONS = """
CREATE TABLE IF NOT EXISTS {table} (
    transaction_id     TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('debit', 'load', 'unload')),
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
    purse_factor       TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    seq                INTEGER NOT NULL
);
"""
_COLUMNS = (
    "transaction_id, request_id, kind, state, reader, card_number, amount_fen, balance_before_fen, balance_after_fen,"
    " card_counter, terminal_id, terminal_serial, tac, mac2, transaction_time, business_date, merchant_id, order_id,"
    " operator_id, client, void_reason, settlement_note, purse_factor, created_at, updated_at, seq"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{transactions}
DROP INDEX IF EXISTS transactions_open;
-- Every filter of ListTransactions and the reconciliation report has an index that ends with the listing's
-- key, so a page is a seek plus its rows (daemon/paging.py; tests/daemon/test_queries.py checks the plans).
DROP INDEX IF EXISTS transactions_card;
DROP INDEX IF EXISTS transactions_day;
-- Open entries only (small): the check before every card operation, recovery at start-up and insertion, and the
-- listing of an open state. It replaces transactions_open (state): one index less to write in every commit.
CREATE INDEX IF NOT EXISTS transactions_open_card ON transactions (card_number, seq)
    WHERE state IN ('intent', 'prepared', 'debited');
-- MAX(seq) for the next entry.
CREATE INDEX IF NOT EXISTS transactions_seq ON transactions (seq);
-- Newest first, optionally in a time window (created_at never changes after the insert).
CREATE INDEX IF NOT EXISTS transactions_created ON transactions (created_at, seq);
-- One card's entries, newest first.
CREATE INDEX IF NOT EXISTS transactions_card_created ON transactions (card_number, created_at, seq);
-- The final states, written once per entry (the open states are served by transactions_open_card).
CREATE INDEX IF NOT EXISTS transactions_confirmed ON transactions (created_at, seq) WHERE state = 'confirmed';
CREATE INDEX IF NOT EXISTS transactions_voided ON transactions (created_at, seq) WHERE state = 'voided';
-- The reconciliation report: a day's confirmed entries in report order (terminal, kind, serial); with the amount
-- and the state it also covers the totals (COUNT, SUM), which then never read the table.
CREATE INDEX IF NOT EXISTS transactions_report
    ON transactions (business_date, terminal_id, kind, terminal_serial, seq, amount_fen, state)
    WHERE state = 'confirmed';
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
-- Request ids whose records were pruned after the retention age (daemon/retention.py): never done again.
CREATE TABLE IF NOT EXISTS expired_requests (
    id_hash   BLOB PRIMARY KEY,
    pruned_on TEXT NOT NULL
) WITHOUT ROWID;
-- IssueCard / WriteCard / AddRecord by request id (daemon/idempotency.py); created at start-up in older databases.
CREATE TABLE IF NOT EXISTS requests (
    request_id  TEXT PRIMARY KEY,
    operation   TEXT NOT NULL,
    reader      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('started', 'done')),
    card_number TEXT NOT NULL DEFAULT '',
    response    BLOB,
    operator_id TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
"""


_SQLITE_FULL = 13  # SQLITE_FULL, "database or disk is full" (SQLite result codes)


class StorageFullError(HealthCardError):
    """The disk (or the database's size limit) is full: the commit was rolled back, nothing was recorded.

    The daemon answers RESOURCE_EXHAUSTED with reason STORAGE_FULL (issue #11 item 8). A journal step that
    cannot be recorded stops the transaction before the next APDU: ``intent`` and ``prepared`` are written before
    the card is touched, so a full disk there leaves the card unchanged.
    """

    def __init__(self, message: str = "the journal's disk is full: nothing was recorded; free space and retry"):
        super().__init__(message, layer=Layer.LIBRARY)


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's SQLITE_FULL ("database or disk is full")."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code == _SQLITE_FULL or (code is None and "database or disk is full" in str(exc))


def rekey_table(conn: sqlite3.Connection, table: str, column: str, create: str, select: str) -> bool:
    """Rebuild ``table`` with the ``create`` DDL when it exists without ``column`` (a key column SQLite cannot add
    in place); its rows are copied as ``select`` (columns of the old table, in the new table's order). True when
    it rebuilt. Runs in the caller's transaction."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not columns or column in columns:
        return False
    conn.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    conn.execute(create)
    conn.execute(f"INSERT INTO {table} SELECT {select} FROM {table}_old")  # noqa: S608 - constants of the caller
    conn.execute(f"DROP TABLE {table}_old")
    return True


def _private_files(path: Path) -> None:
    """The state directory 0700 and the database file 0600 before SQLite opens it, whatever the umask.

    SQLite creates the ``-wal`` and ``-shm`` files with the permissions of the database file (os_unix.c,
    ``findCreateFileMode``), so they are 0600 too; existing ones from an older daemon are fixed here.
    """
    from apdu.files import open_private, private_dir  # noqa: PLC0415

    private_dir(path.parent)
    os.close(open_private(path, os.O_RDWR))
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.chmod(0o600)


class Database:
    """An open SQLite database file (created with the schema on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _private_files(Path(self.path))
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._readers: list[sqlite3.Connection] = []  # idle read connections
        self._readers_lock = threading.Lock()
        self._closed = False
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
            schema = _SCHEMA.replace("{transactions}", _TRANSACTIONS.replace("{table}", "transactions"))
            self._conn.executescript(schema)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(transactions)")}
            if "settlement_note" not in columns:  # a database from before SettleTransaction
                self._conn.execute("ALTER TABLE transactions ADD COLUMN settlement_note TEXT NOT NULL DEFAULT ''")
            if "purse_factor" not in columns:  # a database from before the host keyed cards by KH + purse factor
                self._conn.execute("ALTER TABLE transactions ADD COLUMN purse_factor TEXT NOT NULL DEFAULT ''")
            if "operator_id" not in {row[1] for row in self._conn.execute("PRAGMA table_info(requests)")}:
                # a database from before a repeated request id was bound to its operator (harden2 item 1)
                self._conn.execute("ALTER TABLE requests ADD COLUMN operator_id TEXT NOT NULL DEFAULT ''")
            if self._allow_unload():
                self._conn.executescript(schema)  # the indexes of the rebuilt table
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def _allow_unload(self) -> bool:
        """Migrate a version-1 journal, whose ``kind`` allows only debit and load, to version 2 (also 'unload').

        SQLite cannot change a CHECK constraint in place: the table is rebuilt in one transaction (SQLite
        documentation, "ALTER TABLE", "Making Other Kinds Of Table Schema Changes") — new table, every row copied,
        old table dropped with its indexes and triggers, new one renamed. The caller recreates the indexes; the
        outbox recreates its triggers when it opens (:mod:`daemon.outbox`). True when it migrated.
        """
        row = self._conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transactions'")
        sql = row.fetchone()[0]
        if "'unload'" in sql:
            return False
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(_TRANSACTIONS.replace("{table}", "transactions_v2"))
            self._conn.execute(
                f"INSERT INTO transactions_v2 ({_COLUMNS}) SELECT {_COLUMNS} FROM transactions"  # noqa: S608
            )
            self._conn.execute("DROP TABLE transactions")
            self._conn.execute("ALTER TABLE transactions_v2 RENAME TO transactions")
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return True

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
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:  # SQLite may have rolled back by itself (e.g. SQLITE_FULL)
                    self._conn.execute("ROLLBACK")
                if is_storage_full(exc):
                    raise StorageFullError() from exc
                raise

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Run a read-only query on a read connection (module docstring) and return every row."""
        with self.reading() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for this thread until the block ends (the writer's, for ``:memory:``).

        Each statement reads the last commit; several statements in one block see one snapshot only inside an
        explicit ``BEGIN`` ... ``COMMIT``.
        """
        if self.path == ":memory:":
            with self._lock:
                yield self._conn
            return
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = self._open_reader()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            with self._readers_lock:
                if self._closed:
                    conn.close()
                else:
                    self._readers.append(conn)

    def _open_reader(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(Path(self.path).resolve())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only=ON")
        return conn

    def synchronous(self) -> int:
        """The ``PRAGMA synchronous`` level in effect now on the writer's connection (1 NORMAL, 2 FULL)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA synchronous").fetchone()[0])

    def journal_mode(self) -> str:
        """The journal mode in effect (``"wal"``)."""
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        """Close the connections (the writer's last, checkpointing the WAL)."""
        with self._readers_lock:
            self._closed = True
            idle, self._readers = self._readers, []
        for conn in idle:
            conn.close()
        with self._lock:
            self._conn.close()
