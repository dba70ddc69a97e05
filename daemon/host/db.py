"""The host's ledger database: one schema, two backends — SQLite (embedded default) and PostgreSQL (psycopg 3).

Every query of the host is written once, in the SQL both engines accept, with ``?`` placeholders; the few
differences live here and only here (:class:`Dialect`):

* placeholders: ``?`` (sqlite3) vs ``%s`` (psycopg) — rewritten by :meth:`Dialect.sql` (so the host's SQL has
  no ``?`` or ``%`` of its own: no LIKE patterns, no literal question marks);
* an auto-numbered key: ``INTEGER PRIMARY KEY AUTOINCREMENT`` vs ``BIGINT GENERATED ALWAYS AS IDENTITY`` (the
  ``{id}`` marker of the schema);
* row locks: ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time (``BEGIN IMMEDIATE``) and no
  ``FOR UPDATE`` (the ``{for_update}`` marker);
* ordering of the blacklist versions: a PostgreSQL transaction that changes the list first takes a transaction
  advisory lock, so list versions become visible in the order they are numbered (a watcher reading "after
  version N" can never miss a smaller version committed later); SQLite writers are serialised anyway.

Why these libraries (docs/host.md): psycopg 3 is PostgreSQL's maintained Python driver (binary wheels, server-side
prepared statements, a connection pool in ``psycopg_pool``); sqlite3 ships with Python. SQLAlchemy Core would
add a dependency and a layer for the handful of statements above, so the host does without it.

A URL chooses the backend: ``postgresql://user@host:5432/db`` (or ``postgres://``) for PostgreSQL, anything
else is a SQLite file path (``sqlite:///abs/path.db`` or a plain path).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from apdu.errors import DataError

__all__ = ["Cursor", "Dialect", "LedgerDb", "Row", "open_ledger"]

Row = Mapping[str, Any]

_LIST_LOCK_KEY = 0x4843_4C53  # "HCLS": the advisory lock key of blacklist changes (PostgreSQL)


class Cursor(Protocol):
    """What a transaction body gets: run one statement, read its rows."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run ``sql`` (``?`` placeholders); the rows it returns (empty for statements without rows)."""
        ...

    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        ...


class Dialect:
    """The SQL differences between the two engines (module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.postgres = name == "postgresql"

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders and the ``{for_update}`` marker in this engine's form."""
        text = text.replace("{for_update}", " FOR UPDATE" if self.postgres else "")
        return text.replace("?", "%s") if self.postgres else text

    def schema(self, text: str) -> str:
        """A DDL script with ``{id}`` (auto-numbered primary key) for this engine."""
        if self.postgres:
            return text.replace("{id}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        ident = "INTEGER PRIMARY KEY AUTOINCREMENT"
        return text.replace("{id}", ident)


class LedgerDb:
    """Base of both backends: :meth:`transaction` (a :class:`Cursor`, committed on success) and :meth:`query`."""

    dialect: Dialect
    url: str

    @contextmanager
    def transaction(self, *, lists: bool = False) -> Iterator[Cursor]:
        """One write transaction; ``lists=True`` when it changes the blacklist (module docstring)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A read-only statement outside any write transaction."""
        raise NotImplementedError

    def executescript(self, script: str) -> None:
        """Run DDL statements separated by ``;`` (the schema)."""
        with self.transaction() as cur:
            for statement in script.split(";"):
                if statement.strip():
                    cur.execute(statement)

    def close(self) -> None:
        """Release connections."""


class _SqliteCursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._count = 0

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cur = self._conn.execute(_SQLITE.sql(sql), tuple(params))
        rows = cur.fetchall()
        self._count = cur.rowcount
        return rows

    def rowcount(self) -> int:
        return self._count


_SQLITE = Dialect("sqlite")


class SqliteLedger(LedgerDb):
    """SQLite: WAL, ``synchronous=FULL`` (a recorded upload survives a power cut), one connection behind a lock."""

    def __init__(self, path: str) -> None:
        self.url = path
        self.dialect = _SQLITE
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def transaction(self, *, lists: bool = False) -> Iterator[Cursor]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            return list(self._conn.execute(_SQLITE.sql(sql), tuple(params)))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _rows(cur: Any) -> list[Row]:
    """The rows of a psycopg cursor (dicts: the pool's ``row_factory``), none for a statement without rows."""
    return list(cur.fetchall()) if cur.description is not None else []


class _PgCursor:
    def __init__(self, cur: Any, dialect: Dialect) -> None:
        self._cur = cur
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self._cur.execute(self._dialect.sql(sql), tuple(params))
        return _rows(self._cur)

    def rowcount(self) -> int:
        return int(self._cur.rowcount)


class PostgresLedger(LedgerDb):
    """PostgreSQL through a psycopg 3 connection pool (READ COMMITTED, row locks where the host needs them)."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        try:
            from psycopg.rows import dict_row  # noqa: PLC0415 - the optional [host] extra
            from psycopg_pool import ConnectionPool  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - depends on the installation
            message = "PostgreSQL needs the host extra: pip install 'healthcard[host]'"
            raise DataError(message, field="database") from exc
        self.url = url
        self.dialect = Dialect("postgresql")
        # check: a pooled connection is tested (an empty query) before it is lent, so connections the server
        # dropped — a restart, a failover to the standby behind the same address — are replaced, not handed to an
        # RPC (docs/host.md "Deployment", failover).
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"row_factory": dict_row, "autocommit": True}, open=False,
            check=ConnectionPool.check_connection,
        )  # fmt: skip
        self._pool.open(wait=True, timeout=30)

    @contextmanager
    def transaction(self, *, lists: bool = False) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if lists:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LIST_LOCK_KEY,))
            yield _PgCursor(cur, self.dialect)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(self.dialect.sql(sql), tuple(params))
            return _rows(cur)

    def close(self) -> None:
        self._pool.close()


_PG = re.compile(r"^postgres(ql)?://", re.IGNORECASE)


def open_ledger(url: str) -> LedgerDb:
    """The backend for ``url`` (module docstring)."""
    if _PG.match(url):
        return PostgresLedger(url)
    return SqliteLedger(url.removeprefix("sqlite://") if url.startswith("sqlite://") else url)
