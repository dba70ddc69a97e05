"""日结: a business day's settlement per cashier, department and terminal (clearing practice, sources.md H7).

From the host's ledger (uploaded transactions) for one business day: per **operator** (cashier), per **merchant**
(department) and per **terminal** (``node_id:terminal_id``), and per kind, the count and amount of everything
recorded and of what is TAC-verified (a department is credited only with verified debits; a cashier is expected
to hold the cash of the verified loads taken). Each cashier's declared cash is reconciled against the verified
loads of their uploads, less the loads that paid a host credit (a refund or a replaced card's balance: no cash
was taken), the payouts of cancelled cards made that day and the verified unloads (圈提, a cancellation with the
card present) of their uploads: that cash left the till. Also as CSV and JSON text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from apdu.errors import DataError
from daemon.host.db import LedgerDb

__all__ = ["CashLine", "Group", "Settlement", "settle"]

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MAX_DECLARED_FEN = 10**12  # a sanity bound on a till's net for one day (10 billion yuan)
_DIMENSIONS = (
    ("operator", "operator_id"),
    ("merchant", "merchant_id"),
    ("terminal", "node_id || ':' || terminal_id"),
)


@dataclass(frozen=True)
class Group:
    """One line of the settlement."""

    dimension: str
    key: str
    kind: str
    count: int
    amount_fen: int
    verified_count: int
    verified_amount_fen: int


@dataclass(frozen=True)
class CashLine:
    """A cashier's till against the uploads."""

    operator_id: str
    expected_fen: int
    declared_fen: int

    @property
    def difference_fen(self) -> int:
        """Declared minus expected (0: the till matches)."""
        return self.declared_fen - self.expected_fen


@dataclass(frozen=True)
class Settlement:
    """The day's settlement."""

    business_date: str
    groups: list[Group]
    cash: list[CashLine]
    total_debits_fen: int
    total_loads_fen: int
    total_unloads_fen: int = 0

    def to_csv(self) -> str:
        """One line per group, then one per cashier (``cash`` lines), header first."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["business_date", "dimension", "key", "kind", "count", "amount_fen", "verified_count",
                         "verified_amount_fen", "declared_fen", "difference_fen"])  # fmt: skip
        for g in self.groups:
            writer.writerow([self.business_date, g.dimension, g.key, g.kind, g.count, g.amount_fen, g.verified_count,
                             g.verified_amount_fen, "", ""])  # fmt: skip
        for c in self.cash:
            writer.writerow([self.business_date, "cash", c.operator_id, "load", "", c.expected_fen, "", "",
                             c.declared_fen, c.difference_fen])  # fmt: skip
        return out.getvalue()

    def to_json(self) -> str:
        """The settlement as a JSON document."""
        doc = {
            "business_date": self.business_date,
            "groups": [asdict(g) for g in self.groups],
            "cash": [{**asdict(c), "difference_fen": c.difference_fen} for c in self.cash],
            "total_debits_fen": self.total_debits_fen,
            "total_loads_fen": self.total_loads_fen,
            "total_unloads_fen": self.total_unloads_fen,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2)


def settle(db: LedgerDb, business_date: str, declared: Mapping[str, int] | None = None) -> Settlement:
    """The settlement of ``business_date`` (YYYY-MM-DD) with the cashiers' ``declared`` cash (fen)."""
    if not _DATE.match(business_date or ""):
        raise DataError("business_date: YYYY-MM-DD", field="business_date")
    declared = dict(declared or {})
    if any(abs(v) > _MAX_DECLARED_FEN for v in declared.values()):  # net cash: negative when more was paid out
        raise DataError(f"declared cash: at most {_MAX_DECLARED_FEN} fen either way", field="declared")
    groups: list[Group] = []
    for dimension, expression in _DIMENSIONS:
        rows = db.query(
            f"SELECT {expression} AS k, kind, COUNT(*) AS n, SUM(amount_fen) AS amount,"  # noqa: S608 - constants
            " SUM(CASE WHEN tac_status = 'VERIFIED' THEN 1 ELSE 0 END) AS vn,"
            " SUM(CASE WHEN tac_status = 'VERIFIED' THEN amount_fen ELSE 0 END) AS vamount"
            f" FROM ledger WHERE business_date = ? GROUP BY {expression}, kind ORDER BY 1, 2",
            (business_date,),
        )
        groups += [Group(dimension, str(r["k"]), str(r["kind"]), int(r["n"]), int(r["amount"]), int(r["vn"]),
                         int(r["vamount"])) for r in rows]  # fmt: skip
    expected = {g.key: g.verified_amount_fen for g in groups if g.dimension == "operator" and g.kind == "load"}
    for g in groups:  # an unload paid its amount out of the cashier's till
        if g.dimension == "operator" and g.kind == "unload":
            expected[g.key] = expected.get(g.key, 0) - g.verified_amount_fen
    # loads that paid a credit (refund, replaced card's balance) took no cash; payouts (注销) left the till
    for r in db.query(
        "SELECT l.operator_id AS op, SUM(l.amount_fen) AS s FROM ledger l WHERE l.business_date = ? AND l.kind = 'load'"
        " AND l.tac_status = 'VERIFIED' AND EXISTS (SELECT 1 FROM load_authorisations a WHERE a.card_number ="
        " l.card_number AND a.purse_factor = l.purse_factor AND a.online_counter = l.card_counter"
        " AND a.amount_fen = l.amount_fen AND a.credit_id IS NOT NULL) GROUP BY l.operator_id",
        (business_date,),
    ):
        expected[str(r["op"])] = expected.get(str(r["op"]), 0) - int(r["s"])
    for r in db.query(
        "SELECT operator_id AS op, SUM(amount_fen) AS s FROM payouts WHERE substr(paid_at, 1, 10) = ?"
        " GROUP BY operator_id",
        (business_date,),
    ):
        expected[str(r["op"])] = expected.get(str(r["op"]), 0) - int(r["s"])
    cash = [CashLine(op, expected.get(op, 0), declared.get(op, 0)) for op in sorted(set(expected) | set(declared))]
    operator_groups = [g for g in groups if g.dimension == "operator"]
    return Settlement(
        business_date=business_date, groups=groups, cash=cash,
        total_debits_fen=sum(g.amount_fen for g in operator_groups if g.kind == "debit"),
        total_loads_fen=sum(g.amount_fen for g in operator_groups if g.kind == "load"),
        total_unloads_fen=sum(g.amount_fen for g in operator_groups if g.kind == "unload"),
    )  # fmt: skip
