"""Loads and debits through the journal, and recovery of interrupted ones (issue #6; JR/T 0025.1 GET TRANSACTION PROVE).

Everything here runs on the reader's worker thread, so a transaction and the recovery of that card's earlier
transactions never interleave with other APDUs to the reader.

* :meth:`Transactions.execute` — intent → (card) prepared → (card) confirmed with the TAC and the audit row in
  one durable commit (``Journal.complete``), or voided when the card was provably not changed. A repeated
  request id returns the first result without touching the card.
* :meth:`Transactions.resolve_card` — for the card now in the reader: ``intent`` → voided; ``prepared`` →
  GET TRANSACTION PROVE (``CardOps.recover``) → confirmed with the TAC, or voided; ``debited`` → confirmed.
* :meth:`Transactions.resolve_at_startup` — what needs no card: ``intent`` → voided, ``debited`` → confirmed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import grpc

from apdu.errors import LibraryError, ReaderError
from daemon import faults
from daemon.audit import AuditRecord
from daemon.backend import CardOps, Completed, Prepared, ReaderBackend
from daemon.errors import (
    DaemonError,
    TransactionInDoubtError,
    TransactionNotSettleableError,
    classify,
    code_of_reason,
)
from daemon.journal import Entry, Journal, Kind, RequestIdConflictError, State

__all__ = ["Request", "Transactions", "VoidedError"]

log = logging.getLogger("healthcardd.transactions")


class VoidedError(DaemonError):
    """The request's transaction was voided; the same failure is returned for every repeat."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, reason_text: str, reason: int) -> None:
        super().__init__(reason_text)
        self.reason = reason
        self.code = code_of_reason(reason)  # the code the first answer had


@dataclass(frozen=True)
class Request:
    """A validated load or debit request."""

    kind: Kind
    reader: str
    amount_fen: int
    request_id: str
    merchant_id: str = ""
    order_id: str = ""
    operator_id: str = ""
    client: str = ""
    audit_operation: str = ""  # when set, the audit row of a success is written with the TAC (same commit)


class _Hooks:
    """Journal writes (and fault-injection points) around the APDU that changes the card."""

    def __init__(self, journal: Journal, entry: Entry, request: Request) -> None:
        self._journal = journal
        self._entry = entry
        self._request = request
        self.prepared_seen = False
        self.card_number = ""
        self.final: Entry | None = None

    def prepared(self, prepared: Prepared) -> None:
        self._journal.mark_prepared(
            self._entry.transaction_id,
            card_number=prepared.card_number,
            balance_before_fen=prepared.balance_before_fen,
            card_counter=prepared.card_counter,
            terminal_id=prepared.terminal_id,
            terminal_serial=prepared.terminal_serial,
            when=prepared.when,
            purse_factor=prepared.purse_factor,
        )
        self.prepared_seen = True
        self.card_number = prepared.card_number
        faults.hit(self._entry.kind.value, "after_prepared")

    def completed(self, completed: Completed) -> None:
        faults.hit(self._entry.kind.value, "before_debited_record")
        request = self._request
        audit = None
        if request.audit_operation:
            audit = AuditRecord(
                client=request.client, operation=request.audit_operation, outcome="OK", reader=request.reader,
                card_number=self.card_number, operator_id=request.operator_id, request_id=request.request_id,
            )  # fmt: skip
        self.final = self._journal.complete(
            self._entry.transaction_id,
            balance_after_fen=completed.balance_fen,
            card_counter=completed.card_counter,
            terminal_id=completed.terminal_id,
            terminal_serial=completed.terminal_serial,
            tac=completed.tac,
            mac2=completed.mac2,
            when=completed.when,
            audit=audit,
        )
        faults.hit(self._entry.kind.value, "after_debited")


def _prepared_of(entry: Entry) -> Prepared:
    assert entry.transaction_time is not None
    return Prepared(
        card_number=entry.card_number,
        amount_fen=entry.amount_fen,
        balance_before_fen=entry.balance_before_fen or 0,
        card_counter=entry.card_counter or 0,
        terminal_id=entry.terminal_id,
        terminal_serial=entry.terminal_serial or 0,
        when=entry.transaction_time,
        purse_factor=entry.purse_factor,
    )


