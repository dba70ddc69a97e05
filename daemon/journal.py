"""The transaction journal: every load and debit is recorded before the card is touched and after each step.

States (issue #6; JR/T 0025.1 GET TRANSACTION PROVE for the recovery read):

* ``intent``    — recorded before any APDU of the transaction; the card was not changed.
* ``prepared``  — INITIALIZE FOR PURCHASE/LOAD answered and the SAM's MAC1 is known; the next APDU changes the
  card, so from here the card may or may not have been changed.
* ``debited``   — the card answered DEBIT/CREDIT with its TAC (checked by the SAM); the card was changed.
* ``confirmed`` — final: the card was changed and the TAC is recorded.
* ``voided``    — final: the card was not changed.

``begin()`` is idempotent by ``request_id``: a repeated request returns the existing entry (and never changes
the card again); the same ``request_id`` for a different kind, reader or amount is a conflict naming what
differs (the card is compared by :mod:`daemon.transactions`, which reads it).
:meth:`Journal.open_entries` lists what start-up and the next insertion of a card must resolve.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from sqlite3 import Row

from apdu.errors import DataError
from daemon.audit import AuditRecord
from daemon.database import Database
from daemon.paging import Keyset, Page, PageTokenError, fetch_page, politely
from daemon.retention import expired_key

__all__ = [
    "LIST_KEYSET",
    "OPEN_STATES",
    "REPORT_KEYSET",
    "Entry",
    "Journal",
    "Kind",
    "ReconciliationGroup",
    "RequestIdConflictError",
    "RequestIdExpiredError",
    "State",
    "TransitionError",
]


class Kind(enum.StrEnum):
    """What a journal entry does to the purse."""

    DEBIT = "debit"
    LOAD = "load"
    UNLOAD = "unload"  # 圈提: the balance paid out on the card (JR/T 0025.1 INITIALIZE FOR UNLOAD), issue #12

    @property
    def sign(self) -> int:
        """How the entry moves the balance: −1 (debit, unload) or +1 (load)."""
        return 1 if self is Kind.LOAD else -1


class State(enum.StrEnum):
    """Where a journal entry stands (see the module docstring)."""

    INTENT = "intent"
    PREPARED = "prepared"
    DEBITED = "debited"
    CONFIRMED = "confirmed"
    VOIDED = "voided"


OPEN_STATES = frozenset({State.INTENT, State.PREPARED, State.DEBITED})

_ALLOWED: dict[State, frozenset[State]] = {
    State.INTENT: frozenset({State.PREPARED, State.VOIDED}),
    State.PREPARED: frozenset({State.DEBITED, State.VOIDED}),
    State.DEBITED: frozenset({State.CONFIRMED}),
    State.CONFIRMED: frozenset(),
    State.VOIDED: frozenset(),
}
# The states an entry may be in before moving to a state (staying in the same state is allowed too).
_SOURCES: dict[State, frozenset[State]] = {
    new: frozenset({old for old, allowed in _ALLOWED.items() if new in allowed} | {new}) for new in State
}


class RequestIdConflictError(DataError):
    """The request id was used before for another request; ``mismatch`` names what differs (e.g. ``amount_fen``)."""

    def __init__(self, message: str, *, mismatch: str) -> None:
        super().__init__(message, field="request_id")
        self.mismatch = mismatch


class RequestIdExpiredError(DataError):
    """The request id's record was pruned after the retention age (daemon/retention.py): never done again."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request_id {request_id!r} belongs to a request older than the daemon's retention age, whose record was"
            " removed: its outcome cannot be answered any more and it is not done again; nothing was done, use a"
            " new request_id",
            field="request_id",
        )


class TransitionError(DataError):
    """A state change the journal does not allow (e.g. confirming a voided entry)."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _card_answer(
    balance_after_fen: int,
    card_counter: int,
    terminal_id: str,
    terminal_serial: int,
    tac: str,
    mac2: str,
    when: _dt.datetime | None,
) -> dict[str, object]:
    """The columns the card's answer fills (:meth:`Journal.mark_debited`, :meth:`Journal.complete`); the
    transaction time and business date only when the card's time is known."""
    values: dict[str, object] = {
        "balance_after_fen": balance_after_fen,
        "card_counter": card_counter,
        "terminal_id": terminal_id,
        "terminal_serial": terminal_serial,
        "tac": tac,
        "mac2": mac2,
    }
    if when is not None:
        values["transaction_time"] = _iso(when)
        values["business_date"] = _local_date(when)
    return values


