"""Unload (圈提) authorisation with the card present, and the check of an unload's upload (issue #12).

Cancellation (注销) with the card present pays the balance out on the card itself: the counter's daemon runs
INITIALIZE FOR UNLOAD / DEBIT FOR UNLOAD (JR/T 0025.1) and asks the host for MAC2 (``AuthoriseUnload``) with what
the card answered. As for a load (:mod:`daemon.host.loads`, whose request checks it shares), the host takes the
key's factor from its registry, refuses a card that is not ISSUED (``CARD_LISTED``) and a MAC1 that does not
verify with the card's *unload* key (``WRONG_MAC``); it records the authorisation **with the answer MAC the card
must give** (``unload_authorisations.answer_mac``: the unload session key's MAC, :func:`sam.crypto.unload_mac`)
and answers MAC2. The daemon never learns that answer MAC: when the unload's upload arrives, :func:`verdict`
books it (``VERIFIED``) only if the card's answer is the recorded one — a daemon cannot claim an unload the card
never made. A verified unload lowers the shadow balance like a debit and is cash paid out of the cashier's till
(daemon/host/settlement.py); ``CancelCard`` with the card present names it (daemon/host/credits.py).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Unpack

from apdu.errors import DataError
from daemon.host.db import Cursor, LedgerDb
from daemon.host.keystore import HostKeyStore
from daemon.host.loads import CardAnswer, WrongMac1Error, checked_request
from daemon.host.registry import CardRecord, Registry, now_iso

__all__ = ["UnloadAuthorisation", "Unloads", "verdict"]


@dataclass(frozen=True)
class UnloadAuthorisation:
    """MAC2 for DEBIT FOR UNLOAD and the host's number for it."""

    mac2: bytes
    authorisation_id: int


class Unloads:
    """Unload authorisation over the registry and the key store."""

    def __init__(self, db: LedgerDb, registry: Registry, keys: HostKeyStore) -> None:
        self.db = db
        self.registry = registry
        self.keys = keys

    def authorise(self, **answer: Unpack[CardAnswer]) -> UnloadAuthorisation:
        """Check and answer one unload (module docstring)."""
        card, fields = checked_request(self.registry, "unload", answer)
        if fields.amount_fen > fields.balance_before_fen:
            raise DataError("amount_fen: an unload is at most the card's balance", field="amount_fen")
        macs = self.keys.unload_macs(bytes.fromhex(card.purse_factor), fields)
        if macs is None:
            raise WrongMac1Error("MAC1 does not verify with the card's unload key")
        with self.db.transaction() as cur:
            row = cur.execute(
                "INSERT INTO unload_authorisations (node_id, card_number, purse_factor, amount_fen, balance_before_fen,"
                " online_counter, terminal_id, card_time, answer_mac, authorised_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING authorisation_id",
                (answer["node_id"], card.card_number, card.purse_factor, fields.amount_fen, fields.balance_before_fen,
                 fields.online_counter, fields.terminal_id.hex().upper(), fields.card_time, macs.answer.hex().upper(),
                 now_iso()),
            )  # fmt: skip
        return UnloadAuthorisation(macs.mac2, int(row[0]["authorisation_id"]))


def verdict(
    cur: Cursor, card: CardRecord, *, amount_fen: int, card_counter: int, terminal_id: str, card_time: str, mac: str
) -> str:
    """The TAC verdict of an uploaded unload: ``VERIFIED`` when the host authorised this unload (card, online
    counter, amount, terminal, date-time) and ``mac`` is the answer MAC it recorded for it; otherwise ``FAILED``
    (a forged or corrupted record, or an unload this host never authorised)."""
    rows = cur.execute(
        "SELECT answer_mac FROM unload_authorisations WHERE card_number = ? AND purse_factor = ?"
        " AND online_counter = ? AND amount_fen = ? AND terminal_id = ? AND card_time = ?",
        (*card.key, card_counter, amount_fen, terminal_id.upper(), card_time),
    )
    ok = any(hmac.compare_digest(str(r["answer_mac"]), mac.upper()) for r in rows)
    return "VERIFIED" if ok else "FAILED"
