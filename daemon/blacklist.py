"""The daemon's copy of the host's blacklist, and the guard that refuses listed cards (issue #12; docs/host.md).

The copy lives in the daemon's SQLite database (table ``host_blacklist`` and the version in ``meta``), so it
survives restarts and works while the host is unreachable. It lists physical cards — card number (KH) and purse
factor — so a holder's replacement card (same KH) is not refused for the old one. :class:`daemon.hostlink.HostLink`
keeps it current from the host's ``WatchBlacklist`` stream. Lookups are answered from memory (a set loaded at
start and updated with every change), so the check before each Debit/Load costs no database read.

:class:`GuardedBackend` wraps a reader backend: Debit, Load and Unload on a listed card fail with ``CARD_LISTED``
before any purse APDU is sent, so the journal voids the request (the card was not changed) and a repeat of the
request id answers the same failure.
"""

from __future__ import annotations

import datetime as _dt
import functools
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from apdu.errors import CardError
from daemon.backend import CardOps, Completed, Prepared, ReaderBackend, TxHooks
from daemon.database import Database, rekey_table
from daemon.errors import DaemonError, R
from daemon.journal import Kind
from healthcard.api import CardData, LoadRequest, Section, UnloadAuthorisation

UnloadAuthoriser = Callable[[LoadRequest], UnloadAuthorisation]

__all__ = ["CardListedError", "GuardedBackend", "ListChange", "LocalBlacklist"]

_VERSION_KEY = "host_blacklist_version"
#: A physical card is its card number (KH) and purse factor (docs/host.md, "A card's identity"). ``purse_factor``
#: ``''`` marks a row copied from a list that knew only the KH (before that change): it refuses every card of the
#: KH until the re-sync from version 0 that the migration starts delivers the KH's rows with factors.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_blacklist (
    card_number  TEXT NOT NULL,
    purse_factor TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    changed_at   TEXT NOT NULL,
    PRIMARY KEY (card_number, purse_factor)
)
"""
#: ``chip_no``: the chip's cardNo from the ATR — readable while the purse is blocked, so the daemon can tell which
#: of a holder's cards is in the reader and find the factor it kept (the unblock's MAC is keyed with it).
_BLOCKED_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_blocked_purses (
    card_number  TEXT NOT NULL,
    chip_no      TEXT NOT NULL DEFAULT '',
    purse_factor TEXT NOT NULL,
    blocked_at   TEXT NOT NULL,
    PRIMARY KEY (card_number, chip_no)
)
"""


def _migrate(conn: sqlite3.Connection) -> None:
    """Re-key the KH-only tables of a daemon from before the host keyed cards by KH + purse factor.

    ``host_blacklist``: the rows are kept with factor ``''`` (every card of the KH stays refused, offline too) and
    the version goes back to 0, so the follower re-syncs the whole list with factors; each change it applies for a
    KH replaces that KH's old row. ``host_blocked_purses``: the kept factor becomes the chip number too (the cards
    this project issues have EF15's factor = the chip's cardNo, ``healthcard.issuance``).
    """
    if rekey_table(conn, "host_blacklist", "purse_factor", _SCHEMA,
                   "card_number, '', status, version, changed_at"):  # fmt: skip
        conn.execute("DELETE FROM meta WHERE key = ?", (_VERSION_KEY,))
    rekey_table(conn, "host_blocked_purses", "chip_no", _BLOCKED_SCHEMA,
                "card_number, purse_factor, purse_factor, blocked_at")  # fmt: skip


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
    purse_factor: str = ""