def _iso(when: _dt.datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.astimezone()  # naive = local time
    return when.astimezone(_dt.UTC).isoformat(timespec="microseconds")


def _parse(text: str) -> _dt.datetime | None:
    return _dt.datetime.fromisoformat(text) if text else None


def _local_date(when: _dt.datetime) -> str:
    aware = when.astimezone() if when.tzinfo is None else when
    return aware.astimezone().date().isoformat()


@dataclass(frozen=True)
class Entry:
    """One journal row; money in fen."""

    transaction_id: str
    request_id: str
    kind: Kind
    state: State
    reader: str
    amount_fen: int
    card_number: str = ""
    balance_before_fen: int | None = None
    balance_after_fen: int | None = None
    card_counter: int | None = None
    terminal_id: str = ""
    terminal_serial: int | None = None
    tac: str = ""
    mac2: str = ""
    transaction_time: _dt.datetime | None = None
    business_date: str = ""
    merchant_id: str = ""
    order_id: str = ""
    operator_id: str = ""
    client: str = ""
    void_reason: str = ""
    settlement_note: str = ""
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    purse_factor: str = ""

    @property
    def is_open(self) -> bool:
        """Not yet confirmed or voided."""
        return self.state in OPEN_STATES

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Entry:
        """Build from a ``transactions`` row selected as :data:`_COLUMNS` (the fields in their order).

        By position, not by name (a ``sqlite3.Row`` looks names up one by one), with the enums from dicts and the
        field list computed once instead of ``dataclasses.fields`` per row: a report converts 100,000 rows.
        """
        values = list(row[:_COUNT])
        values[_KIND_AT] = _KINDS[values[_KIND_AT]]  # type: ignore[index]
        values[_STATE_AT] = _STATES[values[_STATE_AT]]  # type: ignore[index]
        for at in _TIMES_AT:
            values[at] = _parse(values[at])  # type: ignore[arg-type]
        return cls(*values)  # type: ignore[arg-type]


_FIELDS = tuple(f.name for f in fields(Entry))
_KIND_AT, _STATE_AT = _FIELDS.index("kind"), _FIELDS.index("state")
_TIMES_AT = tuple(_FIELDS.index(name) for name in ("transaction_time", "created_at", "updated_at"))
_KINDS = {kind.value: kind for kind in Kind}
_STATES = {state.value: state for state in State}
_COUNT = len(_FIELDS)
#: The columns of an :class:`Entry`, in its field order (what :meth:`Entry.from_row` reads).
_COLUMNS = ", ".join(_FIELDS)

#: ListTransactions: newest first (``created_at`` is set once, at the insert; ``seq`` breaks ties).
LIST_KEYSET = Keyset(("created_at", "seq"), (str, int))
#: The reconciliation report's entries: terminal, kind, terminal serial (``seq`` breaks ties), ascending.
REPORT_KEYSET = Keyset(("terminal_id", "kind", "terminal_serial", "seq"), (str, str, int, int), descending=False)
_TERMINAL_REPORT_KEYSET = Keyset(("kind", "terminal_serial", "seq"), (str, int, int), descending=False)

_BY_REQUEST_ID = f"SELECT {_COLUMNS} FROM transactions WHERE request_id = ?"  # noqa: S608 - a constant
_BY_TRANSACTION_ID = f"SELECT {_COLUMNS} FROM transactions WHERE transaction_id = ?"  # noqa: S608 - a constant

# The index each listing uses (database.py); named so that a missing index is an error, never a full scan.
_STATE_INDEX = {
    State.CONFIRMED: "transactions_confirmed",
    State.VOIDED: "transactions_voided",
    **{state: "transactions_open_card" for state in OPEN_STATES},
}
_OPEN_SQL = "state IN ('intent', 'prepared', 'debited')"  # the partial index's own condition, word for word


def _list_key(row: Row) -> tuple[str, int]:
    return row["created_at"], row["seq"]


def _report_key(row: Row) -> tuple[str, str, int, int]:
    return (row["terminal_id"], *_terminal_report_key(row))


def _terminal_report_key(row: Row) -> tuple[str, int, int]:
    if row["terminal_serial"] is None:  # mark_prepared always sets it; a confirmed entry went through prepared
        raise DataError(f"journal entry {row['transaction_id']} is confirmed without a terminal serial")
    return row["kind"], row["terminal_serial"], row["seq"]


@dataclass(frozen=True)
class ReconciliationGroup:
    """Confirmed transactions of one terminal, business day and kind (end-of-day settlement)."""

    terminal_id: str
    business_date: str
    kind: Kind
    count: int
    total_fen: int
    entries: tuple[Entry, ...]


class Journal:
    """The ``transactions`` table of a :class:`~daemon.database.Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def database(self) -> Database:
        """The database holding the journal (and the audit trail and request table)."""
        return self._db

    # --- writing -------------------------------------------------------------------------------------------

    def begin(
        self,
        *,
        request_id: str,
        kind: Kind,
        reader: str,
        amount_fen: int,
        merchant_id: str = "",
        order_id: str = "",
        operator_id: str = "",
        client: str = "",
    ) -> tuple[Entry, bool]:
        """Record the intent; returns ``(entry, created)``. ``created`` is False for a repeated request id."""
        if not request_id:
            raise DataError("request_id is required", field="request_id")
        if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
            raise DataError("amount_fen must be a positive integer (fen)", field="amount_fen")
        now = _now()
        entry = Entry(
            transaction_id=uuid.uuid4().hex,
            request_id=request_id,
            kind=kind,
            state=State.INTENT,
            reader=reader,
            amount_fen=amount_fen,
            business_date=_local_date(now),
            merchant_id=merchant_id,
            order_id=order_id,
            operator_id=operator_id,
            client=client,
            created_at=now,
            updated_at=now,
        )
        # Not fsynced on its own: until the ``prepared`` row (durable, and fsyncing this one with it) the card is
        # unchanged, so an intent lost in a power cut loses nothing; a SIGKILL does not lose it (database.py).
        # One statement: the UNIQUE request_id makes a repeated request insert nothing (then it is read back).
        with self._db.transaction(durable=False) as conn:
            # ... unless a card write (daemon/idempotency.py) has the request id: one namespace for every RPC
            inserted = conn.execute(
                "INSERT INTO transactions (transaction_id, request_id, kind, state, reader, amount_fen, business_date,"
                " merchant_id, order_id, operator_id, client, created_at, updated_at, seq)"
                " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM transactions)"
                " WHERE NOT EXISTS (SELECT 1 FROM requests WHERE request_id = ?)"
                " AND NOT EXISTS (SELECT 1 FROM expired_requests WHERE id_hash = ?)"
                " ON CONFLICT (request_id) DO NOTHING",
                (
                    entry.transaction_id, request_id, kind.value, State.INTENT.value, reader, amount_fen,
                    entry.business_date, merchant_id, order_id, operator_id, client, _iso(now), _iso(now),
                    request_id, expired_key(request_id),
                ),
            ).rowcount  # fmt: skip
            if inserted:
                return entry, True
            row = conn.execute(_BY_REQUEST_ID, (request_id,)).fetchone()
            expired = row is None and conn.execute(
                "SELECT 1 FROM expired_requests WHERE id_hash = ?", (expired_key(request_id),)
            ).fetchone()  # fmt: skip
        if expired:
            raise RequestIdExpiredError(request_id)
        if row is None:
            raise RequestIdConflictError(
                f"request_id {request_id!r} was already used for a card write: kind differs; nothing was done, "
                "use a new request_id",
                mismatch="kind",
            )
        existing = Entry.from_row(row)
        mismatch = [name for name, first, now in (
            ("kind", existing.kind, kind), ("reader", existing.reader, reader),
            ("amount_fen", existing.amount_fen, amount_fen), ("merchant_id", existing.merchant_id, merchant_id),
            ("order_id", existing.order_id, order_id), ("operator_id", existing.operator_id, operator_id),
        ) if first != now]  # fmt: skip
        if mismatch:
            raise RequestIdConflictError(
                f"request_id {request_id!r} was already used for a {existing.kind.value} of "
                f"{existing.amount_fen} fen on {existing.reader!r}: {', '.join(mismatch)} differ; nothing was done, "
                "use a new request_id",
                mismatch=",".join(mismatch),
            )
        return existing, False

    def _update(
        self,
        transaction_id: str,
        new_state: State,
        values: dict[str, object],
        *,
        after: frozenset[State] | None = None,
        audit: AuditRecord | None = None,
    ) -> Entry:
        """Move an entry to ``new_state`` (from a state in ``after``: by default those :data:`_ALLOWED` to).

        One ``UPDATE ... WHERE state IN (...) RETURNING <the entry>``: the transition check and the new row in one
        statement. ``audit`` is appended in the same commit.
        """
        # Durable (fsynced): prepared and debited/completed protect money; a void records what the card said,
        # which it may not be able to say again (failure paths only). Confirming a debited entry needs no fsync of
        # its own: if lost, start-up re-derives it (debited -> confirmed), and the next durable commit carries it.
        durable = new_state is not State.CONFIRMED or "tac" in values
        sources = after if after is not None else _SOURCES[new_state]
        values = {**values, "state": new_state.value}
        values["updated_at"] = _iso(_now())
        names = sorted(values)
        sql = (
            f"UPDATE transactions SET {', '.join(f'{n} = ?' for n in names)}"  # noqa: S608 - column names are ours
            f" WHERE transaction_id = ? AND state IN ({', '.join('?' * len(sources))}) RETURNING {_COLUMNS}"
        )
        with self._db.transaction(durable=durable) as conn:
            row = conn.execute(sql, (*(values[n] for n in names), transaction_id, *sorted(sources))).fetchone()
            if row is None:
                current = conn.execute(
                    "SELECT state FROM transactions WHERE transaction_id = ?", (transaction_id,)
                ).fetchone()
                if current is None:
                    raise DataError(f"no journal entry {transaction_id!r}", field="transaction_id")
                raise TransitionError(
                    f"journal entry {transaction_id}: {current['state']} -> {new_state.value} is not allowed",
                    field="state",
                )
            if audit is not None:
                audit.insert(conn)
        return Entry.from_row(row)

    def mark_prepared(
        self,
        transaction_id: str,
        *,
        card_number: str,
        balance_before_fen: int,
        card_counter: int,
        terminal_id: str,
        terminal_serial: int,
        when: _dt.datetime,
        purse_factor: str = "",
    ) -> Entry:
        """The card and SAM prepared the transaction; the next APDU changes the card.

        ``purse_factor``: the card's EF15 factor (with the card number, the physical card the host books it on)."""
        return self._update(
            transaction_id,
            State.PREPARED,
            {
                "card_number": card_number,
                "purse_factor": purse_factor,
                "balance_before_fen": balance_before_fen,
                "card_counter": card_counter,
                "terminal_id": terminal_id,
                "terminal_serial": terminal_serial,
                "transaction_time": _iso(when),
                "business_date": _local_date(when),
            },
        )

    def mark_debited(
        self,
        transaction_id: str,
        *,
        balance_after_fen: int,
        card_counter: int,
        terminal_id: str,
        terminal_serial: int,
        tac: str,
        mac2: str = "",
        when: _dt.datetime | None = None,
    ) -> Entry:
        """The card answered with its TAC: the card was changed."""
        values = _card_answer(balance_after_fen, card_counter, terminal_id, terminal_serial, tac, mac2, when)
        return self._update(transaction_id, State.DEBITED, values)

    def complete(
        self,
        transaction_id: str,
        *,
        balance_after_fen: int,
        card_counter: int,
        terminal_id: str,
        terminal_serial: int,
        tac: str,
        mac2: str = "",
        when: _dt.datetime | None = None,
        audit: AuditRecord | None = None,
    ) -> Entry:
        """The card answered with its TAC: record it and confirm, with the operation's audit row, in one commit.

        ``prepared`` (or ``debited``) → ``confirmed`` with the TAC, durable (fsynced) before it returns — what
        :meth:`mark_debited` followed by :meth:`confirm` record, in one durable commit instead of two commits.
        """
        values = _card_answer(balance_after_fen, card_counter, terminal_id, terminal_serial, tac, mac2, when)
        return self._update(
            transaction_id, State.CONFIRMED, values, after=frozenset({State.PREPARED, State.DEBITED}), audit=audit
        )

    def confirm(self, transaction_id: str, *, audit: AuditRecord | None = None) -> Entry:
        """Final: the card was changed (the entry must be ``debited``); ``audit`` is appended in the same commit."""
        return self._update(transaction_id, State.CONFIRMED, {}, audit=audit)

    def settle(self, entry: Entry, outcome: State, *, tac: str, note: str, audit: AuditRecord) -> Entry:
        """An operator's decision on a ``prepared`` entry its card can no longer decide (durable, audited).

        ``CONFIRMED``: the card changed (balance after = before ∓ amount; ``tac`` from the issuer's records, may be
        empty); ``VOIDED``: it did not. ``note`` (who and why) is kept in ``settlement_note``.
        """
        if outcome is State.CONFIRMED:
            values: dict[str, object] = {
                "balance_after_fen": (entry.balance_before_fen or 0) + entry.kind.sign * entry.amount_fen,
                "tac": tac,
                "settlement_note": note,
            }
        elif outcome is State.VOIDED:
            values = {"void_reason": "SETTLED: " + note, "settlement_note": note}
        else:
            raise TransitionError(f"an entry is settled as confirmed or voided, not {outcome.value}", field="outcome")
        return self._update(entry.transaction_id, outcome, values, after=frozenset({State.PREPARED}), audit=audit)

    def void(self, transaction_id: str, reason: str) -> Entry:
        """Final: the card was not changed (the entry must be ``intent`` or ``prepared``)."""
        return self._update(transaction_id, State.VOIDED, {"void_reason": reason})

    # --- reading -------------------------------------------------------------------------------------------

    def get(self, transaction_id: str) -> Entry | None:
        """The entry with this id, or ``None``."""
        rows = self._db.query(_BY_TRANSACTION_ID, (transaction_id,))
        return Entry.from_row(rows[0]) if rows else None

    def by_request_id(self, request_id: str) -> Entry | None:
        """The entry of this request id, or ``None``."""
        rows = self._db.query(_BY_REQUEST_ID, (request_id,))
        return Entry.from_row(rows[0]) if rows else None

    def open_entries(self, *, reader: str | None = None, card_number: str | None = None) -> list[Entry]:
        """Entries not yet confirmed or voided, oldest first; optionally of one reader or card."""
        # the partial index of open entries (database.py): a few rows, whatever the size of the journal
        sql = (
            f"SELECT {_COLUMNS} FROM transactions INDEXED BY transactions_open_card"  # noqa: S608 - a constant
            " WHERE state IN ('intent', 'prepared', 'debited')"
        )
        params: list[object] = []
        if reader is not None:
            sql += " AND reader = ?"
            params.append(reader)
        if card_number is not None:
            sql += " AND card_number = ?"
            params.append(card_number)
        return [Entry.from_row(r) for r in self._db.query(sql + " ORDER BY seq", tuple(params))]

    def list_entries(
        self,
        *,
        limit: int = 100,
        page_token: str = "",
        card_number: str = "",
        state: State | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
    ) -> tuple[list[Entry], str]:
        """Entries newest first; returns ``(entries, next_page_token)`` (``""`` on the last page).

        Keyset paging (:data:`LIST_KEYSET`) on the index of the most selective filter: the card's, else the
        state's, else the creation time's. A bad ``page_token`` raises :class:`~daemon.paging.PageTokenError`.
        """
        where: list[str] = []
        params: list[object] = []
        if card_number:
            index = "transactions_card_created"
            where.append("card_number = ?")
            params.append(card_number)
        elif state is not None:
            index = _STATE_INDEX[state]
        else:
            index = "transactions_created"
        if state is not None:
            # a literal the partial index's WHERE implies (a bound parameter would not let SQLite use it)
            where.append(_OPEN_SQL if state in OPEN_STATES else f"state = '{state.value}'")
            if state in OPEN_STATES:
                where.append(f"state = '{state.value}'")
        if start is not None:
            where.append("created_at >= ?")
            params.append(_iso(start))
        if end is not None:
            if not page_token:
                where.append("created_at < ?")
                params.append(_iso(end))
            elif str(LIST_KEYSET.decode(page_token)[0]) >= _iso(end):
                raise PageTokenError()  # every row of an earlier page of this window was created before its end
            # else the cursor is the tighter upper bound: SQLite seeks on one upper bound only, and with both it
            # would walk from the end of the window down to the cursor on every page
        page = self._page(
            f"SELECT {_COLUMNS}, seq FROM transactions INDEXED BY {index}",  # noqa: S608 - names are ours
            LIST_KEYSET, _list_key,
            where, params, limit, page_token,
        )  # fmt: skip
        return [Entry.from_row(row) for row in politely(page.rows)], page.next_token

    def _page(
        self,
        select: str,
        keyset: Keyset,
        key_of: Callable[[Row], Sequence[object]],
        where: Sequence[str],
        params: Sequence[object],
        limit: int,
        token: str,
    ) -> Page[Row]:
        return fetch_page(
            self._db.query, select=select, keyset=keyset, key_of=key_of, where=where, params=params, limit=limit,
            token=token,
        )  # fmt: skip

    def reconciliation_totals(
        self, business_date: str, *, terminal_id: str = ""
    ) -> tuple[list[ReconciliationGroup], int]:
        """Count and sum of a business day's confirmed entries per terminal and kind, and the count of open ones.

        Computed in SQL over the covering index ``transactions_report``; the groups carry no entries (page them
        with :meth:`reconciliation_entries`). Both figures come from one read snapshot.
        """
        sql = (
            "SELECT terminal_id, kind, COUNT(*), SUM(amount_fen) FROM transactions INDEXED BY transactions_report"
            " WHERE business_date = ? AND state = 'confirmed'"
        )
        params: list[object] = [business_date]
        if terminal_id:
            sql += " AND terminal_id = ?"
            params.append(terminal_id)
        open_sql = (
            "SELECT COUNT(*) FROM transactions INDEXED BY transactions_open_card"
            " WHERE state IN ('intent', 'prepared', 'debited') AND business_date = ?"
        )
        with self._db.reading() as conn:
            conn.execute("BEGIN")
            rows = conn.execute(sql + " GROUP BY terminal_id, kind ORDER BY terminal_id, kind", params).fetchall()
            open_count = int(conn.execute(open_sql, (business_date,)).fetchone()[0])
            conn.execute("COMMIT")
        groups = [
            ReconciliationGroup(
                terminal_id=row[0],
                business_date=business_date,
                kind=_KINDS[row[1]],
                count=int(row[2]),
                total_fen=int(row[3]),
                entries=(),
            )
            for row in rows
        ]
        return groups, open_count

    def reconciliation_entries(
        self, business_date: str, *, terminal_id: str = "", limit: int = 1000, page_token: str = ""
    ) -> tuple[list[Entry], str]:
        """One page of a business day's confirmed entries in report order (terminal, kind, terminal serial).

        Returns ``(entries, next_page_token)``; keyset paging (:data:`REPORT_KEYSET`) on ``transactions_report``.
        """
        where = ["business_date = ?", "state = 'confirmed'"]
        params: list[object] = [business_date]
        keyset = REPORT_KEYSET
        key_of: Callable[[Row], Sequence[object]] = _report_key
        if terminal_id:  # the terminal is fixed: keyed without it, or SQLite would sort the rest of the day's rows
            where.append("terminal_id = ?")
            params.append(terminal_id)
            keyset, key_of = _TERMINAL_REPORT_KEYSET, _terminal_report_key
        page = self._page(
            f"SELECT {_COLUMNS}, seq FROM transactions INDEXED BY transactions_report",  # noqa: S608 - constant
            keyset, key_of,
            where, params, limit, page_token,
        )  # fmt: skip
        return [Entry.from_row(row) for row in politely(page.rows)], page.next_token

    def reconciliation_size(self, business_date: str, *, terminal_id: str = "") -> int:
        """How many confirmed entries :meth:`reconciliation` would return (counted on the index alone)."""
        sql = (
            "SELECT COUNT(*) FROM transactions INDEXED BY transactions_report"
            " WHERE business_date = ? AND state = 'confirmed'"
        )
        params: list[object] = [business_date]
        if terminal_id:
            sql += " AND terminal_id = ?"
            params.append(terminal_id)
        return int(self._db.query(sql, tuple(params))[0][0])

    def reconciliation(self, business_date: str, *, terminal_id: str = "") -> tuple[list[ReconciliationGroup], int]:
        """Confirmed entries of a business day grouped by terminal and kind, and the count of open entries.

        Each group carries its count, its sum in fen and every entry (with terminal serial and TAC) in
        terminal-serial order, which is what a settlement host needs to check the TACs. Holds the whole day in
        memory: for large days use :meth:`reconciliation_totals` and :meth:`reconciliation_entries`.
        """
        totals, open_count = self.reconciliation_totals(business_date, terminal_id=terminal_id)
        entries: dict[tuple[str, Kind], list[Entry]] = {}
        token = ""
        while True:
            page, token = self.reconciliation_entries(business_date, terminal_id=terminal_id, page_token=token)
            for entry in page:
                entries.setdefault((entry.terminal_id, entry.kind), []).append(entry)
            if not token:
                break
        result = [
            ReconciliationGroup(
                terminal_id=group.terminal_id,
                business_date=business_date,
                kind=group.kind,
                count=len(kept),
                total_fen=sum(e.amount_fen for e in kept),
                entries=tuple(kept),
            )
            for group in totals
            for kept in [entries.get((group.terminal_id, group.kind), [])]
        ]
        return result, open_count
