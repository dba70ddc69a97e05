"""Synthetic journal rows for the query benchmarks and tests: many days of entries, inserted by SQLite itself.

One ``INSERT ... SELECT`` over a recursive counter in one transaction (no Python per row): a million rows take
seconds, not minutes. The rows look like the daemon's own (same columns, formats and states): ``per_day``
entries a day, evenly spaced (the first ``rows / per_day`` days before ``end``, the last one step before it);
every 10th a load, every 100th (offset 7) voided, the third left ``prepared`` (open entries are few whatever
the size of the journal), the rest confirmed; ``cards`` card numbers and ``terminals`` terminal ids in turn.
Nothing here is used by the daemon.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from daemon.database import Database

__all__ = ["Synthetic", "fill_journal"]

_INSERT = """
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last),
t(i, at) AS (SELECT i, :start + (i - :first) * :step FROM n)
INSERT INTO transactions (transaction_id, request_id, kind, state, reader, card_number, amount_fen,
    balance_before_fen, balance_after_fen, card_counter, terminal_id, terminal_serial, tac, transaction_time,
    business_date, created_at, updated_at, seq)
SELECT printf('%032x', i), 'synthetic-' || i,
    CASE WHEN i % 10 = 0 THEN 'load' ELSE 'debit' END,
    CASE WHEN i % 100 = 7 THEN 'voided' WHEN i = 3 THEN 'prepared' ELSE 'confirmed' END,
    'virtual-0', printf('C%09d', i % :cards), 1 + i % 500, 1000000, 1000000 - 1 - i % 500, i % 65536,
    printf('T%011d', i % :terminals), i / :terminals,
    CASE WHEN i % 100 = 7 OR i = 3 THEN '' ELSE printf('%08X', i) END,
    strftime('%Y-%m-%dT%H:%M:%S', CAST(at AS INTEGER), 'unixepoch')
        || printf('.%06d+00:00', CAST((at - CAST(at AS INTEGER)) * 1000000 AS INTEGER)),
    date(CAST(at AS INTEGER), 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%S', CAST(at AS INTEGER), 'unixepoch')
        || printf('.%06d+00:00', CAST((at - CAST(at AS INTEGER)) * 1000000 AS INTEGER)),
    strftime('%Y-%m-%dT%H:%M:%S', CAST(at AS INTEGER), 'unixepoch')
        || printf('.%06d+00:00', CAST((at - CAST(at AS INTEGER)) * 1000000 AS INTEGER)),
    i
FROM t
"""


@dataclass(frozen=True)
class Synthetic:
    """What :func:`fill_journal` inserted: ``rows`` entries over the UTC days ``first_day`` .. ``last_day``."""

    rows: int
    first_day: str
    last_day: str
    cards: int
    terminals: int


def fill_journal(
    db: Database,
    rows: int,
    *,
    per_day: int = 1000,
    cards: int = 100,
    terminals: int = 4,
    end: _dt.datetime | None = None,
) -> Synthetic:
    """Insert ``rows`` synthetic entries into an empty journal, the last one created just before ``end``."""
    if rows < 1 or per_day < 1:
        raise ValueError("rows and per_day must be positive")
    end = end or _dt.datetime.now(_dt.UTC)
    step = 86400.0 / per_day
    start = end.timestamp() - rows * step
    with db.transaction(durable=False) as conn:
        if conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]:
            raise ValueError("the journal is not empty")
        conn.execute(
            _INSERT,
            {"first": 1, "last": rows, "start": start, "step": step, "cards": cards, "terminals": terminals},
        )
    first = _dt.datetime.fromtimestamp(start, _dt.UTC).date().isoformat()
    last = _dt.datetime.fromtimestamp(start + (rows - 1) * step, _dt.UTC).date().isoformat()
    return Synthetic(rows=rows, first_day=first, last_day=last, cards=cards, terminals=terminals)