class LocalBlacklist:
    """The listed physical cards (KH, purse factor), persisted in the daemon's database and mirrored in memory."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        with db.transaction(durable=False) as conn:
            _migrate(conn)
            conn.execute(_SCHEMA)
            conn.execute(_BLOCKED_SCHEMA)
        self._listed = {
            (str(r["card_number"]), str(r["purse_factor"])): str(r["status"])
            for r in db.query("SELECT * FROM host_blacklist")
        }
        rows = db.query("SELECT value FROM meta WHERE key = ?", (_VERSION_KEY,))
        self._version = int(rows[0]["value"]) if rows else 0

    @property
    def version(self) -> int:
        """The last host version applied (0: none yet)."""
        with self._lock:
            return self._version

    def status(self, card_number: str, purse_factor: str = "") -> str | None:
        """The host status (LOST, REPLACED, CANCELLED) of the listed card, ``None`` when it is not listed.

        The card is KH + ``purse_factor``; a KH-only row (module docstring) matches every factor. Without a factor:
        whether any card of the KH is listed.
        """
        factor = purse_factor.upper()
        with self._lock:
            if factor:
                return self._listed.get((card_number, factor)) or self._listed.get((card_number, ""))
            return next((st for (kh, _), st in self._listed.items() if kh == card_number), None)

    def listed(self) -> Mapping[tuple[str, str], str]:
        """A snapshot: (card number, purse factor) -> status."""
        with self._lock:
            return dict(self._listed)

    def apply(self, changes: Iterable[ListChange]) -> int:
        """Apply changes in version order in one commit (older versions than the copy's are skipped)."""
        with self._lock, self._db.transaction(durable=False) as conn:
            version = self._version
            updates: dict[tuple[str, str], str | None] = {}
            for change in changes:
                if change.version <= version:
                    continue
                key = (change.card_number, change.purse_factor.upper())
                if key[1]:  # the host names the physical card now: the KH-only row of a migrated copy goes
                    conn.execute("DELETE FROM host_blacklist WHERE card_number = ? AND purse_factor = ''", (key[0],))
                    updates[(key[0], "")] = None
                if change.listed:
                    conn.execute(
                        "INSERT INTO host_blacklist (card_number, purse_factor, status, version, changed_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (card_number, purse_factor) DO UPDATE SET"
                        " status = excluded.status, version = excluded.version, changed_at = excluded.changed_at",
                        (*key, change.status, change.version, change.changed_at),
                    )
                    updates[key] = change.status
                else:
                    conn.execute("DELETE FROM host_blacklist WHERE card_number = ? AND purse_factor = ?", key)
                    updates[key] = None
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

    def blocked_factor(self, card_number: str, chip_no: str = "") -> str | None:
        """The purse factor kept when this daemon blocked the purse of the chip (any chip of the KH without
        ``chip_no``); ``None`` when it did not."""
        rows = self._db.query(
            "SELECT purse_factor FROM host_blocked_purses WHERE card_number = ? AND (? = '' OR chip_no = ?)",
            (card_number, chip_no, chip_no),
        )
        return str(rows[0]["purse_factor"]) if rows else None

    def record_block(self, card_number: str, chip_no: str, purse_factor: str) -> None:
        """Keep the factor before APPLICATION BLOCK: the unblock's MAC needs it and a blocked purse cannot say it."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO host_blocked_purses (card_number, chip_no, purse_factor, blocked_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (card_number, chip_no) DO UPDATE SET purse_factor = excluded.purse_factor",
                (card_number, chip_no, purse_factor, _dt.datetime.now(_dt.UTC).isoformat()),
            )

    def forget_block(self, card_number: str, chip_no: str = "") -> None:
        """The purse of the chip (every chip of the KH without ``chip_no``) was unblocked (APPLICATION UNBLOCK)."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM host_blocked_purses WHERE card_number = ? AND (? = '' OR chip_no = ?)",
                (card_number, chip_no, chip_no),
            )

    def check(self, card_number: str, purse_factor: str) -> None:
        """Raise :class:`CardListedError` when the physical card (KH + purse factor) is listed."""
        status = self.status(card_number, purse_factor) if purse_factor else self._listed_kh_only(card_number)
        if status is not None:
            word = {"LOST": "reported lost (挂失)", "REPLACED": "replaced (已补卡)", "CANCELLED": "cancelled (已注销)"}
            raise CardListedError(
                f"card {card_number} is on the host's blacklist: {word.get(status, status)}; no debit, load or unload"
            )

    def _listed_kh_only(self, card_number: str) -> str | None:
        """A card whose purse factor cannot be read: refused when any card of its KH is listed (its purse is
        blocked or unreadable anyway; nothing better to go by)."""
        return self.status(card_number)


class HostAuthoriser(Protocol):
    """The host's load authoriser (:meth:`daemon.hostlink.HostLink.authorise_load`): MAC2 for the physical card."""

    def __call__(self, request: LoadRequest, *, purse_factor: str = "") -> bytes:
        """MAC2 for ``request`` on the card with this purse factor."""
        ...


#: Called after IssueCard personalised a card, with the card (in its session) and the holder's data written.
IssuedHook = Callable[[CardOps, Mapping[str, object]], None]
#: Called when a visit record is on the card after AddRecord: the card, kind, items and slot.
RecordHook = Callable[[CardOps, str, Mapping[int, str], int], None]


