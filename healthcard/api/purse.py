"""E-purse transactions: balance, load (圈存), debit (消费) with the PSAM, and recovery of a torn debit.

Purchase (pboc-purse.md §4): INITIALIZE FOR PURCHASE → PSAM ``80 70`` (terminal serial ‖ MAC1) →
``journal.prepared()`` → DEBIT FOR PURCHASE (TAC ‖ MAC2) → PSAM ``80 72`` verifies MAC2 → ``journal.debited()``.
The journal entry written *before* the DEBIT is what makes a lost answer recoverable: ``recover_purchase``
asks the card with GET TRANSACTION PROVE (pboc-purse.md §2.6) whether the transaction with the counter after the
prepared one exists; ``None`` means the card never debited, so nothing was lost and nothing is taken twice.

Load (pboc-purse.md §2.1-§2.2, §3.3): VERIFY PIN (the load key's use right needs it, docs/profiles.md) →
INITIALIZE FOR LOAD (balance, online counter, random, MAC1) → a :class:`LoadAuthoriser` checks MAC1 and returns
MAC2 (at the issuer host or HSM in production; the demo key set in tests) → ``journal.prepared()`` → CREDIT FOR
LOAD → TAC → ``journal.loaded()``. ``recover_load`` mirrors ``recover_purchase``: GET TRANSACTION PROVE type 02
with the online counter after the prepared load.

Amounts are integer fen.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apdu import iso, pboc
from apdu.errors import DataError, LibraryError, MacError
from apdu.pboc import TransactionType
from apdu.records import (
    CreditForLoadResponse,
    DebitForPurchaseResponse,
    InitForLoadResponse,
    InitForPurchaseResponse,
    TransactionProveResponse,
)
from apdu.status import describe
from healthcard.api.access import CardAccess
from healthcard.api.reading import read_balance, read_binary
from healthcard.codecs import PurseApplicationData
from healthcard.issuance.keysource import DEMO_KEYS_PATH
from sam.crypto import Algorithm, diversify, load_mac1, load_mac2, load_session_key

__all__ = [
    "SW_NO_TRANSACTION",
    "DebitJournal",
    "DemoLoadAuthoriser",
    "LoadAuthoriser",
    "LoadJournal",
    "LoadRequest",
    "LoadResult",
    "PreparedDebit",
    "PreparedLoad",
    "PurchaseResult",
    "debit",
    "load",
    "recover_load",
    "recover_purchase",
]

SW_NO_TRANSACTION = 0x9406
MAX_AMOUNT = 0xFFFFFFFF


@dataclass(frozen=True)
class PreparedDebit:
    """A purchase between INITIALIZE and DEBIT: what a journal must keep to recover it."""

    card_number: str
    amount_fen: int
    balance_before_fen: int
    offline_counter: int
    terminal_id: str
    terminal_serial: int
    when: _dt.datetime


@dataclass(frozen=True)
class PurchaseResult:
    """A completed purchase: balance after, the card counter used, the PSAM serial, TAC and MAC2 (hex)."""

    balance_fen: int
    card_counter: int
    terminal_id: str
    terminal_serial: int
    tac: str
    mac2: str
    when: _dt.datetime

    def to_json(self) -> dict[str, object]:
        """Stable JSON (ISO datetime)."""
        return {
            "balance_fen": self.balance_fen,
            "card_counter": self.card_counter,
            "terminal_id": self.terminal_id,
            "terminal_serial": self.terminal_serial,
            "tac": self.tac,
            "mac2": self.mac2,
            "when": self.when.isoformat(),
        }


@dataclass(frozen=True)
class LoadResult:
    """A completed load: balance after, the online counter used, terminal id, TAC (hex)."""

    balance_fen: int
    online_counter: int
    terminal_id: str
    tac: str
    when: _dt.datetime

    def to_json(self) -> dict[str, object]:
        """Stable JSON (ISO datetime)."""
        return {
            "balance_fen": self.balance_fen,
            "online_counter": self.online_counter,
            "terminal_id": self.terminal_id,
            "tac": self.tac,
            "when": self.when.isoformat(),
        }


@runtime_checkable
class DebitJournal(Protocol):
    """Where a terminal records purchases durably (the daemon's SQLite journal, a file ...)."""

    def prepared(self, prepared: PreparedDebit) -> None:
        """Called after MAC1 and before DEBIT FOR PURCHASE is sent; must be durable when it returns."""
        ...

    def debited(self, result: PurchaseResult) -> None:
        """Called right after the card's answer was checked by the PSAM (MAC2)."""
        ...


@dataclass(frozen=True)
class PreparedLoad:
    """A load between MAC2 and CREDIT FOR LOAD: what a journal must keep to recover it (pboc-purse.md §2.2, §2.6).

    ``online_counter`` is the card's online counter from INITIALIZE FOR LOAD (the load uses it; the card counts
    it up when it credits); ``terminal_id`` is hex.
    """

    card_number: str
    amount_fen: int
    balance_before_fen: int
    online_counter: int
    terminal_id: str
    when: _dt.datetime


@runtime_checkable
class LoadJournal(Protocol):
    """Where a terminal records loads durably, like :class:`DebitJournal` for purchases."""

    def prepared(self, prepared: PreparedLoad) -> None:
        """Called after the authoriser returned MAC2 and before CREDIT FOR LOAD is sent; must be durable."""
        ...

    def loaded(self, result: LoadResult) -> None:
        """Called right after the card answered CREDIT FOR LOAD with its TAC."""
        ...


@dataclass(frozen=True)
class LoadRequest:
    """What the card said in INITIALIZE FOR LOAD, for the authoriser to check MAC1 and make MAC2."""

    card_number: str
    diversification_factor: bytes
    amount_fen: int
    balance_before_fen: int
    online_counter: int
    key_version: int
    algorithm: int
    icc_random: bytes
    mac1: bytes
    terminal_id: bytes
    when: _dt.datetime
    transaction_type: int = TransactionType.EP_LOAD


@runtime_checkable
class LoadAuthoriser(Protocol):
    """Authorises a load: verifies the card's MAC1 and returns MAC2 (the issuer host or HSM holds the load key)."""

    def __call__(self, request: LoadRequest) -> bytes:
        """MAC2 (4 bytes); raise :class:`~apdu.errors.MacError`-like errors to refuse."""
        ...


class DemoLoadAuthoriser:
    """The demo load key (``sam/data/demo-keys.json``, test only): diversify, check MAC1, compute MAC2.

    pboc-purse.md §3.2-§3.3: SESLK = 3DES(DLK, random ‖ online counter ‖ 80 00); MAC1 over old balance ‖ amount
    ‖ type ‖ terminal; MAC2 over amount ‖ type ‖ terminal ‖ date ‖ time.
    """

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key

    def __repr__(self) -> str:
        return "DemoLoadAuthoriser(<key hidden>)"

    @classmethod
    def from_demo_keys(cls) -> DemoLoadAuthoriser:
        """Use the shipped demo load master key."""
        data = json.loads(DEMO_KEYS_PATH.read_text(encoding="utf-8"))
        return cls(bytes.fromhex(data["purse_app"]["master_keys"]["load"]))

    def __call__(self, request: LoadRequest) -> bytes:
        alg = Algorithm(request.algorithm)
        dlk = diversify(alg, self._master, request.diversification_factor)
        sk = load_session_key(alg, dlk, request.icc_random, request.online_counter)
        expected = load_mac1(
            alg, sk, request.balance_before_fen, request.amount_fen, request.transaction_type, request.terminal_id
        )
        if expected != request.mac1:
            raise MacError(0x9302, describe(0x9302))
        stamp = _bcd(request.when)
        return load_mac2(alg, sk, request.amount_fen, request.transaction_type, request.terminal_id, stamp)


def _bcd(when: _dt.datetime) -> bytes:
    return bytes.fromhex(when.strftime("%Y%m%d%H%M%S"))


def _amount(amount_fen: int) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise DataError("amounts are integer fen", field="amount")
    if not 0 < amount_fen <= MAX_AMOUNT:
        raise DataError(f"amount must be 1..{MAX_AMOUNT} fen, got {amount_fen}", field="amount")
    return amount_fen


def _now(when: _dt.datetime | None) -> _dt.datetime:
    return (when or _dt.datetime.now()).replace(microsecond=0)


class PurseContext:
    """Per-session purse facts read once: the EF15 diversification factor and the PSAM terminal id."""

    def __init__(self, access: CardAccess) -> None:
        self.access = access
        self._factor: bytes | None = None
        self._terminal_id: bytes | None = None

    def select(self) -> None:
        """SELECT the purse ADF (once per session while nothing else is selected)."""
        purse = self.access.profile.purse
        if purse is None:
            raise LibraryError("the card profile has no purse")
        self.access.select_df(purse.adf.name)

    @property
    def key_index(self) -> int:
        """Key index of the purchase/load keys (pboc-purse.md §1)."""
        purse = self.access.profile.purse
        assert purse is not None
        return purse.key_index

    def factor(self) -> bytes:
        """The rightmost 8 bytes of the application serial (EF15, pboc-purse.md §6.1)."""
        if self._factor is None:
            self.select()
            adf = self.access.df(self.access.profile.purse.adf.name)  # type: ignore[union-attr]
            ef15 = adf.ef("EF15")
            app = PurseApplicationData.from_bytes(read_binary(self.access, ef15, ef15.size))
            self._factor = app.diversification_factor
        return self._factor

    def terminal_id(self) -> bytes:
        """The PSAM's terminal number (EF16), read once."""
        if self._terminal_id is None:
            sam = self.access.sam
            if sam is None:
                raise LibraryError("a purchase needs a PSAM, and the session has none")
            self._terminal_id = sam.terminal_id()
        return self._terminal_id


def debit(
    ctx: PurseContext,
    card_number: str,
    amount_fen: int,
    *,
    journal: DebitJournal | None = None,
    when: _dt.datetime | None = None,
) -> PurchaseResult:
    """One EP purchase with the PSAM (module docstring)."""
    amount = _amount(amount_fen)
    stamp = _now(when)
    access = ctx.access
    sam = access.sam
    if sam is None:
        raise LibraryError("a purchase needs a PSAM, and the session has none")
    factor = ctx.factor()
    terminal = ctx.terminal_id()
    ctx.select()
    init = InitForPurchaseResponse.parse(
        access.send(pboc.initialize_for_purchase(ctx.key_index, amount, terminal)).data
    )
    mac1 = sam.purchase_mac1(
        icc_random=init.icc_random, offline_counter=init.offline_counter, amount=amount,
        transaction_type=TransactionType.EP_PURCHASE, when=stamp, key_version=init.key_version,
        algorithm=init.algorithm, factors=(factor,),
    )  # fmt: skip
    prepared = PreparedDebit(
        card_number, amount, init.balance, init.offline_counter, terminal.hex().upper(), mac1.terminal_serial, stamp
    )
    if journal is not None:
        journal.prepared(prepared)
    answer = DebitForPurchaseResponse.parse(
        access.send(pboc.debit_for_purchase(mac1.terminal_serial, stamp, mac1.mac1)).data
    )
    sam.verify_purchase_mac2(answer.mac2)
    result = PurchaseResult(
        balance_fen=init.balance - amount, card_counter=init.offline_counter, terminal_id=prepared.terminal_id,
        terminal_serial=mac1.terminal_serial, tac=answer.tac.hex().upper(), mac2=answer.mac2.hex().upper(),
        when=stamp,
    )  # fmt: skip
    if journal is not None:
        journal.debited(result)
    return result


def recover_purchase(ctx: PurseContext, prepared: PreparedDebit) -> PurchaseResult | None:
    """Did the card execute the prepared purchase? GET TRANSACTION PROVE with the counter after it.

    Returns the :class:`PurchaseResult` (TAC and MAC from the card; balance = balance before − amount) or
    ``None`` when the card answers 9406 (no such transaction: it was never debited).
    """
    access = ctx.access
    ctx.select()
    command = pboc.get_transaction_prove(TransactionType.EP_PURCHASE, (prepared.offline_counter + 1) & 0xFFFF)
    r = access.send(command, accept=(0x9000, SW_NO_TRANSACTION))
    if r.sw == SW_NO_TRANSACTION:
        return None
    prove = TransactionProveResponse.parse(r.data)
    return PurchaseResult(
        balance_fen=prepared.balance_before_fen - prepared.amount_fen, card_counter=prepared.offline_counter,
        terminal_id=prepared.terminal_id, terminal_serial=prepared.terminal_serial, tac=prove.tac.hex().upper(),
        mac2=prove.mac.hex().upper(), when=prepared.when,
    )  # fmt: skip


def load(
    ctx: PurseContext,
    card_number: str,
    amount_fen: int,
    *,
    authoriser: LoadAuthoriser | Callable[[LoadRequest], bytes],
    pin: str,
    terminal_id: bytes,
    journal: LoadJournal | None = None,
    when: _dt.datetime | None = None,
) -> LoadResult:
    """One EP load (module docstring). ``pin`` is the cardholder's purse PIN (digits).

    ``journal.prepared`` is called once MAC2 is known, right before CREDIT FOR LOAD (the only APDU of a load that
    changes the card); ``journal.loaded`` right after the card's answer.
    """
    amount = _amount(amount_fen)
    stamp = _now(when)
    access = ctx.access
    if not (pin.isdigit() and len(pin) % 2 == 0):
        raise DataError("the PIN is an even number of digits", field="PIN")
    factor = ctx.factor()
    ctx.select()
    access.send(iso.verify(bytes.fromhex(pin)))
    init = InitForLoadResponse.parse(access.send(pboc.initialize_for_load(ctx.key_index, amount, terminal_id)).data)
    request = LoadRequest(
        card_number=card_number, diversification_factor=factor, amount_fen=amount, balance_before_fen=init.balance,
        online_counter=init.online_counter, key_version=init.key_version, algorithm=init.algorithm,
        icc_random=init.icc_random, mac1=init.mac1, terminal_id=terminal_id, when=stamp,
    )  # fmt: skip
    mac2 = authoriser(request)
    if journal is not None:
        journal.prepared(
            PreparedLoad(card_number, amount, init.balance, init.online_counter, terminal_id.hex().upper(), stamp)
        )
    answer = CreditForLoadResponse.parse(access.send(pboc.credit_for_load(stamp, mac2)).data)
    result = LoadResult(init.balance + amount, init.online_counter, terminal_id.hex().upper(),
                        answer.tac.hex().upper(), stamp)  # fmt: skip
    if journal is not None:
        journal.loaded(result)
    return result


def recover_load(ctx: PurseContext, prepared: PreparedLoad) -> LoadResult | None:
    """Did the card execute the prepared load? GET TRANSACTION PROVE type 02 with the online counter after it.

    Returns the :class:`LoadResult` (TAC from the card; balance = balance before + amount) or ``None`` when the
    card answers 9406 (no such load: it never credited, so the load may be tried again). Like purchases, the card
    proves only its last transaction of that type: recover before the next load on that card.
    """
    ctx.select()
    command = pboc.get_transaction_prove(TransactionType.EP_LOAD, (prepared.online_counter + 1) & 0xFFFF)
    r = ctx.access.send(command, accept=(0x9000, SW_NO_TRANSACTION))
    if r.sw == SW_NO_TRANSACTION:
        return None
    prove = TransactionProveResponse.parse(r.data)
    return LoadResult(
        balance_fen=prepared.balance_before_fen + prepared.amount_fen, online_counter=prepared.online_counter,
        terminal_id=prepared.terminal_id, tac=prove.tac.hex().upper(), when=prepared.when,
    )  # fmt: skip


__all__ += ["PurseContext", "read_balance"]
