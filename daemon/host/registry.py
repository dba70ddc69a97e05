"""The card registry, the card status machine and the blacklist (issue #12; clearing practice, sources.md H4).

Status machine (docs/host.md)::

    ISSUED --挂失 ReportLost--> LOST --解挂 ReportFound--> ISSUED
    LOST --补卡 (replacement)--> REPLACED        (final, listed for good)
    ISSUED | LOST --注销 (cancellation)--> CANCELLED   (final, listed for good)

A physical card is identified by its card number (KH) and its purse factor (:mod:`daemon.host.schema`): for the
resident health card the KH is the holder's ID number, so every card of one holder has the same KH. At most one
card per KH is *current* (ISSUED or LOST); an RPC that names a card by KH alone means the holder's current card
(else the newest one), and a purse factor selects a specific card (:meth:`Registry.resolve`).

A card is *listed* (daemons refuse it) in every status but ISSUED. Each change writes, in one transaction, the
card's new status, a ``card_events`` row (operator, reason, client, time) and, when being listed changes, a
``blacklist`` row whose version the daemons follow. The host stores only a masked ID number (``masked_id``):
a value that looks like a whole ID number is refused.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apdu.errors import DataError
from daemon.host.db import Cursor, LedgerDb, Row
from daemon.host.errors import CardAlreadyRegisteredError, CardNotRegisteredError, CardStatusConflictError

__all__ = [
    "HOLDER_FIELDS",
    "BlacklistChange",
    "CardRecord",
    "CardStatus",
    "KeptVisit",
    "Registry",
    "StatusChange",
    "VisitUpload",
    "check_factor",
    "now_iso",
    "resolve",
]


class CardStatus(enum.StrEnum):
    """Where a card stands."""

    ISSUED = "ISSUED"
    LOST = "LOST"
    REPLACED = "REPLACED"
    CANCELLED = "CANCELLED"

    @property
    def listed(self) -> bool:
        """Daemons refuse the card in this status."""
        return self is not CardStatus.ISSUED

    @property
    def current(self) -> bool:
        """The holder's current card (at most one per KH): ISSUED or LOST."""
        return self in {CardStatus.ISSUED, CardStatus.LOST}


#: The allowed transitions (module docstring).
TRANSITIONS: dict[CardStatus, frozenset[CardStatus]] = {
    CardStatus.ISSUED: frozenset({CardStatus.LOST, CardStatus.CANCELLED}),
    CardStatus.LOST: frozenset({CardStatus.ISSUED, CardStatus.REPLACED, CardStatus.CANCELLED}),
    CardStatus.REPLACED: frozenset(),
    CardStatus.CANCELLED: frozenset(),
}

#: The holder fields the host keeps for 补卡 (the card's holder data as IssueCard writes it).
HOLDER_FIELDS = ("name", "gender", "ethnicity", "birth_date", "id_number")
_CARD_NUMBER = re.compile(r"^[0-9A-Za-z]{1,32}$")
_FACTOR = re.compile(r"^[0-9A-F]{16}$")
_LONG_DIGITS = re.compile(r"[0-9]{12,}")
_MAX_TEXT = 256


