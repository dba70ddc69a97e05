"""The daemon's copy of the host's blacklist, and the guard that refuses listed cards (issue #12; docs/host.md).

The copy lives in the daemon's SQLite database (table ``host_blacklist`` and the version in ``meta``), so it
survives restarts and works while the host is unreachable; :class:`daemon.hostlink.HostLink` keeps it current
from the host's ``WatchBlacklist`` stream. Lookups are answered from memory (a set loaded at start and updated
with every change), so the check before each Debit/Load costs no database read.

:class:`GuardedBackend` wraps a reader backend: Debit and Load on a listed card fail with ``CARD_LISTED``
before any purse APDU is sent, so the journal voids the request (the card was not changed) and a repeat of the
request id answers the same failure.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from daemon.backend import CardOps, Completed, Prepared, ReaderBackend, TxHooks
from daemon.database import Database
from daemon.errors import DaemonError, R
from daemon.journal import Kind
from healthcard.api import CardData, LoadRequest, Section

__all__ = ["CardListedError", "GuardedBackend", "ListChange", "LocalBlacklist"]

_VERSION_KEY = "host_blacklist_version"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_blacklist (
    card_number TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    changed_at  TEXT NOT NULL
)
"""
_BLOCKED_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_blocked_purses (
    card_number  TEXT PRIMARY KEY,
    purse_factor TEXT NOT NULL,
    blocked_at   TEXT NOT NULL
)
"""


class CardListedError(DaemonError):
    """The card is on the host's blacklist (挂失, replaced or cancelled): no debit or load."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_CARD_LISTED
    field = "card_number"


@dataclass(frozen=True)
class ListChange:
    """One change of the host's list (``WatchBlacklistResponse``)."""

    version: int
    card_number: str
    listed: bool
    status: str
    changed_at: str


class LocalBlacklist:
    """The listed cards, persisted in the daemon's database and mirrored in memory."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        with db.transaction(durable=False) as conn:
            conn.execute(_SCHEMA)
            conn.execute(_BLOCKED_SCHEMA)
        self._listed = {str(r["card_number"]): str(r["status"]) for r in db.query("SELECT * FROM host_blacklist")}
        rows = db.query("SELECT value FROM meta WHERE key = ?", (_VERSION_KEY,))
        self._version = int(rows[0]["value"]) if rows else 0

    @property
    def version(self) -> int:
        """The last host version applied (0: none yet)."""
        with self._lock:
            return self._version

    def status(self, card_number: str) -> str | None:
        """The host status of a listed card (LOST, REPLACED, CANCELLED), ``None`` when not listed."""
        with self._lock:
            return self._listed.get(card_number)

    def listed(self) -> Mapping[str, str]:
        """A snapshot: card number -> status."""
        with self._lock:
            return dict(self._listed)

    def apply(self, changes: Iterable[ListChange]) -> int:
        """Apply changes in version order in one commit (older versions than the copy's are skipped)."""
        with self._lock, self._db.transaction(durable=False) as conn:
            version = self._version
            updates: dict[str, str | None] = {}
            for change in changes:
                if change.version <= version:
                    continue
                if change.listed:
                    conn.execute(
                        "INSERT INTO host_blacklist (card_number, status, version, changed_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (card_number) DO UPDATE SET status = excluded.status,"
                        " version = excluded.version, changed_at = excluded.changed_at",
                        (change.card_number, change.status, change.version, change.changed_at),
                    )
                    updates[change.card_number] = change.status
                else:
                    conn.execute("DELETE FROM host_blacklist WHERE card_number = ?", (change.card_number,))
                    updates[change.card_number] = None
                version = change.version
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_VERSION_KEY, str(version)),
            )
        # memory follows only once the commit succeeded
        for card, status in updates.items():
            if status is None:
                self._listed.pop(card, None)
            else:
                self._listed[card] = status
        self._version = version
        return version

    # --- purses this daemon blocked (APPLICATION BLOCK on insertion, daemon/hostlink.py) -----------------------

    def blocked_factor(self, card_number: str) -> str | None:
        """The purse factor kept when this daemon blocked the card's purse; ``None`` when it did not."""
        rows = self._db.query("SELECT purse_factor FROM host_blocked_purses WHERE card_number = ?", (card_number,))
        return str(rows[0]["purse_factor"]) if rows else None

    def record_block(self, card_number: str, purse_factor: str) -> None:
        """Keep the factor before APPLICATION BLOCK: the unblock's MAC needs it and a blocked purse cannot say it."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO host_blocked_purses (card_number, purse_factor, blocked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (card_number) DO UPDATE SET purse_factor = excluded.purse_factor",
                (card_number, purse_factor, _dt.datetime.now(_dt.UTC).isoformat()),
            )

    def forget_block(self, card_number: str) -> None:
        """The purse was unblocked (APPLICATION UNBLOCK)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM host_blocked_purses WHERE card_number = ?", (card_number,))

    def check(self, card_number: str) -> None:
        """Raise :class:`CardListedError` for a listed card."""
        status = self.status(card_number)
        if status is not None:
            word = {"LOST": "reported lost (挂失)", "REPLACED": "replaced (已补卡)", "CANCELLED": "cancelled (已注销)"}
            raise CardListedError(
                f"card {card_number} is on the host's blacklist: {word.get(status, status)}; no debit or load"
            )


