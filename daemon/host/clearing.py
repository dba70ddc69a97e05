"""Clearing: uploaded transactions recorded exactly once, TACs verified, shadow balances, counter gaps.

clearing practice, sources.md H1; clearing practice, sources.md H2; clearing practice, sources.md H5. Each uploaded
transaction is inserted with the key (node id, journal id): a retry of the same upload finds the row and books nothing
again (``duplicate``). The TAC is checked with the card's TAC key (:class:`daemon.host.keystore.HostKeyStore`,
diversified by the registered purse factor); only a verified transaction moves the card's **shadow balance** (opening
balance + verified loads − verified debits − verified unloads; an unload's "TAC" is the card's answer MAC, checked
against the one the host's unload authorisation recorded, :mod:`daemon.host.unloads`), in the same database
transaction as the insert, so a crash between the two cannot happen (one transaction per upload batch). Counter gaps
(a counter value between two the host has, that it never received) are computed per card from the ledger, so the
order in which daemons upload does not matter.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from apdu.errors import DataError
from daemon.host.db import Cursor, LedgerDb, Row
from daemon.host.keystore import HostKeyStore
from daemon.host.registry import CardRecord, Registry, check_card_number, check_factor, now_iso, resolve
from daemon.host.unloads import verdict as unload_verdict
from daemon.paging import Keyset, Page, fetch_page

__all__ = ["MAX_BATCH", "Clearing", "CounterGap", "Recorded", "Upload"]

MAX_BATCH = 500
_HEX = re.compile(r"^[0-9A-F]*$")
_TIME = re.compile(r"^[0-9]{14}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TEXT_MAX = 64
_ENTRIES = Keyset(("entry_id",), (int,))
#: How each kind moves the balance (an unload, 圈提, pays the amount out like a debit).
_SIGN = {"debit": -1, "load": 1, "unload": -1}


@dataclass(frozen=True)
class Upload:
    """One uploaded transaction (``UploadedTransaction``), checked by :meth:`validate`."""

    transaction_id: str
    kind: str
    card_number: str
    amount_fen: int
    balance_before_fen: int
    balance_after_fen: int
    card_counter: int
    terminal_id: str
    terminal_serial: int
    tac: str
    card_time: str
    transaction_time: str
    business_date: str = ""
    merchant_id: str = ""
    operator_id: str = ""
    order_id: str = ""
    purse_factor: str = ""

    def validate(self, where: str) -> Upload:
        """This upload if well formed, else :class:`DataError` naming ``where.<field>``."""

        def bad(name: str, why: str) -> DataError:
            return DataError(f"{where}.{name}: {why}", field=f"{where}.{name}")

        if not 0 < len(self.transaction_id) <= _TEXT_MAX:
            raise bad("transaction_id", f"1-{_TEXT_MAX} characters")
        if self.kind not in _SIGN:
            raise bad("kind", "DEBIT, LOAD or UNLOAD")
        try:
            check_card_number(self.card_number)
        except DataError:
            raise bad("card_number", "1-32 letters or digits") from None
        try:
            check_factor(self.purse_factor, required=False)
        except DataError:
            raise bad("purse_factor", "16 hex digits (EF15 bytes 12..19) or empty") from None
        if self.amount_fen <= 0:
            raise bad("amount_fen", "must be > 0")
        if min(self.balance_before_fen, self.balance_after_fen, self.card_counter, self.terminal_serial) < 0:
            raise bad("balance_before_fen", "balances, counter and serial are >= 0")
        if self.balance_after_fen != self.balance_before_fen + _SIGN[self.kind] * self.amount_fen:
            raise bad("balance_after_fen", "balance after must be balance before -/+ amount")
        if len(self.terminal_id) != 12 or not _HEX.match(self.terminal_id):
            raise bad("terminal_id", "12 hex digits")
        if len(self.tac) not in (0, 8) or not _HEX.match(self.tac):
            raise bad("tac", "8 hex digits or empty")
        if not _TIME.match(self.card_time):
            raise bad("card_time", "YYYYMMDDhhmmss")
        if self.business_date and not _DATE.match(self.business_date):
            raise bad("business_date", "YYYY-MM-DD")
        for name in ("merchant_id", "operator_id", "order_id"):
            if len(getattr(self, name)) > _TEXT_MAX:
                raise bad(name, f"at most {_TEXT_MAX} characters")
        return self


@dataclass(frozen=True)
class Recorded:
    """The outcome of one upload."""

    transaction_id: str
    duplicate: bool
    tac_status: str


@dataclass(frozen=True)
class CounterGap:
    """Counters never received between two received ones (inclusive range)."""

    kind: str
    first_missing: int
    last_missing: int


@dataclass(frozen=True)
class LedgerRow:
    """One ``ledger`` row."""

    upload: Upload
    node_id: str
    tac_status: str
    received_at: str
    entry_id: int


def _ledger_row(r: Row) -> LedgerRow:
    upload = Upload(
        transaction_id=r["transaction_id"], kind=r["kind"], card_number=r["card_number"],
        amount_fen=int(r["amount_fen"]), balance_before_fen=int(r["balance_before_fen"]),
        balance_after_fen=int(r["balance_after_fen"]), card_counter=int(r["card_counter"]),
        terminal_id=r["terminal_id"], terminal_serial=int(r["terminal_serial"]), tac=r["tac"],
        card_time=r["card_time"], transaction_time=r["transaction_time"], business_date=r["business_date"],
        merchant_id=r["merchant_id"], operator_id=r["operator_id"], order_id=r["order_id"],
        purse_factor=r["purse_factor"],
    )  # fmt: skip
    return LedgerRow(upload, r["node_id"], r["tac_status"], r["received_at"], int(r["entry_id"]))


def gaps_of(counters: Sequence[tuple[str, int]]) -> list[CounterGap]:
    """The gaps in ``(kind, counter)`` pairs, per counter: the offline counter (debits) and the online counter
    (loads and unloads share it, JR/T 0025.1; reported as ``load``)."""
    gaps: list[CounterGap] = []
    previous: tuple[str, int] | None = None
    for kind, counter in sorted({("debit" if k == "debit" else "load", c) for k, c in counters}):
        if previous is not None and previous[0] == kind and counter > previous[1] + 1:
            gaps.append(CounterGap(kind, previous[1] + 1, counter - 1))
        previous = (kind, counter)
    return gaps


class Clearing:
    """Records uploads and answers account questions (module docstring)."""

    def __init__(self, db: LedgerDb, registry: Registry, keys: HostKeyStore) -> None:
        self.db = db
        self.registry = registry
        self.keys = keys

    def _verdict(self, cur: Cursor, card: CardRecord | None, upload: Upload) -> str:
        if card is None:
            return "UNKNOWN_CARD"
        if not upload.tac:
            return "MISSING"
        if upload.kind == "unload":  # no TAC: the card's answer MAC, as the host's authorisation expected it
            return unload_verdict(
                cur, card, amount_fen=upload.amount_fen, card_counter=upload.card_counter,
                terminal_id=upload.terminal_id, card_time=upload.card_time, mac=upload.tac,
            )  # fmt: skip
        ok = self.keys.tac_matches(bytes.fromhex(card.purse_factor), upload, bytes.fromhex(upload.tac))
        return "VERIFIED" if ok else "FAILED"

    def record(self, node_id: str, uploads: Sequence[Upload]) -> list[Recorded]:
        """Record each upload once, all of a batch in one database transaction; the outcomes in request order.

        The batch is checked whole first (a malformed item refuses the batch, nothing is recorded). Cards are
        locked in card-number order, so two daemons' concurrent batches over the same cards cannot deadlock.
        """
        if not 0 < len(node_id) <= _TEXT_MAX:
            raise DataError(f"node_id: 1-{_TEXT_MAX} characters", field="node_id")
        if len(uploads) > MAX_BATCH:
            raise DataError(f"transactions: at most {MAX_BATCH} per upload", field="transactions")
        checked = [u.validate(f"transactions[{i}]") for i, u in enumerate(uploads)]
        order = sorted(range(len(checked)), key=lambda i: (checked[i].card_number, checked[i].purse_factor, i))
        results: dict[int, Recorded] = {}
        with self.db.transaction() as cur:
            cards: dict[tuple[str, str], CardRecord | None] = {}
            for i in order:
                results[i] = self._record_one(cur, node_id, checked[i], cards)
        return [results[i] for i in range(len(checked))]

    def _record_one(
        self, cur: Cursor, node_id: str, u: Upload, cards: dict[tuple[str, str], CardRecord | None]
    ) -> Recorded:
        """One upload. The card is the registry's (KH, factor) — without a factor (a daemon older than the
        re-keying) the holder's current card; a factor the registry does not hold for the KH is ``UNKNOWN_CARD``
        (recorded and flagged, never booked): the key always comes from the registry row, never the request."""
        existing = cur.execute(
            "SELECT tac_status FROM ledger WHERE node_id = ? AND transaction_id = ?", (node_id, u.transaction_id)
        )
        if existing:
            return Recorded(u.transaction_id, True, existing[0]["tac_status"])
        factor = u.purse_factor.upper()
        if (u.card_number, factor) not in cards:
            cards[(u.card_number, factor)] = resolve(cur, u.card_number, factor, lock=True)
        card = cards[(u.card_number, factor)]
        verdict = self._verdict(cur, card, u)
        stored_factor = card.purse_factor if card is not None else factor
        cur.execute(
            "INSERT INTO ledger (node_id, transaction_id, kind, card_number, purse_factor, amount_fen,"
            " balance_before_fen, balance_after_fen, card_counter, terminal_id, terminal_serial, tac, card_time,"
            " transaction_time, business_date, merchant_id, operator_id, order_id, tac_status, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (node_id, transaction_id) DO NOTHING",
            (node_id, u.transaction_id, u.kind, u.card_number, stored_factor, u.amount_fen, u.balance_before_fen,
             u.balance_after_fen, u.card_counter, u.terminal_id, u.terminal_serial, u.tac, u.card_time,
             u.transaction_time, u.business_date, u.merchant_id, u.operator_id, u.order_id, verdict, now_iso()),
        )  # fmt: skip
        if cur.rowcount() == 0:  # a concurrent upload of the same entry won the insert
            return Recorded(u.transaction_id, True, verdict)
        if verdict == "VERIFIED":
            delta = _SIGN[u.kind] * u.amount_fen
            cur.execute(
                "UPDATE cards SET shadow_balance_fen = shadow_balance_fen + ? WHERE card_number = ?"
                " AND purse_factor = ?",
                (delta, u.card_number, stored_factor),
            )
        return Recorded(u.transaction_id, False, verdict)

    # --- the account ------------------------------------------------------------------------------------------

    def gaps(self, card: CardRecord) -> list[CounterGap]:
        """Counter gaps of the card (debits: offline counter; loads: online counter)."""
        rows = self.db.query(
            "SELECT DISTINCT kind, card_counter FROM ledger WHERE card_number = ? AND purse_factor = ?"
            " ORDER BY kind, card_counter",
            card.key,
        )
        return gaps_of([(r["kind"], int(r["card_counter"])) for r in rows])

    def tac_failures(self, card: CardRecord) -> int:
        """Recorded transactions of the card whose TAC failed."""
        rows = self.db.query(
            "SELECT COUNT(*) AS n FROM ledger WHERE card_number = ? AND purse_factor = ? AND tac_status = 'FAILED'",
            card.key,
        )
        return int(rows[0]["n"])

    def last_seen_balance(self, card: CardRecord) -> int | None:
        """The balance after the card's newest transaction (by transaction time), ``None`` without any."""
        rows = self.db.query(
            "SELECT balance_after_fen FROM ledger WHERE card_number = ? AND purse_factor = ? ORDER BY"
            " transaction_time DESC, entry_id DESC LIMIT 1",
            card.key,
        )
        return int(rows[0]["balance_after_fen"]) if rows else None

    def entries(self, card: CardRecord, *, limit: int, token: str = "") -> Page[LedgerRow]:
        """The card's ledger rows, newest first (keyset paging by entry id)."""
        page = fetch_page(
            self.db.query,
            select="SELECT * FROM ledger", keyset=_ENTRIES, key_of=lambda r: (int(r["entry_id"]),),
            where=("card_number = ?", "purse_factor = ?"), params=card.key, limit=limit, token=token,
        )  # fmt: skip
        return Page([_ledger_row(r) for r in page.rows], page.next_token)


def parse_time(iso: str) -> _dt.datetime:
    """The ledger's ISO text as an aware datetime."""
    return _dt.datetime.fromisoformat(iso)
