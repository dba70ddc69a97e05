"""退费, 补卡 and 注销: refunds and replacement balances as credits, cancellation payouts (clearing practice, sources.md
H5; clearing practice, sources.md H6).

A **credit** is money the host owes a card. It reaches the purse as a load: the next ``AuthoriseLoad`` for that
card of exactly the credit's amount uses it (the authorisation records the credit; no cash is due for it, and
the settlement does not expect it in a cashier's till). The load itself is booked like any load when its upload
arrives with the card's TAC, so every fen stays accounted for in the ledger.

* **Refund** (``RefundDebit``): of a recorded, TAC-verified debit, on its own card (ISSUED), partially or whole;
  all refunds of a debit together never exceed it; idempotent by request id.
* **Replacement** (``ReplaceCard``): a card LOST for at least the waiting period (``replacement_wait_s``: offline
  terminals' uploads arrive meanwhile) becomes REPLACED (listed for good, ``replaced_by``); its shadow balance
  then becomes a TRANSFER credit of the new card — for the same holder a card with the same KH and another purse
  factor, registered in the same transaction.
* **Cancellation** (``CancelCard``) without the card: a card LOST for the waiting period becomes CANCELLED and its
  shadow balance is paid out (``payouts``; in the settlement of the operator who paid). **With the card present**
  the balance was paid out on the card by UNLOAD (圈提, :mod:`daemon.host.unloads`): the request names that
  unload (node id, journal id); it must be recorded, VERIFIED (its answer MAC is the one the host's authorisation
  expected) and leave the card — ISSUED — with balance 0 and shadow balance 0; the card becomes CANCELLED at once
  (no waiting period: no offline terminal can still hold a transaction the card's balance does not show) and the
  unload is the payout (in the settlement of the cashier who made it).

Records that arrive for a replaced or cancelled card after this are flagged by the audit (``LISTED_ACTIVITY``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import grpc

from apdu.errors import DataError
from daemon.errors import DaemonError, R
from daemon.host.db import Cursor, LedgerDb, Row
from daemon.host.errors import CardStatusConflictError
from daemon.host.registry import (
    CardRecord,
    CardStatus,
    Registry,
    check_card_number,
    check_factor,
    not_registered,
    now_iso,
    resolve,
)

__all__ = ["Credit", "Credits", "RefundNotAllowedError"]


def _unloaded(cur: Cursor, card: CardRecord, node_id: str, transaction_id: str) -> int:
    """The amount of the card's recorded, verified unload that emptied it; :class:`CardStatusConflictError` (the
    card is not changed) when it is not so."""
    if card.status is not CardStatus.ISSUED:
        raise CardStatusConflictError(f"card {card.card_number} is {card.status.value}: no cancellation by unload")
    rows = cur.execute(
        "SELECT kind, tac_status, amount_fen, balance_after_fen FROM ledger WHERE node_id = ? AND transaction_id = ?"
        " AND card_number = ? AND purse_factor = ?",
        (node_id, transaction_id, *card.key),
    )
    if not rows:
        raise CardStatusConflictError(
            f"the unload {node_id}/{transaction_id} of card {card.card_number} has not reached the host yet (the"
            " daemon uploads it within seconds; try again) or is not this card's"
        )
    row = rows[0]
    if row["kind"] != "unload" or row["tac_status"] != "VERIFIED":
        raise CardStatusConflictError(
            f"{node_id}/{transaction_id} is not a verified unload of card {card.card_number}"
            f" ({row['kind']}, {row['tac_status']})"
        )
    if int(row["balance_after_fen"]) != 0 or card.shadow_balance_fen != 0:
        raise CardStatusConflictError(
            f"card {card.card_number} still holds money after that unload (card {row['balance_after_fen']} fen,"
            f" host {card.shadow_balance_fen} fen): unload the whole balance first"
        )
    return int(row["amount_fen"])


class RefundNotAllowedError(DaemonError):
    """The debit cannot be refunded (unknown, not verified, or the amount exceeds what is left)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_INVALID_ARGUMENT
    field = "amount_fen"