class GuardedCardOps:
    """A :class:`CardOps` that refuses Debit and Load on a listed card before touching it.

    ``authoriser``: the load authoriser to use (the hospital host's, :meth:`daemon.hostlink.HostLink.authorise_load`)
    instead of the session's SAM.
    """

    def __init__(
        self, inner: CardOps, blacklist: LocalBlacklist, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> None:
        self._inner = inner
        self._blacklist = blacklist
        self._authoriser = authoriser

    @property
    def card_number(self) -> str:
        return self._inner.card_number

    def read(self, sections: Collection[Section] | None) -> CardData:
        return self._inner.read(sections)

    def balance(self) -> int:
        return self._inner.balance()

    def debit(self, amount_fen: int, hooks: TxHooks) -> Completed:
        self._blacklist.check(self._inner.card_number)
        return self._inner.debit(amount_fen, hooks)

    def load(
        self, amount_fen: int, hooks: TxHooks, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> Completed:
        self._blacklist.check(self._inner.card_number)
        return self._inner.load(amount_fen, hooks, authoriser=authoriser or self._authoriser)

    def recover(self, kind: Kind, prepared: Prepared) -> Completed | None:
        return self._inner.recover(kind, prepared)  # finishing an earlier transaction is always allowed

    def write(self, sections: Mapping[str, object], clear: Collection[str] = ()) -> tuple[Section, ...]:
        return self._inner.write(sections, clear)

    def issue(self, card_number: str, holder: Mapping[str, object]) -> str:
        return self._inner.issue(card_number, holder)

    def add_record(self, kind: str, items: Mapping[int, str]) -> int:
        return self._inner.add_record(kind, items)

    def purse_factor(self) -> str:
        return self._inner.purse_factor()

    def block_purse(self) -> None:
        self._inner.block_purse()  # blocking and unblocking a listed card is what the list is for

    def unblock_purse(self, purse_factor: str) -> None:
        self._inner.unblock_purse(purse_factor)


class GuardedBackend:
    """A :class:`ReaderBackend` whose sessions are :class:`GuardedCardOps`; everything else is the inner one's."""

    def __init__(
        self, inner: ReaderBackend, blacklist: LocalBlacklist, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> None:
        self.inner = inner
        self._blacklist = blacklist
        self._authoriser = authoriser

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def sam_reader(self) -> str:
        return self.inner.sam_reader

    @property
    def apdu_count(self) -> int:
        return self.inner.apdu_count

    def poll(self) -> tuple[bool, bytes]:
        return self.inner.poll()

    def poll_sam(self) -> bool:
        return self.inner.poll_sam()

    def session(self) -> AbstractContextManager[CardOps]:
        return self._guarded()

    @contextmanager
    def _guarded(self) -> Iterator[CardOps]:
        with self.inner.session() as card:
            yield GuardedCardOps(card, self._blacklist, self._authoriser)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # simulated readers' remove_card / insert_card (tests, demo)
        return getattr(self.inner, name)
