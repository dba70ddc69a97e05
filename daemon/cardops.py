"""The daemon's only use of the high-level card API (``healthcard.api``, docs/architecture.md).

The daemon imports nothing of ``healthcard`` but :mod:`healthcard.api` (an import-linter contract in
pyproject.toml, run by scripts/test.sh), typed against it, with no function-local imports: ``daemon.main`` imports
the server (and so this module and the card API) only once the configuration is valid, so ``healthcardd --help``
stays light, and ``apdu.pcsc`` imports pyscard only when a PC/SC reader is used, so ``--simulate`` runs without it.

* :class:`SimulatedReader` — ``--simulate``: an in-process virtual card (a demo card with a balance) and the
  virtual SAM, persisted in the state directory by the card store (``healthcard.store``, exported by
  ``healthcard.api``: every card commit is logged before the card answers — a SIGKILL never loses a debit the card
  made). The card session stays open while the card
  stays in the reader. ``virtual-blank`` is a simulated card dispenser for ``IssueCard``.
* :class:`PcscReader` — a PC/SC card reader and the reader holding its SAM (``apdu.pcsc`` via
  ``open_pcsc_session``; pyscard imported lazily). A new PC/SC context is opened for every poll and session,
  so a restarted pcscd is picked up without restarting the daemon (PC/SC field problems, sources.md F6.1), and no PC/SC
  transaction is held between jobs (Windows resets a card idle in a transaction for 5 s, PC/SC field problems,
  sources.md F6.3).
* :class:`ApiCardOps` — :class:`daemon.backend.CardOps` over a ``CardSession``.

Loads go through the card API's ``LoadJournal`` hook: the journal's ``prepared`` step (balance and online counter
from INITIALIZE FOR LOAD) is recorded right before CREDIT FOR LOAD; recovery is ``CardSession.recover_load``
(GET TRANSACTION PROVE type 02, JR/T 0025.1 GET TRANSACTION PROVE, the detail records and the balance: the card
API's rules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType

from apdu.errors import HealthCardError, LibraryError, ReaderError
from apdu.files import private_dir
from apdu.inprocess import InProcessTransport
from apdu.pcsc import PcscTransport, list_readers, reader_has_card
from daemon.backend import Completed, Prepared, TxHooks
from daemon.errors import CardNotBlankError, SamUnavailableError
from daemon.journal import Kind
from daemon.samgate import SamGate
from healthcard.api import (
    DEMO_PURSE_PIN,
    DEMO_SAM_PIN,
    CardData,
    CardSession,
    InpatientRecord,
    LoadRequest,
    LoadResult,
    LoggedCardState,
    OutpatientRecord,
    Person,
    PreparedDebit,
    PreparedLoad,
    PurchaseResult,
    Section,
    TrustList,
    UnloadAuthorisation,
    VirtualCard,
    blank_card,
    demo_issuer,
    issue_card,
    load_demo_person,
    new_chip_number,
    new_demo_card,
    open_logged_card,
    open_pcsc_session,
    open_sam,
    stored_signature,
)

__all__ = ["BLANK_READER", "ApiCardOps", "PcscReader", "SimulatedReader", "simulated_readers"]

BLANK_READER = "virtual-blank"
log = logging.getLogger("healthcardd.readers")


class ApiCardOps:
    """:class:`daemon.backend.CardOps` over a ``healthcard.api.CardSession``.

    ``feeder`` (simulated card dispenser only): called by :meth:`issue` with a fresh chip number
    (:func:`healthcard.issuance.new_chip_number`); it puts a new blank card into the reader and returns the session
    on it.
    """

    def __init__(self, session: CardSession, feeder: Callable[[bytes], CardSession] | None = None) -> None:
        self._s = session
        self._feeder = feeder

    @property
    def card_number(self) -> str:
        return self._s.card_number

    def purse_factor(self) -> str:
        """The purse diversification factor (16 hex digits) the host needs for the card's keys."""
        return self._s.purse_factor().hex().upper()

    def chip_number(self) -> str:
        """The chip's cardNo from the ATR (16 hex digits): readable also while the purse is blocked."""
        return self._s.chip_number

    def block_purse(self) -> None:
        """APPLICATION BLOCK (temporary) of the purse with the SAM's MAC (JR/T 0025.1 APPLICATION/CARD BLOCK; a listed
        card)."""
        self._s.block_application(permanent=False)

    def unblock_purse(self, purse_factor: str) -> None:
        """APPLICATION UNBLOCK of the purse; ``purse_factor`` (16 hex digits) as kept when it was blocked."""
        self._s.unblock_application(bytes.fromhex(purse_factor))

    def read(self, sections: Collection[Section] | None) -> CardData:
        return self._s.read(sections)

    def balance(self) -> int:
        return self._s.balance()

    def debit(self, amount_fen: int, hooks: TxHooks) -> Completed:
        journal = _DebitJournal(hooks, self._s.purse_factor)
        result = self._s.debit(amount_fen, journal=journal)
        if journal.completed is not None and journal.result is result:
            return journal.completed
        return _completed(result)

    def load(
        self, amount_fen: int, hooks: TxHooks, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> Completed:
        """A load journaled through the card API's ``LoadJournal`` (JR/T 0025.1 CREDIT FOR LOAD).

        ``prepared`` (balance and online counter from INITIALIZE FOR LOAD, MAC2 known) is recorded right before
        CREDIT FOR LOAD, the only APDU that changes the card; ``completed`` right after its TAC. ``authoriser``:
        who checks MAC1 and makes MAC2 — the hospital host when one is configured (:mod:`daemon.hostlink`),
        else the session's SAM (the virtual SAM's load extension: demo and offline use only).
        """
        return self._online(self._s.load, amount_fen, hooks, authoriser)

    def unload(
        self, amount_fen: int, hooks: TxHooks, authoriser: Callable[[LoadRequest], UnloadAuthorisation] | None = None
    ) -> Completed:
        """An unload (圈提, JR/T 0025.1 DEBIT FOR UNLOAD) journaled like a load: ``prepared`` right before DEBIT FOR
        UNLOAD, ``completed`` right after the card's answer MAC (kept as the entry's ``tac``). ``authoriser``: the
        hospital host when one is configured, else the session's SAM (the virtual SAM's demo extension)."""
        return self._online(self._s.unload, amount_fen, hooks, authoriser)

    def _online(
        self, operation: Callable[..., LoadResult], amount_fen: int, hooks: TxHooks, authoriser: object | None
    ) -> Completed:
        """A load or unload (``CardSession.load`` / ``unload``) journaled through ``hooks``."""
        journal = _LoadJournal(hooks, self._s.purse_factor)
        if authoriser is not None:
            result = operation(amount_fen, journal=journal, authoriser=authoriser)
        else:
            result = operation(amount_fen, journal=journal)
        if journal.completed is not None and journal.result is result:
            return journal.completed
        return _load_completed(result)

    def recover(self, kind: Kind, prepared: Prepared) -> Completed | None:
        """The card API's recovery of a prepared entry (``CardSession.recover_load`` / ``recover_unload`` /
        ``recover_purchase``: GET TRANSACTION PROVE, the detail records and, for a load or unload, the balance
        decide); ``None``: the card was not changed."""
        if kind in (Kind.LOAD, Kind.UNLOAD):
            recover = self._s.recover_load if kind is Kind.LOAD else self._s.recover_unload
            loaded = recover(
                PreparedLoad(
                    card_number=prepared.card_number, amount_fen=prepared.amount_fen,
                    balance_before_fen=prepared.balance_before_fen, online_counter=prepared.card_counter,
                    terminal_id=prepared.terminal_id, when=prepared.when,
                )
            )  # fmt: skip
            return None if loaded is None else _load_completed(loaded)
        result = self._s.recover_purchase(
            PreparedDebit(
                card_number=prepared.card_number, amount_fen=prepared.amount_fen,
                balance_before_fen=prepared.balance_before_fen, offline_counter=prepared.card_counter,
                terminal_id=prepared.terminal_id, terminal_serial=prepared.terminal_serial, when=prepared.when,
            )
        )  # fmt: skip
        return None if result is None else _completed(result)

    def write(self, sections: Mapping[str, object], clear: Collection[str] = ()) -> tuple[Section, ...]:
        """Merge the given sections (``CardUpdate.from_json`` form) into the card (``CardSession.update``);
        ``clear``: ``"section.field"`` names."""
        return self._s.update({**sections, "clear": list(clear)})

    def issue(self, card_number: str, holder: Mapping[str, object]) -> str:
        """Personalise the blank card with the demo issuer and demo key set, then read it back (healthcard.api).

        The daemon issues with the project's demo issuer configuration (``healthcard.virtual.demo_issuer``)
        and demo keys; a card that already has a card number is refused.
        """
        person = Person.from_json({"holder": {**holder, "id_number": card_number}})
        if self._feeder is not None:
            self._s = self._feeder(new_chip_number())  # a fresh chip per blank card, never derived from the KH
        elif self._has_card_number():
            raise CardNotBlankError("the card in the reader is already issued: insert a blank card")
        result = issue_card(self._s, person, demo_issuer())
        if not result.ok:
            what = result.error or "read-back differs in " + ", ".join(result.mismatches)
            raise LibraryError(f"issuance failed: {what}")
        return result.card_number

    def _has_card_number(self) -> bool:
        try:
            return bool(self._s.card_number)
        except HealthCardError:
            return False

    def add_record(self, kind: str, items: Mapping[int, str]) -> int:
        inpatient = kind == "inpatient"
        slot = self._s.next_visit_slot(inpatient)
        record = (InpatientRecord if inpatient else OutpatientRecord)(slot=slot, valid=True, items=dict(items))
        return self._s.add_visit(record)

    def record_signature(self, kind: str, slot: int) -> tuple[bytes, bytes]:
        return stored_signature(self._s.read_visit(kind == "inpatient", slot))


class _JournalAdapter:
    """Hands a card API journal's steps (``DebitJournal`` / ``LoadJournal``) to the daemon's journal hooks.

    ``result`` / ``completed``: the card API's result seen by the last step and its :class:`Completed`, which the
    debit or load returns as well (built once).
    """

    __slots__ = ("_factor", "_hooks", "completed", "result")

    def __init__(self, hooks: TxHooks, factor: Callable[[], bytes]) -> None:
        self._hooks = hooks
        self._factor = factor  # the session's purse factor (read and cached by the purse context before MAC1)
        self.result: PurchaseResult | LoadResult | None = None
        self.completed: Completed | None = None

    def _done(self, result: PurchaseResult | LoadResult, completed: Completed) -> None:
        self._hooks.completed(completed)
        self.result, self.completed = result, completed


class _DebitJournal(_JournalAdapter):
    """The card API's ``DebitJournal`` for one debit."""

    __slots__ = ()

    def prepared(self, p: PreparedDebit) -> None:
        self._hooks.prepared(
            Prepared(
                p.card_number,
                p.amount_fen,
                p.balance_before_fen,
                p.offline_counter,
                p.terminal_id,
                p.terminal_serial,
                p.when,
                self._factor().hex().upper(),
            )
        )

    def debited(self, r: PurchaseResult) -> None:
        self._done(r, _completed(r))


class _LoadJournal(_JournalAdapter):
    """The card API's ``LoadJournal`` for one load (no terminal serial: a load has none)."""

    __slots__ = ()

    def prepared(self, p: PreparedLoad) -> None:
        before, counter = p.balance_before_fen, p.online_counter
        factor = self._factor().hex().upper()
        self._hooks.prepared(Prepared(p.card_number, p.amount_fen, before, counter, p.terminal_id, 0, p.when, factor))

    def loaded(self, r: LoadResult) -> None:
        self._done(r, _load_completed(r))

    unloaded = loaded  # the card API's UnloadJournal: an unload's records are a load's (the answer MAC as TAC)


def _load_completed(r: LoadResult) -> Completed:
    return Completed(
        balance_fen=r.balance_fen, card_counter=r.online_counter, terminal_id=r.terminal_id, terminal_serial=0,
        tac=r.tac, when=r.when,
    )  # fmt: skip


def _completed(r: PurchaseResult) -> Completed:
    return Completed(
        balance_fen=r.balance_fen, card_counter=r.card_counter, terminal_id=r.terminal_id,
        terminal_serial=r.terminal_serial, tac=r.tac, when=r.when, mac2=r.mac2,
    )  # fmt: skip


_PERSONS = {"virtual-1": "li-na"}  # distinct holders (and card numbers) per simulated reader (DEMO_PERSONS)


class _Reader:
    """What both readers keep: the name, the SAM PIN gate (daemon/samgate.py) and the count of card APDUs."""

    _name: str
    _gate: SamGate
    _apdus: int

    @property
    def name(self) -> str:
        return self._name

    @property
    def sam_usable(self) -> bool:
        """False once the SAM refused the configured PIN (daemon/samgate.py)."""
        return self._gate.usable

    @property
    def apdu_count(self) -> int:
        return self._apdus


class SimulatedReader(_Reader):
    """A virtual reader holding a persisted card, with the virtual SAM (``--simulate``).

    The card session stays open between jobs while the card stays in the reader (like a terminal that keeps
    the card powered): it is closed when the card is removed or replaced, after any failed job, and at close.
    Everything but :meth:`remove_card` / :meth:`insert_card` runs on the reader's worker thread.

    ``blank=True`` makes a simulated card dispenser: it starts with a blank card, and every ``IssueCard`` feeds
    a new blank card (a fresh random chip number, so two cards of one holder have distinct keys) which stays in
    the reader once issued.
    """

    def __init__(
        self, name: str, state_dir: Path, *, sam_pin: str | None = None, blank: bool = False,
        trusted_signers: TrustList | None = None, terminal_id: bytes | None = None,
    ) -> None:  # fmt: skip
        self._name = name
        self._trusted_signers = trusted_signers
        cards = private_dir(state_dir / "cards")  # 0700: card images and logs hold card keys
        self._image = cards / f"{name}.json"
        self._blank = blank
        self._card: VirtualCard
        self._state: LoggedCardState
        self._card, self._state = open_logged_card(self._image, lambda: _new_card(name, blank))
        self._sam = open_sam(cards / f"{name}-sam.json", terminal_id=terminal_id)
        self.card_transport = _ReaderLockedTransport(self._card, name=f"{name}:card")
        self.sam_transport = _ReaderLockedTransport(self._sam, name=f"{name}:sam")
        self._sam_pin = sam_pin
        self._gate = SamGate(name, sam_pin or DEMO_SAM_PIN)
        self._apdus = 0
        self._generation = 0  # bumped by every removal/insertion: an open session is for one generation
        self._session: CardSession | None = None
        self._session_generation = -1
        self._counted = 0

    @property
    def sam_reader(self) -> str:
        return f"{self._name}-sam"

    def poll(self) -> tuple[bool, bytes]:
        card = self.card_transport.card
        if card is None or self._generation != self._session_generation:
            self._drop_session()
        return (card is not None, bytes(card.atr) if card is not None else b"")

    def poll_sam(self) -> bool:
        return True  # the virtual SAM is built into the simulated reader

    def remove_card(self) -> None:
        """Pull the card (tests and demos; any thread)."""
        self._generation += 1
        self.card_transport.remove()

    def insert_card(self) -> None:
        """Put the card back (tests and demos; any thread)."""
        self._generation += 1
        self.card_transport.insert(self._card)

    def _open_session(self) -> CardSession:
        self._gate.check()  # a SAM that refused the PIN is not sent anything
        generation = self._generation
        session = CardSession(
            self.card_transport, self.sam_transport, sam_pin=self._sam_pin or DEMO_SAM_PIN,
            purse_pin=DEMO_PURSE_PIN, trusted_signers=self._trusted_signers,
        )  # fmt: skip
        session.__enter__()
        try:
            self._gate.verify(session)  # the configured PIN, once per run
        except BaseException:
            session.close()
            raise
        self._session, self._session_generation, self._counted = session, generation, 0
        return session

    def _count(self) -> None:
        if self._session is not None:
            total = sum(self._session.counts.values())
            self._apdus += total - self._counted
            self._counted = total

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        self._session_generation = -1
        if session is not None:
            total = sum(session.counts.values())
            self._apdus += total - self._counted
            try:
                session.close()
            except Exception:  # the card is gone; nothing left to release
                log.debug("closing a stale card session failed", extra={"reader": self._name})

    def _feed_blank(self, card_no: bytes) -> CardSession:
        """Dispense a new blank card with chip number ``card_no`` into the reader; returns a session on it."""
        self._drop_session()
        self._state.close(compact=False)
        self._image.unlink(missing_ok=True)
        self._card, self._state = open_logged_card(self._image, lambda: blank_card(card_no))
        self._generation += 1
        self.card_transport.insert(self._card)
        return self._open_session()

    def session(self) -> AbstractContextManager[ApiCardOps]:
        """The kept card session for one job: dropped when the job fails, its APDUs counted when it succeeds."""
        return _KeptSession(self)

    def _begin_job(self) -> ApiCardOps:
        if self.card_transport.card is None:
            self._drop_session()
            raise ReaderError(f"no card in reader {self._name!r}", reader=self._name, no_card=True)
        session = self._session
        if session is None or self._session_generation != self._generation:
            self._drop_session()
            session = self._open_session()
        return ApiCardOps(session, self._feed_blank if self._blank else None)

    def _end_job(self, failed: BaseException | None) -> None:
        if failed is not None:
            self._gate.watch(failed)
            self._drop_session()
        else:
            self._count()

    def close(self) -> None:
        """Close the session and fold the card's commit log into its image."""
        self._drop_session()
        self._state.close()


class _KeptSession:
    """``SimulatedReader.session()``: a plain context manager (a ``@contextmanager`` generator costs more per job)."""

    __slots__ = ("_reader",)

    def __init__(self, reader: SimulatedReader) -> None:
        self._reader = reader

    def __enter__(self) -> ApiCardOps:
        return self._reader._begin_job()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._reader._end_job(failed=exc)


class _ReaderLockedTransport(InProcessTransport):
    """An in-process transport whose exclusivity is the reader's I/O lock (daemon/readers.py), not a thread's.

    The kept card session spans jobs that run on different threads (an idle reader runs a job on the RPC's own
    thread), so the session must not hold a lock owned by the thread that opened it (``InProcessTransport``'s
    ``RLock``): every job already runs alone on the reader.
    """

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        yield


def _new_card(reader: str, blank: bool) -> VirtualCard:
    """A new card for a simulated reader: blank for the dispenser, else the demo card of the reader's demo person
    (package data: an installed ``healthcardd --simulate`` reads nothing of ``examples/``)."""
    if blank:
        return blank_card(bytes.fromhex("B1A4C00000000001"))
    person = _PERSONS.get(reader)
    return new_demo_card(person=load_demo_person(person) if person is not None else None)


def simulated_readers(
    names: Collection[str], state_dir: Path, *, sam_pin: str | None = None, trusted_signers: TrustList | None = None
) -> list[SimulatedReader]:
    """The ``--simulate`` readers: ``virtual-0``/``virtual-1`` with demo cards, ``virtual-blank`` a dispenser.

    Each has its own virtual SAM with its own terminal number (``000000000001``, ``000000000002`` ... in the
    order of ``names``), so the journal and the reconciliation report tell the three terminals apart.
    """
    return [
        SimulatedReader(n, state_dir, sam_pin=sam_pin, blank=n == BLANK_READER, trusted_signers=trusted_signers,
                        terminal_id=i.to_bytes(6, "big"))
        for i, n in enumerate(names, 1)
    ]  # fmt: skip


class PcscReader(_Reader):
    """A PC/SC reader and its SAM reader, through ``healthcard.api.open_pcsc_session``."""

    def __init__(
        self, name: str, sam_reader: str, *, sam_pin: str | None = None, trusted_signers: TrustList | None = None
    ) -> None:
        self._name = name
        self._sam_reader = sam_reader
        self._sam_pin = sam_pin
        self._gate = SamGate(name, sam_pin)
        self._trusted_signers = trusted_signers
        self._apdus = 0

    @property
    def sam_reader(self) -> str:
        return self._sam_reader

    def poll(self) -> tuple[bool, bytes]:
        if self._name not in list_readers():  # a fresh context each time: survives pcscd restarts
            raise ReaderError(f"reader {self._name!r} is not present", reader=self._name)
        transport = PcscTransport(self._name)
        try:
            return True, bytes(transport.connect())
        except ReaderError as exc:
            if exc.removed:
                return False, b""
            raise
        finally:
            transport.disconnect()

    def poll_sam(self) -> bool:
        return reader_has_card(self._sam_reader) if self._sam_reader else False

    @contextmanager
    def session(self) -> Iterator[ApiCardOps]:
        self._gate.check()  # a SAM that refused the PIN is not sent anything, nor is the card opened
        session = open_pcsc_session(self._name, self._sam_reader or None, sam_pin=self._sam_pin,
                                    trusted_signers=self._trusted_signers)  # fmt: skip
        try:
            with session:
                try:
                    if self._sam_reader:
                        self._gate.verify(session)
                    yield ApiCardOps(session)
                except BaseException as exc:
                    self._gate.watch(exc)
                    raise
                finally:
                    self._apdus += sum(session.counts.values())
        except ReaderError as exc:
            if self._sam_reader and exc.reader == self._sam_reader:  # the SAM's reader, not the card's
                text = f"there is no SAM in reader {self._sam_reader!r}" if exc.no_card else (
                    f"cannot use the SAM in reader {self._sam_reader!r}: {exc.message}")  # fmt: skip
                raise SamUnavailableError(text) from exc
            raise

    def close(self) -> None:
        """Sessions release their PC/SC handles themselves."""
