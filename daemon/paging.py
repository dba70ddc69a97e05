"""Keyset paging over SQL: the next page starts after the last key seen, never at an offset.

A :class:`Keyset` is an ordering by columns that together identify a row (e.g. ``(created_at, seq)``), all
ascending or all descending. A page is ``WHERE <filters> AND (k1, k2) < (last1, last2) ORDER BY k1 DESC, k2 DESC
LIMIT n + 1``: with an index that starts with the equality filters and continues with the key columns, the
database seeks to the cursor and reads ``n + 1`` rows, whatever the size of the table and the page number
(SQLite "Row Values" §2.3 "Scrolling Window Queries"; PostgreSQL "Row Constructor Comparison"). Rows inserted
while a client pages never shift the pages: every row that existed when the first page was read and still
matches is returned exactly once, as long as the key columns never change.

Nothing here knows a table: the daemon's journal and audit trail and the hospital host's ledger (SQLite or
PostgreSQL; ``placeholder`` is ``?`` or ``%s``) describe their own columns. Page tokens are opaque to clients:
URL-safe base64 of the JSON key in UTF-8, checked on the way back in (count and type of each value, length) so a
forged or foreign token is refused as :class:`PageTokenError` (a :class:`~apdu.errors.DataError` naming
``page_token``), never turned into SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from apdu.errors import DataError

__all__ = ["MAX_TOKEN", "Keyset", "Page", "PageTokenError", "fetch_page", "politely"]

R = TypeVar("R")
T = TypeVar("T")
Key = tuple[int | str, ...]
MAX_TOKEN = 1024  # characters of a page token: room for a few columns of up to 128 characters of any script
_MAX_TEXT = 128  # characters of one text value in a key


class PageTokenError(DataError):
    """A page token that this service did not hand out (or one for another listing)."""

    def __init__(self, message: str = "page_token: not a token returned by this service") -> None:
        super().__init__(message, field="page_token")


@dataclass(frozen=True)
class Keyset:
    """An ordering by ``columns`` (SQL expressions naming unique-together columns) of the given value types."""

    columns: tuple[str, ...]
    types: tuple[type[int] | type[str], ...]
    descending: bool = True

    def __post_init__(self) -> None:
        if not self.columns or len(self.columns) != len(self.types):
            raise ValueError("a keyset needs one type per column")

    def order_by(self) -> str:
        """The ``ORDER BY`` list (without the keywords)."""
        direction = " DESC" if self.descending else ""
        return ", ".join(column + direction for column in self.columns)

    def after(self, placeholder: str = "?") -> str:
        """The condition "comes after the cursor in this order", one placeholder per key column."""
        op = "<" if self.descending else ">"
        if len(self.columns) == 1:
            return f"{self.columns[0]} {op} {placeholder}"
        return f"({', '.join(self.columns)}) {op} ({', '.join([placeholder] * len(self.columns))})"

    def encode(self, key: Sequence[object]) -> str:
        """The page token of a key (as :meth:`decode` accepts it)."""
        values = self._checked(list(key))
        text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")

    def decode(self, token: str) -> Key:
        """The key in a page token; :class:`PageTokenError` unless it is one :meth:`encode` could have made."""
        if len(token) > MAX_TOKEN:
            raise PageTokenError(f"page_token: at most {MAX_TOKEN} characters")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            values = json.loads(raw.decode("utf-8", "surrogatepass"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise PageTokenError() from None
        if not isinstance(values, list):
            raise PageTokenError()
        return self._checked(values)

    def _checked(self, values: list[object]) -> Key:
        if len(values) != len(self.types):
            raise PageTokenError()
        key: list[int | str] = []
        for value, kind in zip(values, self.types, strict=True):
            # bool is an int subclass and JSON's true/false must not pass for a number
            if not isinstance(value, int | str) or type(value) is not kind:
                raise PageTokenError()
            if isinstance(value, str) and len(value) > _MAX_TEXT:
                raise PageTokenError()
            key.append(value)
        return tuple(key)


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of rows and the token of the next page (empty on the last page)."""

    rows: list[R]
    next_token: str


def fetch_page(
    run: Callable[[str, tuple[object, ...]], list[R]],
    *,
    select: str,
    keyset: Keyset,
    key_of: Callable[[R], Sequence[object]],
    where: Sequence[str] = (),
    params: Sequence[object] = (),
    limit: int,
    token: str = "",
    placeholder: str = "?",
) -> Page[R]:
    """One page of ``select`` (``SELECT ... FROM ...``, no ``WHERE``) in ``keyset`` order after ``token``.

    ``where``: conditions joined by AND, with ``params`` for their placeholders; ``run(sql, params)`` executes
    and returns every row; ``key_of(row)`` gives the row's key values in ``keyset.columns`` order.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    conditions = list(where)
    values = list(params)
    if token:
        conditions.append(keyset.after(placeholder))
        values.extend(keyset.decode(token))
    sql = select
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += f" ORDER BY {keyset.order_by()} LIMIT {placeholder}"
    rows = run(sql, (*values, limit + 1))
    if len(rows) <= limit:
        return Page(rows, "")
    rows = rows[:limit]
    return Page(rows, keyset.encode(key_of(rows[-1])))


def politely(items: Iterable[T], *, every: int = 64) -> Iterator[T]:
    """``items``, offering the interpreter to other threads after every ``every`` of them.

    Converting a page of 1,000 rows to messages is tens of milliseconds of Python holding the GIL; a payment's
    thread that wakes up meanwhile (its fsync or socket done) waits for the holder to drop it, up to
    ``sys.getswitchinterval()`` (5 ms) each time. ``time.sleep(0)`` drops it at once, so a page in progress
    delays a payment by one chunk at most.
    """
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            time.sleep(0)