def now_iso() -> str:
    """The current UTC time as the ledger stores it."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class CardRecord:
    """One registry row."""

    card_number: str
    masked_id: str
    institution: str
    purse_factor: str
    status: CardStatus
    replaced_by: str
    opening_balance_fen: int
    shadow_balance_fen: int
    registered_at: str
    registered_by: str
    replaced_by_factor: str = ""

    @classmethod
    def from_row(cls, row: Row) -> CardRecord:
        """From a ``cards`` row."""
        return cls(
            card_number=row["card_number"], masked_id=row["masked_id"], institution=row["institution"],
            purse_factor=row["purse_factor"], status=CardStatus(row["status"]), replaced_by=row["replaced_by"],
            opening_balance_fen=int(row["opening_balance_fen"]), shadow_balance_fen=int(row["shadow_balance_fen"]),
            registered_at=row["registered_at"], registered_by=row["registered_by"],
            replaced_by_factor=row["replaced_by_factor"],
        )  # fmt: skip

    @property
    def key(self) -> tuple[str, str]:
        """The physical card: (KH, purse factor)."""
        return self.card_number, self.purse_factor


@dataclass(frozen=True)
class VisitUpload:
    """One visit record a daemon wrote onto a card (``UploadedVisitRecord``)."""

    record_key: str
    card_number: str
    purse_factor: str
    kind: str
    slot: int
    items: Mapping[int, str]
    #: The signature r‖s and the signer key x‖y the daemon read back from the card (hex; empty from older daemons).
    signature: str = ""
    signer_key: str = ""
    #: What the host's check found (:func:`healthcard.api.check_reported` value): only ``valid`` is kept for 补卡.
    status: str = "unsigned"


@dataclass(frozen=True)
class KeptVisit:
    """A visit record the host keeps for 補卡: ``(kind, slot, items)`` and the signer key it was checked with."""

    kind: str
    slot: int
    items: dict[int, str]
    signer_key: str


@dataclass(frozen=True)
class StatusChange:
    """One ``card_events`` row."""

    card_number: str
    purse_factor: str
    from_status: CardStatus
    to_status: CardStatus
    operator_id: str
    reason: str
    client: str
    changed_at: str


@dataclass(frozen=True)
class BlacklistChange:
    """One ``blacklist`` row."""

    version: int
    card_number: str
    purse_factor: str
    listed: bool
    status: CardStatus
    changed_at: str


def check_card_number(card_number: str) -> str:
    """A KH of 1-32 letters and digits, else :class:`DataError`."""
    if not _CARD_NUMBER.match(card_number or ""):
        raise DataError("card_number: 1-32 letters or digits", field="card_number")
    return card_number


def check_factor(purse_factor: str, field: str = "purse_factor", *, required: bool = True) -> str:
    """A purse factor: 16 hex digits (EF15 bytes 12..19), upper case; ``""`` allowed when not ``required``."""
    factor = (purse_factor or "").upper()
    if (factor or required) and not _FACTOR.match(factor):
        raise DataError(f"{field}: 16 hex digits (EF15 bytes 12..19)", field=field)
    return factor


#: The card a KH (and optionally a factor) names: that physical card, else the holder's current card (ISSUED or
#: LOST; at most one), else the newest card of the KH. ``{for_update}`` locks it (PostgreSQL).
_RESOLVE = (
    "SELECT * FROM cards WHERE card_number = ? AND (? = '' OR purse_factor = ?) ORDER BY CASE WHEN status IN"
    " ('ISSUED', 'LOST') THEN 0 ELSE 1 END, registered_at DESC LIMIT 1"
)


def resolve(cur: Cursor, card_number: str, purse_factor: str = "", *, lock: bool = False) -> CardRecord | None:
    """The card ``card_number`` (+ ``purse_factor``) names, in a transaction (module docstring); ``None``."""
    rows = cur.execute(_RESOLVE + ("{for_update}" if lock else ""), (card_number, purse_factor, purse_factor))
    return CardRecord.from_row(rows[0]) if rows else None


def not_registered(card_number: str, purse_factor: str = "") -> CardNotRegisteredError:
    """The error for a card the registry does not hold."""
    which = f" with purse factor {purse_factor}" if purse_factor else ""
    return CardNotRegisteredError(f"card {card_number}{which} is not registered at the host")


def _text(value: str, name: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DataError(f"{name} is required", field=name)
    if len(value) > _MAX_TEXT:
        raise DataError(f"{name}: at most {_MAX_TEXT} characters", field=name)
    return value


def check_masked_id(masked_id: str) -> str:
    """A masked ID number: must hide digits with ``*`` and may not show 12 or more digits in a row."""
    masked_id = _text(masked_id, "masked_id")
    if "*" not in masked_id or _LONG_DIGITS.search(masked_id):
        raise DataError("masked_id: give the ID number masked (e.g. 110105********0030), never in full",
                        field="masked_id")  # fmt: skip
    return masked_id


class Registry:
    """Cards, their status changes and the blacklist, in the ledger database."""

    def __init__(self, db: LedgerDb) -> None:
        self.db = db

    # --- reading ------------------------------------------------------------------------------------------

    def find(self, card_number: str, purse_factor: str = "") -> CardRecord | None:
        """The card a KH (+ factor) names (module docstring), or ``None``."""
        factor = check_factor(purse_factor, required=False)
        rows = self.db.query(_RESOLVE, (check_card_number(card_number), factor, factor))
        return CardRecord.from_row(rows[0]) if rows else None

    def get(self, card_number: str, purse_factor: str = "") -> CardRecord:
        """The card a KH (+ factor) names, or :class:`CardNotRegisteredError`."""
        record = self.find(card_number, purse_factor)
        if record is None:
            raise not_registered(card_number, purse_factor)
        return record

    def cards_of(self, card_number: str) -> list[CardRecord]:
        """Every physical card of a KH, oldest first (a holder's cards)."""
        rows = self.db.query(
            "SELECT * FROM cards WHERE card_number = ? ORDER BY registered_at", (check_card_number(card_number),)
        )
        return [CardRecord.from_row(r) for r in rows]

    def history(self, card_number: str, purse_factor: str) -> list[StatusChange]:
        """Every status change of the physical card, oldest first."""
        rows = self.db.query(
            "SELECT * FROM card_events WHERE card_number = ? AND purse_factor = ? ORDER BY event_id",
            (check_card_number(card_number), check_factor(purse_factor)),
        )
        return [
            StatusChange(
                r["card_number"],
                r["purse_factor"],
                CardStatus(r["from_status"]),
                CardStatus(r["to_status"]),
                r["operator_id"],
                r["reason"],
                r["client"],
                r["changed_at"],
            )
            for r in rows
        ]

    def blacklist_since(self, version: int, limit: int = 500) -> list[BlacklistChange]:
        """Blacklist changes with a version above ``version``, oldest first (keyset paging by version)."""
        rows = self.db.query(
            "SELECT * FROM blacklist WHERE version > ? ORDER BY version LIMIT ?", (int(version), int(limit))
        )
        return [
            BlacklistChange(
                int(r["version"]),
                r["card_number"],
                r["purse_factor"],
                bool(r["listed"]),
                CardStatus(r["status"]),
                r["changed_at"],
            )
            for r in rows
        ]

    def blacklist_version(self) -> int:
        """The newest blacklist version (0 for an empty list)."""
        rows = self.db.query("SELECT MAX(version) AS v FROM blacklist")
        return int(rows[0]["v"] or 0)

    def holder(self, card_number: str) -> tuple[dict[str, str], str, str] | None:
        """The holder's data kept for the KH ``(fields, updated_at, updated_by)``; ``None`` when the host has none."""
        rows = self.db.query("SELECT * FROM holders WHERE card_number = ?", (check_card_number(card_number),))
        if not rows:
            return None
        return dict(json.loads(rows[0]["holder"])), rows[0]["updated_at"], rows[0]["updated_by"]

    def visits(self, card_number: str, purse_factor: str = "") -> list[KeptVisit]:
        """The visit records daemons wrote onto the card (KH + factor, else the holder's current card) whose
        signature the host found VALID at upload, oldest first."""
        card = self.find(card_number, purse_factor)
        if card is None:
            return []
        rows = self.db.query(
            "SELECT kind, slot, items, signer_key FROM visit_records WHERE card_number = ? AND purse_factor = ?"
            " AND signature_status = 'valid' ORDER BY record_id",
            card.key,
        )
        return [
            KeptVisit(
                r["kind"], int(r["slot"]), {int(k): v for k, v in json.loads(r["items"]).items()}, r["signer_key"]
            )
            for r in rows
        ]

    # --- changing -----------------------------------------------------------------------------------------

    def keep_visits(self, node_id: str, records: Sequence[VisitUpload]) -> tuple[int, int]:
        """Keep visit records a daemon wrote (each once per node and record key); ``(recorded, duplicates)``."""
        if not 0 < len(node_id) <= 64:
            raise DataError("node_id: 1-64 characters", field="node_id")
        if len(records) > 500:
            raise DataError("records: at most 500 per upload", field="records")
        for i, r in enumerate(records):
            check_card_number(r.card_number)
            check_factor(r.purse_factor, f"records[{i}].purse_factor")
            if r.kind not in {"inpatient", "outpatient"} or not r.items or not 0 < len(r.record_key) <= 128:
                raise DataError(f"records[{i}]: kind, items and record_key are required", field=f"records[{i}]")
            if any(len(v) > 256 for v in r.items.values()):
                raise DataError(f"records[{i}].items: at most 256 characters each", field=f"records[{i}].items")
        recorded = 0
        with self.db.transaction() as cur:
            for r in records:
                cur.execute(
                    "INSERT INTO visit_records (node_id, record_key, card_number, purse_factor, kind, slot, items,"
                    " received_at, signature, signer_key, signature_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (node_id, record_key) DO NOTHING",
                    (node_id, r.record_key, r.card_number, r.purse_factor.upper(), r.kind, r.slot,
                     json.dumps({str(k): v for k, v in sorted(r.items.items())}, ensure_ascii=False), now_iso(),
                     r.signature[:128], r.signer_key[:128], r.status),
                )  # fmt: skip
                recorded += cur.rowcount()
        return recorded, len(records) - recorded

    def keep_holder(self, card_number: str, holder: Mapping[str, str], client: str) -> None:
        """Keep the holder's data a daemon issued onto a card of ``card_number`` (module docstring; personal data).

        Only the fields of :data:`HOLDER_FIELDS`, each at most 64 characters; ``id_number`` must be the KH.
        """
        check_card_number(card_number)
        fields = {k: str(v).strip() for k, v in holder.items() if k in HOLDER_FIELDS and str(v).strip()}
        for name, value in fields.items():
            if len(value) > 64:
                raise DataError(f"holder.{name}: at most 64 characters", field=f"holder.{name}")
        if fields.get("id_number", card_number) != card_number:
            raise DataError("holder.id_number: must equal the card number (KH)", field="holder.id_number")
        if not fields.get("name"):
            raise DataError("holder.name is required", field="holder.name")
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO holders (card_number, holder, updated_at, updated_by) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (card_number) DO UPDATE SET holder = excluded.holder, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (card_number, json.dumps(fields, ensure_ascii=False, sort_keys=True), now_iso(), client),
            )

    def register(
        self, *, card_number: str, masked_id: str, institution: str, purse_factor: str, opening_balance_fen: int,
        operator_id: str, client: str, observed: bool = False,
    ) -> tuple[CardRecord, bool]:  # fmt: skip
        """Record an issued card; ``(record, created)``. The same card with the same facts is not an error.

        ``observed``: a card a daemon saw rather than issued — an existing registration wins, whatever its facts:
        that of the same physical card, or the holder's current card when this one is another (a second card of
        a holder becomes current only through 补卡, :meth:`daemon.host.credits.Credits.replace`). Issuing a card
        for a KH that has a current card with another factor is :class:`CardAlreadyRegisteredError`.
        """
        check_card_number(card_number)
        masked_id = check_masked_id(masked_id)
        institution = _text(institution, "institution")
        operator_id = _text(operator_id, "operator_id")
        factor = check_factor(purse_factor)
        if isinstance(opening_balance_fen, bool) or opening_balance_fen < 0:
            raise DataError("opening_balance_fen must be >= 0", field="opening_balance_fen")
        with self.db.transaction() as cur:
            existing = resolve(cur, card_number, factor, lock=True) or resolve(cur, card_number, lock=True)
            if existing is not None and (existing.purse_factor == factor or existing.status.current):
                if observed:
                    return existing, False
                if existing.purse_factor != factor:
                    raise CardAlreadyRegisteredError(
                        f"card number {card_number} has a current card ({existing.status.value}, purse factor"
                        f" {existing.purse_factor}): replace (补卡) or cancel (注销) it first"
                    )
                same = (existing.masked_id, existing.institution, existing.opening_balance_fen) == (
                    masked_id, institution, opening_balance_fen)  # fmt: skip
                if not same:
                    raise CardAlreadyRegisteredError(f"card {card_number} is registered with other facts")
                return existing, False
            record = self.insert(
                cur, card_number=card_number, masked_id=masked_id, institution=institution, purse_factor=factor,
                opening_balance_fen=opening_balance_fen, operator_id=operator_id, client=client,
                reason="registered (seen by a daemon)" if observed else "registered",
            )  # fmt: skip
            if record is None:  # registered by a concurrent call between the SELECT and the INSERT
                if observed:
                    found = resolve(cur, card_number, factor) or resolve(cur, card_number)
                    if found is not None:
                        return found, False
                raise CardAlreadyRegisteredError(f"card {card_number} was registered concurrently; retry")
        return record, True

    @staticmethod
    def insert(
        cur: Cursor, *, card_number: str, masked_id: str, institution: str, purse_factor: str,
        opening_balance_fen: int, operator_id: str, client: str, reason: str,
    ) -> CardRecord | None:  # fmt: skip
        """Insert an ISSUED card and its registration event (checked input); ``None`` if the key was taken."""
        at = now_iso()
        cur.execute(
            "INSERT INTO cards (card_number, masked_id, institution, purse_factor, status, opening_balance_fen,"
            " shadow_balance_fen, registered_at, registered_by) VALUES (?, ?, ?, ?, 'ISSUED', ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (card_number, masked_id, institution, purse_factor, opening_balance_fen, opening_balance_fen, at,
             operator_id),
        )  # fmt: skip
        if cur.rowcount() == 0:
            return None
        cur.execute(
            "INSERT INTO card_events (card_number, purse_factor, from_status, to_status, operator_id, reason, client,"
            " changed_at) VALUES (?, ?, 'ISSUED', 'ISSUED', ?, ?, ?, ?)",
            (card_number, purse_factor, operator_id, reason, client, at),
        )
        return resolve(cur, card_number, purse_factor)

    def change_status(
        self, card_number: str, to: CardStatus, *, operator_id: str, reason: str, client: str,
        expect: frozenset[CardStatus] | None = None, replaced_by: tuple[str, str] = ("", ""),
        purse_factor: str = "", cur: Cursor | None = None,
    ) -> tuple[CardRecord, int]:  # fmt: skip
        """Move the card (KH + ``purse_factor``, else the holder's current card) to ``to``; ``(record, version)``.

        Records who, why and when. ``replaced_by``: the new card (KH, factor) of a replacement.

        ``expect``: the statuses the card must be in (default: any that may go to ``to``). The blacklist version
        is that of this change, or the current one when being listed did not change. ``cur``: run inside the
        caller's transaction (which must have been opened with ``lists=True``).
        """
        check_card_number(card_number)
        factor = check_factor(purse_factor, required=False)
        operator_id = _text(operator_id, "operator_id")
        reason = _text(reason, "reason")
        if cur is None:
            with self.db.transaction(lists=True) as own:
                return self._change(own, (card_number, factor), to, operator_id, reason, client, expect, replaced_by)
        return self._change(cur, (card_number, factor), to, operator_id, reason, client, expect, replaced_by)

    def _change(
        self, cur: Cursor, card: tuple[str, str], to: CardStatus, operator_id: str, reason: str, client: str,
        expect: frozenset[CardStatus] | None, replaced_by: tuple[str, str],
    ) -> tuple[CardRecord, int]:  # fmt: skip
        found = resolve(cur, *card, lock=True)
        if found is None:
            raise not_registered(*card)
        record = found
        card_number, factor = record.key
        allowed = expect if expect is not None else frozenset(s for s, nxt in TRANSITIONS.items() if to in nxt)
        if record.status not in allowed or to not in TRANSITIONS[record.status]:
            raise CardStatusConflictError(f"card {card_number} is {record.status.value}: it cannot become {to.value}")
        at = now_iso()
        new_number, new_factor = replaced_by if replaced_by[0] else (record.replaced_by, record.replaced_by_factor)
        cur.execute(
            "UPDATE cards SET status = ?, replaced_by = ?, replaced_by_factor = ? WHERE card_number = ?"
            " AND purse_factor = ?",
            (to.value, new_number, new_factor, card_number, factor),
        )
        cur.execute(
            "INSERT INTO card_events (card_number, purse_factor, from_status, to_status, operator_id, reason, client,"
            " changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (card_number, factor, record.status.value, to.value, operator_id, reason, client, at),
        )
        if record.status.listed or to.listed:  # listed, unlisted, or listed for another reason (LOST -> REPLACED)
            version = cur.execute(
                "INSERT INTO blacklist (card_number, purse_factor, listed, status, changed_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING version",
                (card_number, factor, int(to.listed), to.value, at),
            )[0]["version"]
        else:
            version = cur.execute("SELECT MAX(version) AS v FROM blacklist")[0]["v"] or 0
        changed = resolve(cur, card_number, factor)
        assert changed is not None  # locked above
        return changed, int(version)