@dataclass(frozen=True)
class Credit:
    """One ``credits`` row."""

    credit_id: int
    card_number: str
    kind: str
    amount_fen: int
    reference: str
    used: bool
    purse_factor: str = ""

    @classmethod
    def from_row(cls, r: Row) -> Credit:
        """From a row."""
        return cls(int(r["credit_id"]), r["card_number"], r["kind"], int(r["amount_fen"]), r["reference"],
                   r["authorisation_id"] is not None, r["purse_factor"])  # fmt: skip


def _text(value: str, name: str) -> str:
    value = (value or "").strip()
    if not 0 < len(value) <= 256:
        raise DataError(f"{name} is required (at most 256 characters)", field=name)
    return value


class Credits:
    """Refunds, replacement and cancellation over the registry and the ledger."""

    def __init__(self, db: LedgerDb, registry: Registry, wait_s: float) -> None:
        self.db = db
        self.registry = registry
        self.wait_s = wait_s

    def refund(
        self, *, node_id: str, transaction_id: str, amount_fen: int, operator_id: str, reason: str, request_id: str,
        client: str,
    ) -> tuple[Credit, int]:  # fmt: skip
        """A refund credit of (part of) a debit; ``(credit, refundable left)``."""
        operator_id, reason, request_id = (_text(operator_id, "operator_id"), _text(reason, "reason"),
                                           _text(request_id, "request_id"))  # fmt: skip
        if amount_fen <= 0:
            raise DataError("amount_fen must be > 0", field="amount_fen")
        reference = f"{node_id}/{transaction_id}"
        with self.db.transaction() as cur:
            again = cur.execute("SELECT * FROM credits WHERE request_id = ?", (request_id,))
            if again:
                credit = Credit.from_row(again[0])
                if (credit.reference, credit.amount_fen, credit.kind) != (reference, amount_fen, "REFUND"):
                    raise DataError("request_id was used for another refund", field="request_id")
                return credit, self._refundable(cur, reference, credit.card_number)
            debit = cur.execute(
                "SELECT card_number, purse_factor, amount_fen, tac_status FROM ledger WHERE node_id = ? AND"
                " transaction_id = ? AND kind = 'debit'",
                (node_id, transaction_id),
            )
            if not debit or debit[0]["tac_status"] != "VERIFIED":
                raise RefundNotAllowedError(f"no TAC-verified debit {reference} is recorded at the host")
            card_number, factor = debit[0]["card_number"], debit[0]["purse_factor"]
            card = resolve(cur, card_number, factor, lock=True)
            if card is None or card.status is not CardStatus.ISSUED:
                raise CardStatusConflictError(f"card {card_number} is not ISSUED: refund to its replacement")
            left = self._refundable(cur, reference, card_number)
            if amount_fen > left:
                raise RefundNotAllowedError(f"at most {left} fen of debit {reference} can still be refunded")
            row = cur.execute(
                "INSERT INTO credits (card_number, purse_factor, kind, amount_fen, reference, operator_id, reason,"
                " request_id, created_at) VALUES (?, ?, 'REFUND', ?, ?, ?, ?, ?, ?) RETURNING *",
                (card_number, factor, amount_fen, reference, operator_id, reason, request_id, now_iso()),
            )
            self._event(cur, card, operator_id, f"refund credit {amount_fen} fen of {reference}: {reason}",
                        client)  # fmt: skip
            return Credit.from_row(row[0]), left - amount_fen

    @staticmethod
    def _refundable(cur: Cursor, reference: str, card_number: str) -> int:
        node_id, _, transaction_id = reference.partition("/")
        debit = cur.execute(
            "SELECT amount_fen FROM ledger WHERE node_id = ? AND transaction_id = ? AND card_number = ?",
            (node_id, transaction_id, card_number),
        )
        done = cur.execute(
            "SELECT COALESCE(SUM(amount_fen), 0) AS s FROM credits WHERE reference = ? AND kind = 'REFUND'",
            (reference,),
        )
        return int(debit[0]["amount_fen"]) - int(done[0]["s"]) if debit else 0

    @staticmethod
    def _event(cur: Cursor, card: CardRecord, operator_id: str, reason: str, client: str) -> None:
        status = card.status.value
        cur.execute(
            "INSERT INTO card_events (card_number, purse_factor, from_status, to_status, operator_id, reason, client,"
            " changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*card.key, status, status, operator_id, reason[:256], client, now_iso()),
        )

    def _lost_long_enough(self, cur: Cursor, card: CardRecord) -> None:
        if card.status is not CardStatus.LOST:
            raise CardStatusConflictError(f"card {card.card_number} is {card.status.value}: report it lost first")
        since = cur.execute(
            "SELECT MAX(changed_at) AS t FROM card_events WHERE card_number = ? AND purse_factor = ?"
            " AND to_status = 'LOST'",
            card.key,
        )[0]["t"]
        listed = _dt.datetime.fromisoformat(since)
        ready = listed + _dt.timedelta(seconds=self.wait_s)
        if _dt.datetime.now(_dt.UTC) < ready:
            raise CardStatusConflictError(
                f"card {card.card_number} was reported lost at {since}: its balance is final after the waiting"
                f" period, at {ready.isoformat(timespec='seconds')} (uploads of offline terminals arrive meanwhile)"
            )

    def replace(
        self, *, old_card_number: str, new_card_number: str, operator_id: str, reason: str, client: str,
        old_purse_factor: str = "", new_purse_factor: str = "", new_opening_balance_fen: int = 0,
    ) -> tuple[CardRecord, Credit | None]:  # fmt: skip
        """补卡 (module docstring); ``(old card, transfer credit or None for a zero balance)``.

        The old card: ``old_card_number`` (+ ``old_purse_factor``), by default the holder's current card. The new
        card: ``new_card_number`` + ``new_purse_factor``. A new card of the **same holder** (same KH) is registered
        here, in the same transaction, with the old card's masked ID and institution and
        ``new_opening_balance_fen`` (a daemon that saw it earlier could not register it: the old card was still
        current); a new card of another KH must be registered and ISSUED. A repeat of a replacement that was done
        answers the same (old card, credit) and changes nothing.
        """
        check_card_number(old_card_number)
        check_card_number(new_card_number)
        old_factor = check_factor(old_purse_factor, "old_purse_factor", required=False)
        new_factor = check_factor(new_purse_factor, "new_purse_factor", required=False)
        operator_id, reason = _text(operator_id, "operator_id"), _text(reason, "reason")
        same_holder = old_card_number == new_card_number
        if same_holder and not new_factor:
            raise DataError("new_purse_factor: required for a new card of the same holder (same card number)",
                            field="new_purse_factor")  # fmt: skip
        if isinstance(new_opening_balance_fen, bool) or new_opening_balance_fen < 0:
            raise DataError("new_opening_balance_fen must be >= 0", field="new_opening_balance_fen")
        with self.db.transaction(lists=True) as cur:
            old = resolve(cur, old_card_number, old_factor, lock=True)
            if old is None:
                raise not_registered(old_card_number, old_factor)
            if old.key == (new_card_number, new_factor) and not old_factor:  # a repeat: KH now names the new card
                rows = cur.execute(
                    "SELECT * FROM cards WHERE replaced_by = ? AND replaced_by_factor = ?{for_update}", old.key
                )
                old = CardRecord.from_row(rows[0]) if rows else old
            if old.key == (new_card_number, new_factor):
                raise DataError("the new card must be another card", field="new_purse_factor")
            done = self._replaced_already(cur, old, new_card_number, new_factor)
            if done is not None:
                return old, done[0]
            self._lost_long_enough(cur, old)
            new = resolve(cur, new_card_number, new_factor, lock=True)
            if new is not None and new.key == old.key:
                raise DataError("the new card must be another card", field="new_card_number")
            if new is None and not same_holder:
                raise not_registered(new_card_number, new_factor)
            if new is not None and new.status is not CardStatus.ISSUED:
                raise CardStatusConflictError(f"the new card {new_card_number} is {new.status.value}, not ISSUED")
            new_key = new.key if new is not None else (new_card_number, new_factor)
            record, _ = self.registry.change_status(
                old.card_number, CardStatus.REPLACED, operator_id=operator_id, reason=reason, client=client,
                replaced_by=new_key, purse_factor=old.purse_factor, cur=cur,
            )  # fmt: skip
            if new is None:
                inserted = Registry.insert(
                    cur, card_number=new_card_number, masked_id=old.masked_id, institution=old.institution,
                    purse_factor=new_factor, opening_balance_fen=new_opening_balance_fen, operator_id=operator_id,
                    client=client, reason=f"registered (补卡: replaces the card with purse factor {old.purse_factor})",
                )  # fmt: skip
                if inserted is None:
                    raise CardStatusConflictError(f"card number {new_card_number} got another current card; retry")
            credit = None
            if old.shadow_balance_fen > 0:
                row = cur.execute(
                    "INSERT INTO credits (card_number, purse_factor, kind, amount_fen, reference, operator_id, reason,"
                    " request_id, created_at) VALUES (?, ?, 'TRANSFER', ?, ?, ?, ?, ?, ?) RETURNING *",
                    (*new_key, old.shadow_balance_fen, f"{old.card_number}/{old.purse_factor}", operator_id, reason,
                     f"transfer:{old.card_number}:{old.purse_factor}", now_iso()),
                )  # fmt: skip
                credit = Credit.from_row(row[0])
                cur.execute("UPDATE cards SET shadow_balance_fen = 0 WHERE card_number = ? AND purse_factor = ?",
                            old.key)  # fmt: skip
            return record, credit

    @staticmethod
    def _replaced_already(
        cur: Cursor, old: CardRecord, new_card_number: str, new_factor: str
    ) -> tuple[Credit | None] | None:
        """``(transfer credit or None,)`` when ``old`` was replaced by exactly this new card (a repeated call)."""
        if old.status is not CardStatus.REPLACED or old.replaced_by != new_card_number:
            return None
        if new_factor and old.replaced_by_factor != new_factor:
            return None
        rows = cur.execute(
            "SELECT * FROM credits WHERE request_id = ?", (f"transfer:{old.card_number}:{old.purse_factor}",)
        )
        return (Credit.from_row(rows[0]) if rows else None,)

    def cancel(
        self, *, card_number: str, operator_id: str, reason: str, client: str, purse_factor: str = "",
        unload_node_id: str = "", unload_transaction_id: str = "",
    ) -> tuple[CardRecord, int]:  # fmt: skip
        """注销 (module docstring): without the card, or with it after its unload (``unload_node_id`` and
        ``unload_transaction_id`` name it); ``(card, payout in fen)``."""
        check_card_number(card_number)
        factor = check_factor(purse_factor, required=False)
        operator_id, reason = _text(operator_id, "operator_id"), _text(reason, "reason")
        by_unload = bool(unload_node_id or unload_transaction_id)
        if by_unload:
            unload_node_id = _text(unload_node_id, "unload_node_id")
            unload_transaction_id = _text(unload_transaction_id, "unload_transaction_id")
        with self.db.transaction(lists=True) as cur:
            card = resolve(cur, card_number, factor, lock=True)
            if card is None:
                raise not_registered(card_number, factor)
            if by_unload:
                payout = _unloaded(cur, card, unload_node_id, unload_transaction_id)
                record, _ = self.registry.change_status(
                    card_number, CardStatus.CANCELLED, operator_id=operator_id, reason=reason, client=client,
                    purse_factor=card.purse_factor, cur=cur,
                )  # fmt: skip
                return record, payout
            self._lost_long_enough(cur, card)
            record, _ = self.registry.change_status(
                card_number, CardStatus.CANCELLED, operator_id=operator_id, reason=reason, client=client,
                purse_factor=card.purse_factor, cur=cur,
            )  # fmt: skip
            payout = max(card.shadow_balance_fen, 0)
            cur.execute(
                "INSERT INTO payouts (card_number, purse_factor, amount_fen, operator_id, reason, paid_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*card.key, payout, operator_id, reason, now_iso()),
            )
            cur.execute("UPDATE cards SET shadow_balance_fen = 0 WHERE card_number = ? AND purse_factor = ?", card.key)
            return record, payout