class GuardedCardOps:
    """A :class:`CardOps` that refuses Debit, Load and Unload on a listed card before touching it.

    ``authoriser`` / ``unload_authoriser``: the load and unload authorisers to use (the hospital host's,
    :meth:`daemon.hostlink.HostLink.authorise_load` / ``authorise_unload``)
    instead of the session's SAM.
    """

    def __init__(
        self,
        inner: CardOps,
        blacklist: LocalBlacklist,
        authoriser: HostAuthoriser | None = None,
        on_issued: IssuedHook | None = None,
        on_record: RecordHook | None = None,
        unload_authoriser: UnloadAuthoriser | None = None,
    ) -> None:
        self._inner = inner
        self._blacklist = blacklist
        self._authoriser = authoriser
        self._on_issued = on_issued
        self._on_record = on_record
        self._unload_authoriser = unload_authoriser

    @property
    def card_number(self) -> str:
        return self._inner.card_number

    def read(self, sections: Collection[Section] | None) -> CardData:
        return self._inner.read(sections)

    def balance(self) -> int:
        return self._inner.balance()

    def _factor(self) -> str:
        """The card's purse factor ("" when the purse cannot be read: blocked)."""
        try:
            return self._inner.purse_factor()
        except CardError:
            return ""

    def debit(self, amount_fen: int, hooks: TxHooks) -> Completed:
        self._blacklist.check(self._inner.card_number, self._factor())
        return self._inner.debit(amount_fen, hooks)

    def load(
        self, amount_fen: int, hooks: TxHooks, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> Completed:
        factor = self._factor()
        self._blacklist.check(self._inner.card_number, factor)
        if authoriser is None and self._authoriser is not None:  # the host's: it is told which physical card
            authoriser = functools.partial(self._authoriser, purse_factor=factor)
        return self._inner.load(amount_fen, hooks, authoriser=authoriser)

    def unload(self, amount_fen: int, hooks: TxHooks, authoriser: UnloadAuthoriser | None = None) -> Completed:
        self._blacklist.check(self._inner.card_number, self._factor())
        return self._inner.unload(  # type: ignore[call-arg]  # ApiCardOps.unload takes the authoriser
            amount_fen, hooks, authoriser=authoriser or self._unload_authoriser
        )

    def recover(self, kind: Kind, prepared: Prepared) -> Completed | None:
        return self._inner.recover(kind, prepared)  # finishing an earlier transaction is always allowed

    def write(self, sections: Mapping[str, object], clear: Collection[str] = ()) -> tuple[Section, ...]:
        return self._inner.write(sections, clear)

    def issue(self, card_number: str, holder: Mapping[str, object]) -> str:
        issued = self._inner.issue(card_number, holder)
        if self._on_issued is not None:  # the host keeps the holder's data for 补卡 (daemon/hostlink.py)
            self._on_issued(self, holder)
        return issued

    def add_record(self, kind: str, items: Mapping[int, str]) -> int:
        return self._inner.add_record(kind, items)

    def record_signature(self, kind: str, slot: int) -> tuple[bytes, bytes]:
        return self._inner.record_signature(kind, slot)

    def record_written(self, kind: str, items: Mapping[int, str], slot: int) -> None:
        """The record is on the card (written now or by an earlier attempt): the host gets a copy (补卡)."""
        if self._on_record is not None:
            self._on_record(self, kind, items, slot)

    def purse_factor(self) -> str:
        return self._inner.purse_factor()

    def chip_number(self) -> str:
        return self._inner.chip_number()

    def block_purse(self) -> None:
        self._inner.block_purse()  # blocking and unblocking a listed card is what the list is for

    def unblock_purse(self, purse_factor: str) -> None:
        self._inner.unblock_purse(purse_factor)


class GuardedBackend:
    """A :class:`ReaderBackend` whose sessions are :class:`GuardedCardOps`; everything else is the inner one's."""

    def __init__(
        self,
        inner: ReaderBackend,
        blacklist: LocalBlacklist,
        authoriser: HostAuthoriser | None = None,
        on_issued: IssuedHook | None = None,
        on_record: RecordHook | None = None,
        unload_authoriser: UnloadAuthoriser | None = None,
    ) -> None:
        self.inner = inner
        self._blacklist = blacklist
        self._authoriser = authoriser
        self._on_issued = on_issued
        self._on_record = on_record
        self._unload_authoriser = unload_authoriser

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
            yield GuardedCardOps(
                card, self._blacklist, self._authoriser, self._on_issued, self._on_record, self._unload_authoriser
            )

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # simulated readers' remove_card / insert_card (tests, demo)
        return getattr(self.inner, name)