class Transactions:
    """Journaled purse transactions for the reader workers."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._in_flight: set[str] = set()  # transaction ids being executed by some reader worker right now
        # prepared entries the card could not decide (its proof and detail record are gone): left open for the
        # reconciliation, not asked again in this run, and no obstacle to other operations on the card
        self.undecidable: set[str] = set()
        self._lock = threading.Lock()

    def _replay(self, backend: ReaderBackend, entry: Entry) -> tuple[Entry, bool]:
        """The answer to a repeated request id: its final result, its stored failure, or in doubt.

        An open entry is first resolved on the card when that card is in the reader (a retry after an in-doubt
        answer). A final entry is bound to its card: another card in the reader is a conflict
        (``mismatch=card_number``) and that card is not touched; with no card in the reader the stored answer
        is given (it names its card).
        """
        if entry.is_open:
            try:
                self._try_resolve(backend, entry)
            except Exception as exc:  # the card or the SAM failed while being asked: still in doubt
                raise self.in_doubt(entry, exc) from exc
            entry = self.journal.get(entry.transaction_id) or entry
            if entry.is_open:
                raise self.in_doubt(entry, None)
        if entry.card_number:
            self._check_card(backend, entry)
        if entry.state is State.CONFIRMED:
            return entry, True
        from daemon._gen.healthcard.v1 import errors_pb2  # noqa: PLC0415 - generated enum lookup

        name, _, message = entry.void_reason.partition(": ")
        try:
            reason = errors_pb2.ErrorReason.Value(f"ERROR_REASON_{name}")
        except ValueError:
            reason, message = errors_pb2.ERROR_REASON_INTERNAL, entry.void_reason
        raise VoidedError(message or entry.void_reason, reason)

    def _check_card(self, backend: ReaderBackend, entry: Entry) -> None:
        """Refuse a repeat of ``entry``'s request id while another card is in the reader (issue #11, item 3)."""
        try:
            with backend.session() as card:
                number = card.card_number
        except ReaderError as exc:
            if exc.removed:
                return  # no card in the reader: the stored answer names its card
            if entry.state is State.VOIDED:
                return  # a failure answer is true for any card: none was changed
            raise self.in_doubt(entry, exc) from exc
        except Exception as exc:
            if entry.state is State.VOIDED:
                return
            raise self.in_doubt(entry, exc) from exc
        if number != entry.card_number:
            raise RequestIdConflictError(
                f"request_id {entry.request_id!r} belongs to a {entry.kind.value} of another card; the card in "
                f"reader {entry.reader!r} was not touched: use a new request_id for it",
                mismatch="card_number",
            )

    def in_doubt(self, entry: Entry, exc: BaseException | None) -> TransactionInDoubtError:
        """The in-doubt answer for ``entry`` (``exc``: what went wrong; ``None``: its card is not there)."""
        if exc is None:
            cause, detail = "CARD_NOT_IN_READER", "its card is not in the reader or cannot decide it yet"
        else:
            failure = classify(exc)
            cause, detail = failure.reason_name, failure.message
        log.warning("transaction in doubt: %s", cause, extra={"transaction_id": entry.transaction_id})
        return TransactionInDoubtError(
            kind=entry.kind.value, transaction_id=entry.transaction_id, request_id=entry.request_id, cause=cause,
            detail=detail,
        )  # fmt: skip

    def execute(self, backend: ReaderBackend, request: Request) -> tuple[Entry, bool]:
        """Run one load/debit on the worker; returns ``(final entry, replayed)`` (issue #11, item 2).

        Never a plain failure once the card may have changed: a failure after ``prepared`` is resolved on the
        card within the call (GET TRANSACTION PROVE, detail records) — confirmed: the result is returned;
        voided: the failure — or raises :class:`TransactionInDoubtError`. A failure answer means the card was
        not changed. A new request that succeeds has its audit row written with the TAC when
        ``request.audit_operation`` is set (the caller must not append another); replays and failures are
        audited by the caller.
        """
        entry, created = self.journal.begin(
            request_id=request.request_id,
            kind=request.kind,
            reader=request.reader,
            amount_fen=request.amount_fen,
            merchant_id=request.merchant_id,
            order_id=request.order_id,
            operator_id=request.operator_id,
            client=request.client,
        )
        if not created:
            return self._replay(backend, entry)
        faults.hit(request.kind.value, "after_intent")
        hooks = _Hooks(self.journal, entry, request)
        with self._lock:
            self._in_flight.add(entry.transaction_id)
        try:
            try:
                with backend.session() as card:
                    self.resolve_card(card)
                    if request.kind is Kind.DEBIT:
                        card.debit(request.amount_fen, hooks)
                    elif request.kind is Kind.UNLOAD:
                        card.unload(request.amount_fen, hooks)
                    else:
                        card.load(request.amount_fen, hooks)
                confirmed = hooks.final if hooks.final is not None else self.journal.confirm(entry.transaction_id)
            except Exception as exc:
                confirmed = self._after_failure(backend, entry, hooks, exc, request)
        finally:
            with self._lock:
                self._in_flight.discard(entry.transaction_id)
        faults.hit(request.kind.value, "after_confirmed")
        return confirmed, False

    def _after_failure(
        self, backend: ReaderBackend, entry: Entry, hooks: _Hooks, exc: Exception, request: Request
    ) -> Entry:
        """The final entry of a transaction that raised ``exc``; raises ``exc`` (card unchanged) or in doubt."""
        failure = classify(exc)
        text = f"{failure.reason_name}: {failure.message}"
        if not hooks.prepared_seen:  # DEBIT/CREDIT was never sent (it follows the durable prepared row)
            try:
                self.journal.void(entry.transaction_id, text)
            except Exception:  # left as an intent: voided at the next start-up or presentation of the card
                log.exception("voiding an untouched transaction failed", extra={"transaction_id": entry.transaction_id})
            raise exc
        try:
            current = self.journal.get(entry.transaction_id)
            if current is not None and current.state is State.DEBITED:  # the card answered; the reply was lost
                current = self.journal.confirm(entry.transaction_id, audit=self._recovered_audit(request, current))
            elif current is not None and current.state is State.PREPARED:
                # The card may or may not have executed DEBIT/CREDIT: ask it (GET TRANSACTION PROVE) if it is there.
                self._try_resolve(backend, current, failure_text=text, audit=self._recovered_audit(request, current))
                current = self.journal.get(entry.transaction_id)
        except Exception as inner:  # the reader, card, SAM or journal failed while asking: in doubt
            raise self.in_doubt(entry, exc) from inner
        if current is not None and current.state is State.CONFIRMED:
            log.warning("transaction recovered within the call after %s", failure.reason_name,
                        extra={"transaction_id": entry.transaction_id})  # fmt: skip
            return current
        if current is not None and current.state is State.VOIDED:
            raise exc  # the card proved it was not changed
        raise self.in_doubt(current or entry, exc) from exc

    @staticmethod
    def _recovered_audit(request: Request, entry: Entry) -> AuditRecord | None:
        if not request.audit_operation:
            return None
        return AuditRecord(
            client=request.client, operation=request.audit_operation + ":recovered", outcome="OK",
            reader=request.reader, card_number=entry.card_number, operator_id=request.operator_id,
            request_id=request.request_id,
        )  # fmt: skip

    def _try_resolve(
        self, backend: ReaderBackend, entry: Entry, failure_text: str = "", audit: AuditRecord | None = None
    ) -> None:
        if entry.state is State.INTENT:
            self.journal.void(entry.transaction_id, failure_text or "INTERNAL: interrupted before the card")
            return
        if entry.state is State.DEBITED:
            self.journal.confirm(entry.transaction_id, audit=audit)
            return
        try:
            with backend.session() as card:
                if card.card_number == entry.card_number:
                    self._resolve_prepared(card, entry, failure_text, audit)
        except ReaderError:
            log.info("open transaction waits for its card", extra={"transaction_id": entry.transaction_id})
        except LibraryError as exc:
            self._undecidable(entry, exc)

    def _resolve_prepared(
        self, card: CardOps, entry: Entry, failure_text: str = "", audit: AuditRecord | None = None
    ) -> None:
        result = card.recover(entry.kind, _prepared_of(entry))
        if result is None:
            self.journal.void(entry.transaction_id, failure_text or "CARD_REMOVED: the card was not changed")
            log.info("open transaction voided: card not changed", extra={"transaction_id": entry.transaction_id})
            return
        self.journal.mark_debited(
            entry.transaction_id,
            balance_after_fen=result.balance_fen,
            card_counter=result.card_counter,
            terminal_id=result.terminal_id or entry.terminal_id,
            terminal_serial=result.terminal_serial or (entry.terminal_serial or 0),
            tac=result.tac,
            mac2=result.mac2,
        )
        self.journal.confirm(entry.transaction_id, audit=audit)
        log.info("open transaction confirmed from the card", extra={"transaction_id": entry.transaction_id})

    def resolve_card(self, card: CardOps) -> int:
        """Resolve every open entry of the card in the reader; returns how many were resolved."""
        with self._lock:
            busy = set(self._in_flight)
        with self._lock:
            busy = busy | self.undecidable
        entries = [  # intents have no card number yet; entries being executed by a worker are not open
            e for e in self.journal.open_entries(card_number=card.card_number) if e.transaction_id not in busy
        ]
        resolved = 0
        for entry in entries:
            if entry.state is State.PREPARED:
                try:
                    self._resolve_prepared(card, entry)
                except LibraryError as exc:
                    self._undecidable(entry, exc)
                    continue
            else:
                self._try_resolve_without_card(entry)
            resolved += 1
        return resolved

    def settle(
        self, backend: ReaderBackend, entry: Entry, outcome: State, *, tac: str, note: str, audit: AuditRecord
    ) -> Entry:
        """An operator settles a ``prepared`` entry (``Journal.settle``), on the entry's reader worker.

        The card is asked first when it is in the reader (GET TRANSACTION PROVE and the detail records); if it
        decides, that decision stands and :class:`TransactionNotSettleableError` says so.
        """
        if entry.state is not State.PREPARED:
            raise TransactionNotSettleableError(
                f"transaction {entry.transaction_id} is {entry.state.value}; only a prepared entry is settled"
            )
        self._try_resolve(backend, entry)
        current = self.journal.get(entry.transaction_id) or entry
        if not current.is_open:
            raise TransactionNotSettleableError(
                f"transaction {entry.transaction_id}: its card decided it just now ({current.state.value})"
            )
        settled = self.journal.settle(current, outcome, tac=tac, note=note, audit=audit)
        with self._lock:
            self.undecidable.discard(entry.transaction_id)
        log.warning("transaction settled by an operator: %s", outcome.value,
                    extra={"transaction_id": entry.transaction_id, "operator_id": audit.operator_id})  # fmt: skip
        return settled

    def _undecidable(self, entry: Entry, exc: LibraryError) -> None:
        """The card can no longer say whether ``entry`` ran (``recover_*`` raised): leave it open, once."""
        with self._lock:
            self.undecidable.add(entry.transaction_id)
        log.warning(
            "open transaction cannot be decided from the card; left open for the reconciliation: %s", exc,
            extra={"transaction_id": entry.transaction_id},
        )  # fmt: skip

    def _try_resolve_without_card(self, entry: Entry) -> None:
        if entry.state is State.INTENT:
            self.journal.void(entry.transaction_id, "INTERNAL: interrupted before the card was touched")
        elif entry.state is State.DEBITED:
            self.journal.confirm(entry.transaction_id)

    def resolve_at_startup(self) -> list[Entry]:
        """Resolve what needs no card; returns the entries still waiting for their card (``prepared``)."""
        waiting = []
        for entry in self.journal.open_entries():
            if entry.state is State.PREPARED:
                waiting.append(entry)
            else:
                self._try_resolve_without_card(entry)
        return waiting
