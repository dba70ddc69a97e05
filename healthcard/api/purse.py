"""E-purse transactions: balance, load (圈存), debit (消费) with the PSAM, and recovery of a torn debit.

Purchase (JR/T 0025.2 purchase with a PSAM): INITIALIZE FOR PURCHASE → PSAM ``80 70`` (terminal serial ‖ MAC1) →
``journal.prepared()`` → DEBIT FOR PURCHASE (TAC ‖ MAC2) → PSAM ``80 72`` verifies MAC2 → ``journal.debited()``.
The journal entry written *before* the DEBIT is what makes a lost answer recoverable: ``recover_purchase``
asks the card with GET TRANSACTION PROVE (JR/T 0025.1 GET TRANSACTION PROVE) whether the transaction with the counter
after the prepared one exists. The card keeps the proof of its *last* transaction only and proves by counter alone, so
9406 ("required MAC not available") does not by itself mean "never debited" (the card may have been used since),
nor 9000 "debited" (another terminal's purchase may have taken the counter). The card's detail records
(JR/T 0025.1 transaction detail file, cyclic EF by SFI, newest first; :func:`purse_records`) decide: a record with the
prepared counter, amount, terminal and date/time is that purchase (recovered without TAC/MAC2 if the proof is gone);
``None`` means the card never debited, so nothing was lost and nothing is taken twice.

Load (JR/T 0025.1 INITIALIZE FOR LOAD, CREDIT FOR LOAD, JR/T 0025.2 load MAC/TAC): VERIFY PIN (the load key's use right
needs it, docs/profiles.md) → INITIALIZE FOR LOAD (balance, online counter, random, MAC1) → a :class:`LoadAuthoriser`
checks MAC1 and returns MAC2 (at the issuer host or HSM in production; the demo key set in tests) →
``journal.prepared()`` → CREDIT FOR LOAD → TAC → ``journal.loaded()``. ``recover_load`` mirrors ``recover_purchase``:
GET TRANSACTION PROVE type 02 with the online counter after the prepared load, then the detail records, and since a
load raises the balance, the balance as well (its docstring lists the rules).

Amounts are integer fen.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apdu import iso, pboc
from apdu.bcd import encode_datetime
from apdu.errors import DataError, LibraryError, MacError, MissingInputError
from apdu.fmcos import FileType
from apdu.pboc import TransactionType
from apdu.response_records import (
    CreditForLoadResponse,
    DebitForPurchaseResponse,
    InitForLoadResponse,
    InitForPurchaseResponse,
    TransactionProveResponse,
)
from apdu.status import SW, describe
from healthcard.api.access import CardAccess
from healthcard.api.reading import read_balance, read_binary, read_records
from healthcard.codecs import PurseApplicationData, PurseDetail
from healthcard.issuance.keysource import DEMO_KEYS_PATH
from healthcard.profiles.model import EFSpec
from sam.crypto import Algorithm, diversify, load_mac1, load_mac2, load_session_key

__all__ = [
    "DebitJournal",
    "DemoLoadAuthoriser",
    "LoadAuthoriser",
    "LoadJournal",
    "LoadRequest",
    "LoadResult",
    "PreparedDebit",
    "PreparedLoad",
    "PurchaseResult",
    "PurseRecord",
    "debit",
    "load",
    "purse_records",
    "recover_load",
    "recover_purchase",
]

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


@dataclass(frozen=True)
class PurseRecord:
    """One detail record of the EP (JR/T 0025.1 transaction detail file, 23 bytes): counter(2) ‖ overdraft limit(3) ‖
    amount(4) ‖ transaction type(1) ‖ terminal ID(6) ‖ date(4) ‖ time(3).

    ``counter`` is the card counter the transaction used (offline for purchases, online for loads, as before the
    card counted it up); ``transaction_type`` is the identifier of JR/T 0025.1 data formats (``06`` EP purchase, ``02``
    EP load); ``terminal_id`` is hex like :attr:`PurchaseResult.terminal_id`; ``when`` the date and time the terminal
    sent with DEBIT FOR PURCHASE / CREDIT FOR LOAD.
    """

    counter: int
    overdraft_limit_fen: int
    amount_fen: int
    transaction_type: int
    terminal_id: str
    when: _dt.datetime

    @classmethod
    def from_detail(cls, detail: PurseDetail) -> PurseRecord:
        """From the codec's record (:class:`healthcard.codecs.PurseDetail`)."""
        return cls(detail.counter, detail.overdraft_limit, detail.amount, detail.transaction_type,
                   detail.terminal_id.hex().upper(), detail.when)  # fmt: skip

    def to_json(self) -> dict[str, object]:
        """Stable JSON (ISO datetime)."""
        return {
            "counter": self.counter,
            "overdraft_limit_fen": self.overdraft_limit_fen,
            "amount_fen": self.amount_fen,
            "transaction_type": self.transaction_type,
            "terminal_id": self.terminal_id,
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
    """A load between MAC2 and CREDIT FOR LOAD: what a journal must keep to recover it (JR/T 0025.1 CREDIT FOR LOAD,
    JR/T 0025.1 GET TRANSACTION PROVE).

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

    JR/T 0025.2 session key, load MAC/TAC: SESLK = 3DES(DLK, random ‖ online counter ‖ 80 00); MAC1 over old balance ‖
    amount ‖ type ‖ terminal; MAC2 over amount ‖ type ‖ terminal ‖ date ‖ time.
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
            raise MacError(SW.MAC_ERROR, describe(SW.MAC_ERROR))
        stamp = encode_datetime(request.when)
        return load_mac2(alg, sk, request.amount_fen, request.transaction_type, request.terminal_id, stamp)


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

    def select(self) -> None:
        """SELECT the purse ADF (once per session while nothing else is selected)."""
        purse = self.access.profile.purse
        if purse is None:
            raise LibraryError("the card profile has no purse")
        self.access.select_df(purse.adf.name)

    @property
    def key_index(self) -> int:
        """Key index of the purchase/load keys (JR/T 0025.1 data formats)."""
        purse = self.access.profile.purse
        assert purse is not None
        return purse.key_index

    def factor(self) -> bytes:
        """The rightmost 8 bytes of the application serial (EF15, JR/T 0025.2 key diversification)."""
        if self._factor is None:
            self.select()
            adf = self.access.df(self.access.profile.purse.adf.name)  # type: ignore[union-attr]
            ef15 = adf.ef("EF15")
            app = PurseApplicationData.from_bytes(read_binary(self.access, ef15, ef15.size))
            self._factor = app.diversification_factor
        return self._factor

    def terminal_id(self) -> bytes:
        """The PSAM's terminal number (EF16; the SAM client reads it once)."""
        sam = self.access.sam
        if sam is None:
            raise MissingInputError("a purchase needs a PSAM, and the session has none", needs="sam")
        return sam.terminal_id()


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
        raise MissingInputError("a purchase needs a PSAM, and the session has none", needs="sam")
    factor = ctx.factor()
    terminal = ctx.terminal_id()
    ctx.select()
    init = InitForPurchaseResponse.parse(
        access.send(pboc.initialize_for_purchase(ctx.key_index, amount, terminal)).data
    )
    mac1 = sam.init_for_purchase(
        icc_random=init.icc_random, card_counter=init.offline_counter, amount=amount,
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
    sam.credit_for_purchase(answer.mac2)
    result = PurchaseResult(
        balance_fen=init.balance - amount, card_counter=init.offline_counter, terminal_id=prepared.terminal_id,
        terminal_serial=mac1.terminal_serial, tac=answer.tac.hex().upper(), mac2=answer.mac2.hex().upper(),
        when=stamp,
    )  # fmt: skip
    if journal is not None:
        journal.debited(result)
    return result


def _detail_ef(ctx: PurseContext) -> EFSpec | None:
    """The EP's cyclic detail EF of the profile (the EP's ``detail_sfi``, JR/T 0025.1 transaction detail file), if it
    has one."""
    purse = ctx.access.profile.purse
    if purse is None:
        raise LibraryError("the card profile has no purse")
    children = purse.adf.efs
    sfis = {c.detail_sfi for c in children if c.kind is FileType.PURSE and c.detail_sfi is not None}
    return next((c for c in children if c.kind is FileType.CYCLIC and c.sfi in sfis), None)


def _raw_records(ctx: PurseContext) -> list[bytes] | None:
    ef = _detail_ef(ctx)
    if ef is None:
        return None
    ctx.select()
    return read_records(ctx.access, ctx.access.profile.purse.adf.name, ef.name)  # type: ignore[union-attr]


def purse_records(ctx: PurseContext) -> tuple[PurseRecord, ...]:
    """The EP detail records, newest first (JR/T 0025.1 transaction detail file): READ RECORD by SFI, record 1.. until
    6A83.

    Empty records (all ``00`` or ``FF``) are left out; a record that is not 23 bytes or whose date/time is not BCD
    raises :class:`~apdu.errors.DataError`. A profile without a detail file gives ``()``.
    """
    out: list[PurseRecord] = []
    for raw in _raw_records(ctx) or ():
        detail = PurseDetail.from_bytes(raw)
        if detail is not None:
            out.append(PurseRecord.from_detail(detail))
    return tuple(out)


_OFFLINE_TYPES = frozenset({0x04, 0x05, 0x06, 0x09})  # cash withdrawal, purchases, CAPP (JR/T 0025.1 data formats)
_ONLINE_TYPES = frozenset({0x01, 0x02, 0x03, 0x07})  # loads, unload, overdraft-limit update (JR/T 0025.1 data formats)


def _wall_clocks(when: _dt.datetime) -> set[_dt.datetime]:
    """The card's date/time (BCD, no zone) that DEBIT/CREDIT may have carried for ``when``: its own wall clock and,
    for an aware ``when`` (a journal may give it back in UTC), the local one the terminal stamps naive times with."""
    out = {when.replace(tzinfo=None, microsecond=0)}
    if when.tzinfo is not None:
        out.add(when.astimezone().replace(tzinfo=None, microsecond=0))
    return out


def _executed(
    ctx: PurseContext,
    *,
    proved: bool,
    tx_type: int,
    counter: int,
    amount_fen: int,
    terminal_id: str,
    when: _dt.datetime,
) -> bool:
    """Did the card execute the prepared transaction? ``proved``: GET TRANSACTION PROVE answered 9000.

    The proof is asked by type and counter only (JR/T 0025.1 GET TRANSACTION PROVE), so it proves *a* transaction with
    that counter, maybe another terminal's after the prepared one never reached the card; and 9406 only says the card no
    longer has the proof (it keeps its last transaction's). The detail records (JR/T 0025.1 transaction detail file)
    decide: the card writes one per transaction with the counter it used, so a record of the same counter family
    (offline: purchases; online: loads) with ``counter`` whose type, amount, terminal and date/time are the prepared
    ones → executed; any other record with ``counter`` → another transaction used it, the prepared one never ran. No
    record with ``counter`` but a later one of the family: the cyclic file has dropped it → :class:`LibraryError` (the
    entry stays open). No record from ``counter`` on, or no detail file in the profile → the proof decides.
    Records that do not parse cannot be the prepared transaction's (it wrote a valid date/time) and are skipped.
    """
    raws = _raw_records(ctx)
    if raws is None:
        return proved
    family = _OFFLINE_TYPES if tx_type in _OFFLINE_TYPES else _ONLINE_TYPES
    later = False
    for raw in raws:
        try:
            detail = PurseDetail.from_bytes(raw)
        except DataError:
            continue
        if detail is None or detail.transaction_type not in family:
            continue
        if detail.counter == counter:
            return (detail.transaction_type, detail.amount, detail.terminal_id.hex().upper()) == (
                tx_type, amount_fen, terminal_id.upper(),
            ) and detail.when in _wall_clocks(when)  # fmt: skip
        later = later or detail.counter > counter
    if later:
        raise LibraryError(
            f"recovery: the card no longer proves the transaction with counter {counter} and its detail record "
            "has been overwritten; it cannot be decided from the card"
        )
    return proved


def recover_purchase(ctx: PurseContext, prepared: PreparedDebit) -> PurchaseResult | None:
    """Did the card execute the prepared purchase? GET TRANSACTION PROVE with the counter after it (JR/T 0025.1 GET
    TRANSACTION PROVE).

    Returns the :class:`PurchaseResult` (balance = balance before − amount) or ``None`` when the card never
    debited. The proof alone does not decide (:func:`_executed`): the card keeps the MAC ‖ TAC of its last
    transaction only, so 9406 may follow a later transaction on that card (another terminal, a load), and 9000
    may prove another terminal's purchase that took the same counter. The detail records (JR/T 0025.1 transaction detail
    file) decide; a purchase found there while the proof is gone is returned with ``tac=""`` and ``mac2=""``: the card
    debited, but its proof is no longer available. Raises
    :class:`~apdu.errors.LibraryError` when neither the proof nor the record is left to decide. Recover before
    retrying the same amount at the same terminal within the same second (the record could not tell them apart).
    """
    access = ctx.access
    ctx.select()
    command = pboc.get_transaction_prove(TransactionType.EP_PURCHASE, (prepared.offline_counter + 1) & 0xFFFF)
    r = access.send(command, accept=(SW.OK, SW.NO_TRANSACTION))
    proved = r.sw != SW.NO_TRANSACTION
    if not _executed(
        ctx, proved=proved, tx_type=TransactionType.EP_PURCHASE, counter=prepared.offline_counter,
        amount_fen=prepared.amount_fen, terminal_id=prepared.terminal_id, when=prepared.when,
    ):  # fmt: skip
        return None
    tac = mac2 = ""
    if proved:
        prove = TransactionProveResponse.parse(r.data)
        tac, mac2 = prove.tac.hex().upper(), prove.mac.hex().upper()
    return PurchaseResult(
        balance_fen=prepared.balance_before_fen - prepared.amount_fen, card_counter=prepared.offline_counter,
        terminal_id=prepared.terminal_id, terminal_serial=prepared.terminal_serial, tac=tac, mac2=mac2,
        when=prepared.when,
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
    """Did the card execute the prepared load? GET TRANSACTION PROVE type 02 with the online counter after it, the
    detail records and the balance decide.

    Returns the :class:`LoadResult` (balance = balance before + amount) or ``None`` when the card never credited
    (the load may be tried again). Raises :class:`~apdu.errors.LibraryError` when the card cannot decide. The rules:

    * A load the card still proves (its last transaction, JR/T 0025.1 GET TRANSACTION PROVE): its TAC, and the
      balance must be before + amount (a load is the only way the balance rises; anything else is an error).
    * A load the card no longer proves but lists in its detail records (JR/T 0025.1 transaction detail file):
      confirmed with ``tac=""`` whatever the balance now is — the card was used since. When the records
      (:func:`_executed`, as for purchases) say it never ran, ``None`` whatever the balance now is.
    * No proof and no detail record to decide (a profile without a detail file, or none written yet): the balance
      decides — unchanged → ``None``, before + amount → confirmed with ``tac=""``, anything else → error.
    * A prepared load without a terminal id (a journal written before it kept the online counter and terminal)
      cannot be proved: the balance alone decides, as above.
    """
    return recover_online(ctx, prepared, TransactionType.EP_LOAD)


def recover_online(ctx: PurseContext, prepared: PreparedLoad, tx_type: int) -> LoadResult | None:
    """:func:`recover_load`'s rules for a transaction of the online counter: ``tx_type`` 02 (load: the balance
    rises by the amount) or 03 (unload, :func:`healthcard.api.unload.recover_unload`: it falls by the amount; the
    proof's ``TAC`` is then the card's answer MAC)."""
    what = "unload" if tx_type == TransactionType.UNLOAD else "load"
    balance = read_balance(ctx.access)
    sign = -1 if tx_type == TransactionType.UNLOAD else 1
    after = prepared.balance_before_fen + sign * prepared.amount_fen
    tac = ""
    if prepared.terminal_id:
        found = _prove_online(ctx, prepared, tx_type, after)
        if found is not None and not found.tac:  # in the detail records, proof gone: the card was used since
            return found
        if found is None and purse_records(ctx):  # the detail records decided: it never ran
            return None
        tac = found.tac if found is not None else ""
    if tac and balance != after:
        raise LibraryError(f"{what} recovery: the card proves the {what} but the balance does not match")
    if not tac and balance == prepared.balance_before_fen:
        return None
    if balance != after:
        raise LibraryError(f"{what} recovery: the balance matches neither before nor after the {what}")
    return LoadResult(
        balance_fen=balance, online_counter=prepared.online_counter, terminal_id=prepared.terminal_id, tac=tac,
        when=prepared.when,
    )  # fmt: skip


def _prove_online(ctx: PurseContext, prepared: PreparedLoad, tx_type: int, after: int) -> LoadResult | None:
    """GET TRANSACTION PROVE of ``tx_type`` with the online counter after the prepared transaction, checked against
    the detail records (:func:`_executed`): its result with the proof's TAC (``""`` when found only in the records),
    or ``None``."""
    ctx.select()
    command = pboc.get_transaction_prove(tx_type, (prepared.online_counter + 1) & 0xFFFF)
    r = ctx.access.send(command, accept=(SW.OK, SW.NO_TRANSACTION))
    proved = r.sw != SW.NO_TRANSACTION
    if not _executed(
        ctx, proved=proved, tx_type=tx_type, counter=prepared.online_counter,
        amount_fen=prepared.amount_fen, terminal_id=prepared.terminal_id, when=prepared.when,
    ):  # fmt: skip
        return None
    tac = TransactionProveResponse.parse(r.data).tac.hex().upper() if proved else ""
    return LoadResult(
        balance_fen=after, online_counter=prepared.online_counter, terminal_id=prepared.terminal_id, tac=tac,
        when=prepared.when,
    )  # fmt: skip


__all__ += ["PurseContext", "read_balance"]
