"""Online load authorisation (clearing practice, sources.md H3; JR/T 0025.2 load MAC/TAC).

A daemon sends what the card answered to INITIALIZE FOR LOAD (balance, online counter, random, MAC1) with the
amount, its terminal id, the date-time it will use and the card's purse factor (EF15, naming the physical card
among the holder's cards). The host takes the key's diversification factor from the registry row that the card
number and factor name (never from the request alone: a factor the registry does not hold for the card number is
``CARD_NOT_REGISTERED``; without one, the holder's current card), refuses a card that is not ISSUED
(``CARD_LISTED``) or unknown, checks MAC1 with the card's load key (``WRONG_MAC``), records the authorisation and
answers MAC2. The load reaches the ledger and the shadow balance when the daemon uploads it with the card's TAC
(:mod:`daemon.host.clearing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NotRequired, TypedDict, Unpack

import grpc

from apdu.errors import DataError
from daemon.errors import DaemonError, R
from daemon.host.db import LedgerDb
from daemon.host.keystore import HostKeyStore, LoadFields
from daemon.host.registry import CardRecord, CardStatus, Registry, check_card_number, check_factor, now_iso

__all__ = ["CardAnswer", "LoadAuthorisation", "LoadRefusedError", "Loads", "WrongMac1Error", "checked_request"]

_HEX8 = re.compile(r"^[0-9A-F]{8}$")
_HEX12 = re.compile(r"^[0-9A-F]{12}$")
_TIME = re.compile(r"^[0-9]{14}$")
MAX_LOAD_FEN = 1_000_000  # 10,000 yuan per load


class LoadRefusedError(DaemonError):
    """The host does not authorise this load or unload (the card's status)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = R.ERROR_REASON_CARD_LISTED
    field = "card_number"


class WrongMac1Error(DaemonError):
    """MAC1 does not verify with the card's load key: not the card it claims to be, or a tampered request."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = R.ERROR_REASON_WRONG_MAC
    field = "mac1"


@dataclass(frozen=True)
class LoadAuthorisation:
    """MAC2, the host's number for it, and the credit it pays (``"REFUND"``/``"TRANSFER"``, empty for cash)."""

    mac2: bytes
    authorisation_id: int
    credit_kind: str = ""


class CardAnswer(TypedDict):
    """What a daemon sends to have a load or an unload authorised (``AuthoriseLoadRequest``,
    ``AuthoriseUnloadRequest``): the card's answer to INITIALIZE FOR LOAD/UNLOAD, the amount, its terminal id, the
    date-time it will use and the card's purse factor (hex text as on the wire)."""

    node_id: str
    card_number: str
    amount_fen: int
    balance_before_fen: int
    online_counter: int
    icc_random: str
    mac1: str
    terminal_id: str
    card_time: str
    algorithm: int
    purse_factor: NotRequired[str]
    key_version: NotRequired[int]


def checked_request(registry: Registry, what: str, answer: CardAnswer) -> tuple[CardRecord, LoadFields]:
    """A load's or an unload's request (``what``) checked: the registry's card — ISSUED, else ``CARD_LISTED``
    (:class:`LoadRefusedError`) — and the fields MAC1 and MAC2 cover. Malformed input is :class:`DataError`."""
    node_id, card_number, card_time = answer["node_id"], answer["card_number"], answer["card_time"]
    amount_fen, balance_before_fen = answer["amount_fen"], answer["balance_before_fen"]
    online_counter, algorithm, key_version = answer["online_counter"], answer["algorithm"], answer.get("key_version", 1)
    check_card_number(card_number)
    purse_factor = check_factor(answer.get("purse_factor", ""), required=False)
    icc_random, mac1, terminal_id = answer["icc_random"].upper(), answer["mac1"].upper(), answer["terminal_id"].upper()
    if not 0 < amount_fen <= MAX_LOAD_FEN:
        raise DataError(f"amount_fen: 1..{MAX_LOAD_FEN}", field="amount_fen")
    if balance_before_fen < 0 or not 0 <= online_counter <= 0xFFFF:
        raise DataError("balance_before_fen >= 0 and online_counter 0..65535", field="online_counter")
    for name, value, pattern in (
        ("icc_random", icc_random, _HEX8),
        ("mac1", mac1, _HEX8),
        ("terminal_id", terminal_id, _HEX12),
        ("card_time", card_time, _TIME),
    ):
        if not pattern.match(value):
            raise DataError(f"{name}: malformed", field=name)
    if not 0 <= key_version <= 0xFF or not 0 <= algorithm <= 0xFF:
        raise DataError(f"key_version and algorithm: one byte each (from INITIALIZE FOR {what.upper()})",
                        field="key_version")  # fmt: skip
    if not 0 < len(node_id) <= 64:
        raise DataError("node_id: 1-64 characters", field="node_id")
    card = registry.get(card_number, purse_factor)
    if card.status is not CardStatus.ISSUED:
        raise LoadRefusedError(f"card {card_number} is {card.status.value} at the host: no {what}")
    fields = LoadFields(
        algorithm=algorithm, amount_fen=amount_fen, balance_before_fen=balance_before_fen,
        online_counter=online_counter, icc_random=bytes.fromhex(icc_random), mac1=bytes.fromhex(mac1),
        terminal_id=bytes.fromhex(terminal_id), card_time=card_time, key_version=key_version,
    )  # fmt: skip
    return card, fields


class Loads:
    """Load authorisation over the registry and the key store."""

    def __init__(self, db: LedgerDb, registry: Registry, keys: HostKeyStore) -> None:
        self.db = db
        self.registry = registry
        self.keys = keys

    def authorise(self, **answer: Unpack[CardAnswer]) -> LoadAuthorisation:
        """Check and answer one load (module docstring)."""
        card, fields = checked_request(self.registry, "load", answer)
        node_id, card_number, card_time = answer["node_id"], answer["card_number"], answer["card_time"]
        amount_fen, online_counter = fields.amount_fen, fields.online_counter
        balance_before_fen = fields.balance_before_fen
        terminal_id = fields.terminal_id.hex().upper()
        mac2 = self.keys.load_mac2(bytes.fromhex(card.purse_factor), fields)
        if mac2 is None:
            raise WrongMac1Error("MAC1 does not verify with the card's load key")
        with self.db.transaction() as cur:
            # A credit owed to the card (refund, replaced card's balance) of exactly this amount is paid by this
            # load. An earlier authorisation for the same online counter was never used by the card (the counter
            # moves only with a credited load), so its credit is free again.
            credit = cur.execute(
                "SELECT credit_id, kind FROM credits WHERE card_number = ? AND purse_factor = ? AND amount_fen = ?"
                " AND (authorisation_id IS NULL OR authorisation_id IN (SELECT authorisation_id FROM"
                " load_authorisations WHERE card_number = ? AND purse_factor = ? AND online_counter = ?))"
                " ORDER BY credit_id LIMIT 1{for_update}",
                (*card.key, amount_fen, *card.key, online_counter),
            )
            credit_id = int(credit[0]["credit_id"]) if credit else None
            row = cur.execute(
                "INSERT INTO load_authorisations (node_id, card_number, purse_factor, amount_fen, balance_before_fen,"
                " online_counter, terminal_id, card_time, authorised_at, credit_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING authorisation_id",
                (node_id, card_number, card.purse_factor, amount_fen, balance_before_fen, online_counter, terminal_id,
                 card_time, now_iso(), credit_id),
            )  # fmt: skip
            authorisation_id = int(row[0]["authorisation_id"])
            if credit_id is not None:
                cur.execute(
                    "UPDATE credits SET authorisation_id = ? WHERE credit_id = ?", (authorisation_id, credit_id)
                )
        return LoadAuthorisation(mac2, authorisation_id, str(credit[0]["kind"]) if credit else "")
