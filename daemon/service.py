# ruff: noqa: N802  (method names are fixed by the proto)
"""The ``healthcard.v1.HealthCardService`` servicer: validation, reader jobs, journal, audit, errors, metrics.

Every RPC: bind a request id to the logs; validate (INVALID_ARGUMENT naming the field); run the card work as
a job on the reader's worker; append an audit row for reads of personal data, writes, issuance, loads and
debits; map failures to a status code plus reason metadata (:mod:`daemon.errors`); record latency and outcome.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

import grpc

from apdu.errors import DataError, HealthCardError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.audit import AuditRecord, AuditTrail
from daemon.auth import client_identity
from daemon.backend import CardOps, ReaderBackend
from daemon.config import TokenConfig
from daemon.convert import (
    CARD_SECTION,
    SECTIONS,
    STATE_OF,
    audit_message,
    card_data_sections,
    fill_card_data,
    group_message,
    set_timestamp,
    timestamp,
    transaction_message,
)
from daemon.database import StorageFullError
from daemon.errors import (
    ReaderBusyError,
    ShuttingDownError,
    TransactionNotFoundError,
    TransactionNotSettleableError,
    classify,
)
from daemon.events import EventBus
from daemon.idempotency import RequestStore, card_in_reader, fingerprint
from daemon.journal import Entry, Journal, Kind, State
from daemon.logs import bind_request_id, mask_id, new_request_id
from daemon.metrics import Metrics
from daemon.paging import politely
from daemon.readers import ReaderManager, ReaderStatus
from daemon.transactions import Request, Transactions
from daemon.validation import (
    check_amount,
    check_business_date,
    check_page,
    check_page_size,
    check_reader,
    check_request_id,
    check_text,
    check_timestamp,
    loggable,
)
from healthcard.api import Section

__all__ = ["UNPAGED_REPORT_MAX", "HealthCardServicer"]

#: Entries a GetReconciliationReport without page_size may return: about 2 MB, half gRPC's default 4 MiB limit.
UNPAGED_REPORT_MAX = 10_000

T = TypeVar("T")
log = logging.getLogger("healthcardd.service")
_PERSONAL = frozenset(Section) - {Section.ISSUER, Section.PURSE}  # a read of these is audited


class _AuditNote:
    """What one RPC tells the audit trail (filled in while the RPC runs)."""

    def __init__(self, operation: str, reader: str, operator_id: str) -> None:
        self.operation = operation
        self.reader = reader
        self.operator_id = operator_id
        self.card_number = ""
        self.enabled = True
        # A read of personal data: withheld when its audit row cannot be written (a full disk). Any other RPC
        # has done its work (a card written, a record added) and answers it; the missing row is logged.
        self.withhold_unaudited = False


class HealthCardServicer(pb_grpc.HealthCardServiceServicer):
    """The gRPC service of healthcardd."""

    def __init__(
        self,
        *,
        readers: ReaderManager,
        journal: Journal,
        audit: AuditTrail,
        events: EventBus,
        metrics: Metrics,
        tokens: Sequence[TokenConfig] = (),
        transactions: Transactions | None = None,
        requests: RequestStore | None = None,
    ) -> None:
        self._readers = readers
        self._journal = journal
        self._tx = transactions if transactions is not None else Transactions(journal)
        self._requests = requests if requests is not None else RequestStore(journal.database)
        self._audit = audit
        self._events = events
        self._metrics = metrics
        self._tokens = tuple(tokens)
        self._stopping = threading.Event()

    def stop(self) -> None:
        """End the WatchCards streams (shutdown)."""
        self._stopping.set()
        self._events.close()

    # --- the common envelope -------------------------------------------------------------------------------

    def _call_card(
        self,
        method: str,
        context: grpc.ServicerContext,
        request: _CardRequest,
        work: Callable[[_AuditNote], T],
        *,
        audit: bool = True,
    ) -> T:
        """:meth:`_call` for an RPC on a card: the request's request id, reader and operator id."""
        return self._call(
            method, context, work, request_id=request.request_id, reader=request.reader,
            operator_id=request.operator_id, audit=audit,
        )  # fmt: skip

    def _call(
        self,
        method: str,
        context: grpc.ServicerContext,
        work: Callable[[_AuditNote], T],
        *,
        request_id: str = "",
        reader: str = "",
        operator_id: str = "",
        audit: bool = True,
    ) -> T:
        note = _AuditNote(method, reader, operator_id)
        note.enabled = audit
        started = time.perf_counter()
        code = "OK"
        outcome = "OK"
        shown = loggable(reader)  # the request's reader name, bounded before it reaches a log line
        with bind_request_id(request_id or new_request_id()):
            try:
                result = work(note)
                try:
                    self._audit_call(context, note, "OK", request_id)
                except StorageFullError:
                    if note.withhold_unaudited:
                        raise  # STORAGE_FULL (below): no personal data leaves unaudited
                    log.error("%s: audit row not recorded, the journal's disk is full", method)
                return result
            except Exception as exc:
                failure = classify(exc)
                code, outcome = failure.code.name, failure.reason_name
                if failure.code in {grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}:
                    log.exception("%s failed: %s", method, failure.reason_name)
                else:
                    log.info("%s failed: %s", method, failure.reason_name, extra={"reader": shown})
                if reader:
                    label = self._metrics.reader_label(reader)
                    self._metrics.reader_errors.labels(reader=label, reason=failure.reason_name).inc()
                try:
                    self._audit_call(context, note, outcome, request_id)
                except StorageFullError:
                    log.error("%s: audit row not recorded, the journal's disk is full", method)
                context.set_trailing_metadata(failure.trailing_metadata())
                context.abort(failure.code, failure.message)
                raise  # unreachable: abort raises
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.rpc_latency.labels(method=method).observe(elapsed)
                self._metrics.rpc_total.labels(method=method, code=code).inc()
                if log.isEnabledFor(logging.INFO):  # the extra dict is built only when the line is logged
                    log.info(
                        "%s %s", method, outcome,
                        extra={"reader": shown, "card_number": mask_id(note.card_number),
                               "ms": round(elapsed * 1000, 2)},
                    )  # fmt: skip

    def _audit_call(self, context: grpc.ServicerContext, note: _AuditNote, outcome: str, request_id: str) -> None:
        """Append the RPC's audit row once (``note.enabled``); :class:`StorageFullError` when the disk is full."""
        if not note.enabled:
            return
        note.enabled = False
        self._audit.record(
            client=client_identity(context, self._tokens), operation=note.operation, outcome=outcome,
            reader=note.reader, card_number=note.card_number, operator_id=note.operator_id, request_id=request_id,
        )  # fmt: skip

    def _run(self, reader: str, fn: Callable[[ReaderBackend], T]) -> T:
        worker = self._readers.worker(reader)
        self._metrics.queue_depth.labels(reader=reader).set(worker.queue_depth)
        return worker.submit(fn, queue_timeout=self._readers.queue_timeout)  # = ReaderManager.run, one look-up

    def _once(
        self,
        request: _WriteRequest,
        note: _AuditNote,
        cls: type[W],
        job: Callable[[ReaderBackend, bool], W],
        *,
        bound_to_card: bool = True,
    ) -> W:
        """Run ``job`` on the request's reader at most once per request id (issue #11 item 3; idempotency.py).

        ``job(backend, retried)``: ``retried`` is True when an earlier attempt with this request id may have
        changed the card (its row is still ``started``), so the job looks for that attempt's effect first. A
        repeat of a done request answers the stored response (``replayed``), after checking that the card in the
        reader is the one it was done to when ``bound_to_card``.
        """
        if not request.request_id:
            return self._run(request.reader, lambda backend: job(backend, False))
        operation = note.operation.partition(":")[0]
        digest = fingerprint(request)

        def guarded(backend: ReaderBackend) -> W:
            stored = self._requests.begin(
                request_id=request.request_id,
                operation=operation,
                reader=request.reader,
                fingerprint=digest,
                operator_id=request.operator_id,
            )
            if stored is not None and stored.done:
                if bound_to_card:
                    self._requests.check_card(backend, stored)
                note.operation += ":replayed"
                note.card_number = stored.card_number
                response = cls.FromString(stored.response)
                response.replayed = True
                return response
            response = job(backend, stored is not None)
            try:
                self._requests.finish(
                    request.request_id, card_number=response.card_number, response=response.SerializeToString()
                )
            except StorageFullError:  # the card was written: say so; a repeat finds the write on the card
                log.error("%s: response not recorded, the journal's disk is full", operation)
            return response

        return self._run(request.reader, guarded)

    # --- readers -------------------------------------------------------------------------------------------

    def ListReaders(self, request: pb.ListReadersRequest, context: grpc.ServicerContext) -> pb.ListReadersResponse:
        def work(_: _AuditNote) -> pb.ListReadersResponse:
            out = pb.ListReadersResponse()
            sams: dict[str, ReaderStatus] = {}
            for status in self._readers.statuses():
                out.readers.add(
                    name=status.name,
                    card_present=status.card_present,
                    atr=status.atr,
                    role=pb.READER_ROLE_CARD,
                    sam_reader=status.sam_reader,
                    state=_card_reader_state(status),
                )
                if status.sam_reader and status.sam_reader not in sams:
                    sams[status.sam_reader] = status
            for sam, status in sams.items():
                out.readers.add(
                    name=sam, role=pb.READER_ROLE_SAM, card_present=status.sam_present,
                    state=(pb.READER_STATE_ABSENT if not status.sam_available else
                           pb.READER_STATE_SAM_UNUSABLE if not status.sam_usable else pb.READER_STATE_READY),
                )  # fmt: skip
            return out

        return self._call("ListReaders", context, work, audit=False)

    def WatchCards(
        self, request: pb.WatchCardsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchCardsResponse]:
        def checked(_: _AuditNote) -> None:  # bad arguments: INVALID_ARGUMENT with the reason metadata
            if request.reader:
                self._readers.worker(check_reader(request.reader))
            if request.after_event_id < 0:
                raise DataError("after_event_id: must not be negative", field="after_event_id")

        self._call("WatchCards", context, checked, audit=False)

        def active() -> bool:
            return bool(context.is_active()) and not self._stopping.is_set()

        for event in self._events.subscribe(after_id=request.after_event_id, reader=request.reader, active=active):
            yield pb.WatchCardsResponse(
                event_id=event.event_id,
                reader=event.reader,
                kind=pb.CARD_EVENT_KIND_INSERTED if event.inserted else pb.CARD_EVENT_KIND_REMOVED,
                atr=event.atr,
                event_time=timestamp(event.when),
            )

    # --- card data -----------------------------------------------------------------------------------------

    def ReadCard(self, request: pb.ReadCardRequest, context: grpc.ServicerContext) -> pb.ReadCardResponse:
        def work(note: _AuditNote) -> pb.ReadCardResponse:
            _check_card_request(request)
            names = _sections(request.sections)
            note.withhold_unaudited = True
            note.operation = "ReadCard:" + (",".join(sorted(s.value for s in names)) if names else "all")
            note.enabled = names is None or bool(set(names) & _PERSONAL)

            def job(backend: ReaderBackend) -> pb.ReadCardResponse:
                with backend.session() as card:
                    note.card_number = card.card_number
                    self._tx.resolve_card(card)
                    data = card.read(names)
                response = pb.ReadCardResponse()
                fill_card_data(response.card, data)  # in place: ReadCardResponse(card=...) would copy it
                if not response.card.card_number:
                    response.card.card_number = note.card_number
                return response

            return self._run(request.reader, job)

        return self._call_card("ReadCard", context, request, work)

    def WriteCard(self, request: pb.WriteCardRequest, context: grpc.ServicerContext) -> pb.WriteCardResponse:
        def work(note: _AuditNote) -> pb.WriteCardResponse:
            _check_card_request(request)
            names = _sections(request.sections)
            if not names:
                raise _invalid("sections", "sections: name at least one section to write")
            if Section.PHOTO in names or Section.PURSE in names:
                raise _invalid("sections", "sections: photo and purse cannot be written with WriteCard")
            note.operation = "WriteCard:" + ",".join(sorted(s.value for s in names))
            data = card_data_sections(request.card, names)
            clear = list(request.clear_fields)
            if len(clear) > 64:
                raise _invalid("clear_fields", "clear_fields: at most 64 names")
            for name in clear:
                check_text(name, "clear_fields", limit=64)
                if _section_of_field(name) not in names:
                    raise _invalid("clear_fields", f"clear_fields: {name!r} is not a field of a listed section")

            def job(backend: ReaderBackend, _retried: bool) -> pb.WriteCardResponse:
                with backend.session() as card:  # a retried merge writes the same values: nothing more changes
                    note.card_number = card.card_number
                    written = card.write(data, clear)
                return pb.WriteCardResponse(card_number=note.card_number, sections=[CARD_SECTION[w] for w in written])

            return self._once(request, note, pb.WriteCardResponse, job)

        return self._call_card("WriteCard", context, request, work)

    def IssueCard(self, request: pb.IssueCardRequest, context: grpc.ServicerContext) -> pb.IssueCardResponse:
        def work(note: _AuditNote) -> pb.IssueCardResponse:
            _check_card_request(request)
            if not request.card_number:
                raise _invalid("card_number", "card_number: required")
            check_text(request.card_number, "card_number", limit=32)
            if not request.holder.name:
                raise _invalid("holder.name", "holder.name: required")
            if request.holder.id_number and request.holder.id_number != request.card_number:
                raise _invalid(
                    "card_number", "card_number: must equal holder.id_number (KH is the ID number, WS/T 543.3 EF05)"
                )
            for name in ("name", "gender", "ethnicity", "birth_date", "id_number"):
                check_text(getattr(request.holder, name), f"holder.{name}", limit=64)
            note.card_number = request.card_number
            holder = {k: v for k, v in (
                ("name", request.holder.name), ("gender", request.holder.gender),
                ("ethnicity", request.holder.ethnicity), ("birth_date", request.holder.birth_date),
                ("id_number", request.holder.id_number),
            ) if v}  # fmt: skip

            def job(backend: ReaderBackend, retried: bool) -> pb.IssueCardResponse:
                if retried and _issued_already(backend, request.card_number):  # an earlier attempt issued it
                    return pb.IssueCardResponse(card_number=request.card_number)
                with backend.session() as card:
                    return pb.IssueCardResponse(card_number=card.issue(request.card_number, holder))

            return self._once(request, note, pb.IssueCardResponse, job, bound_to_card=False)

        return self._call_card("IssueCard", context, request, work)

    def AddRecord(self, request: pb.AddRecordRequest, context: grpc.ServicerContext) -> pb.AddRecordResponse:
        def work(note: _AuditNote) -> pb.AddRecordResponse:
            _check_card_request(request)
            if request.kind not in (cd.VISIT_KIND_INPATIENT, cd.VISIT_KIND_OUTPATIENT):
                raise _invalid("kind", "kind: VISIT_KIND_INPATIENT or VISIT_KIND_OUTPATIENT")
            if not request.items:
                raise _invalid("items", "items: at least one item")
            for value in request.items.values():
                check_text(value, "items", limit=256)
            kind = "inpatient" if request.kind == cd.VISIT_KIND_INPATIENT else "outpatient"
            note.operation = f"AddRecord:{kind}"
            items = dict(request.items)

            def job(backend: ReaderBackend, retried: bool) -> pb.AddRecordResponse:
                with backend.session() as card:
                    note.card_number = card.card_number
                    slot = _record_written(card, kind, items) if retried else None  # by an earlier attempt
                    if slot is None:
                        slot = card.add_record(kind, items)
                    written = getattr(card, "record_written", None)  # a daemon with [host]: the host gets a copy
                    if written is not None:
                        written(kind, items, slot)
                return pb.AddRecordResponse(card_number=note.card_number, slot=slot)

            return self._once(request, note, pb.AddRecordResponse, job)

        return self._call_card("AddRecord", context, request, work)

    # --- purse ---------------------------------------------------------------------------------------------

    def GetBalance(self, request: pb.GetBalanceRequest, context: grpc.ServicerContext) -> pb.GetBalanceResponse:
        def work(note: _AuditNote) -> pb.GetBalanceResponse:
            _check_card_request(request)

            def job(backend: ReaderBackend) -> pb.GetBalanceResponse:
                with backend.session() as card:
                    note.card_number = card.card_number
                    self._tx.resolve_card(card)
                    return pb.GetBalanceResponse(card_number=card.card_number, balance_fen=card.balance())

            return self._run(request.reader, job)

        return self._call_card("GetBalance", context, request, work, audit=False)

    def _purse(
        self, kind: Kind, request: pb.DebitRequest | pb.LoadRequest | pb.UnloadRequest, context: grpc.ServicerContext
    ) -> tuple[Entry, bool]:
        def work(note: _AuditNote) -> tuple[Entry, bool]:
            check_reader(request.reader)
            check_request_id(request.request_id)
            check_amount(request.amount_fen)
            merchant_id = "" if isinstance(request, pb.UnloadRequest) else request.merchant_id
            for name, value in (("merchant_id", merchant_id), ("order_id", request.order_id),
                                ("operator_id", request.operator_id)):  # fmt: skip
                check_text(value, name)
            if kind is Kind.UNLOAD and not request.operator_id:  # the cashier paying out: the settlement's till
                raise DataError("operator_id: required for an unload (the cashier paying out)", field="operator_id")
            tx = Request(
                kind=kind, reader=request.reader, amount_fen=request.amount_fen, request_id=request.request_id,
                merchant_id=merchant_id, order_id=request.order_id, operator_id=request.operator_id,
                client=client_identity(context, self._tokens), audit_operation=note.operation,
            )  # fmt: skip
            try:
                entry, replayed = self._run(request.reader, lambda backend: self._tx.execute(backend, tx))
            except (ReaderBusyError, ShuttingDownError) as exc:
                # This call never ran, but an earlier one with this request id may be running or may have run
                # (a client retrying after its deadline): its outcome is not a failure to report (item 2).
                found = self._journal.by_request_id(request.request_id)
                if found is not None and found.reader == request.reader and found.state is not State.VOIDED:
                    note.card_number = found.card_number
                    raise self._tx.in_doubt(found, exc) from exc
                raise
            except Exception:
                found = self._journal.by_request_id(request.request_id)
                if found is not None and found.reader == request.reader:
                    note.card_number = found.card_number
                raise
            note.card_number = entry.card_number
            if replayed:
                note.operation += ":replayed"
                try:  # a full disk must not turn the answer for a charged card into a failure (item 2)
                    self._audit_call(context, note, "OK", request.request_id)
                except StorageFullError:
                    log.error("%s: audit row of a replay not recorded, the journal's disk is full", note.operation)
            else:
                note.enabled = False  # the audit row was written with the TAC, in the same commit (journal.py)
            return entry, replayed

        return self._call_card(kind.value.capitalize(), context, request, work)

    def Debit(self, request: pb.DebitRequest, context: grpc.ServicerContext) -> pb.DebitResponse:
        entry, replayed = self._purse(Kind.DEBIT, request, context)
        return _purse_response(pb.DebitResponse, entry, replayed)

    def Load(self, request: pb.LoadRequest, context: grpc.ServicerContext) -> pb.LoadResponse:
        entry, replayed = self._purse(Kind.LOAD, request, context)
        return _purse_response(pb.LoadResponse, entry, replayed)

    def Unload(self, request: pb.UnloadRequest, context: grpc.ServicerContext) -> pb.UnloadResponse:
        """圈提 (docs/daemon.md "Unload"): the amount paid out on the card, journaled like a load."""
        entry, replayed = self._purse(Kind.UNLOAD, request, context)
        response = pb.UnloadResponse(
            transaction_id=entry.transaction_id, card_number=entry.card_number,
            balance_fen=entry.balance_after_fen or 0, card_counter=entry.card_counter or 0,
            terminal_id=entry.terminal_id, answer_mac=entry.tac, replayed=replayed,
        )  # fmt: skip
        if entry.transaction_time is not None:
            set_timestamp(response.transaction_time, entry.transaction_time)
        return response

    # --- journal and audit ---------------------------------------------------------------------------------

    def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: grpc.ServicerContext
    ) -> pb.ListTransactionsResponse:
        def work(_: _AuditNote) -> pb.ListTransactionsResponse:
            limit = check_page_size(request.page_size)
            check_text(request.card_number, "card_number", limit=32)
            state = None
            if request.state != pb.TRANSACTION_STATE_UNSPECIFIED:
                if request.state not in STATE_OF:
                    raise _invalid("state", "state: unknown value")
                state = STATE_OF[request.state]
            entries, next_token = self._journal.list_entries(
                limit=limit, page_token=request.page_token, card_number=request.card_number, state=state,
                start=check_timestamp(request.start_time if request.HasField("start_time") else None, "start_time"),
                end=check_timestamp(request.end_time if request.HasField("end_time") else None, "end_time"),
            )  # fmt: skip
            return pb.ListTransactionsResponse(
                transactions=[transaction_message(e) for e in politely(entries)],
                next_page_token=next_token,
            )

        return self._call("ListTransactions", context, work, audit=False)

    def GetReconciliationReport(
        self, request: pb.GetReconciliationReportRequest, context: grpc.ServicerContext
    ) -> pb.GetReconciliationReportResponse:
        def work(_: _AuditNote) -> pb.GetReconciliationReportResponse:
            day = check_business_date(request.business_date)
            check_text(request.terminal_id, "terminal_id", limit=32)
            terminal = request.terminal_id
            if request.page_size == 0:  # the whole report in one message, as before paging existed
                if request.page_token:
                    raise _invalid("page_token", "page_token: only with page_size > 0")
                size = self._journal.reconciliation_size(day, terminal_id=terminal)
                if size > UNPAGED_REPORT_MAX:
                    raise _invalid(
                        "page_size",
                        f"page_size: the report has {size} entries, more than {UNPAGED_REPORT_MAX} in one response;"
                        " ask for pages (page_size 1..1000)",
                    )
                groups, open_count = self._journal.reconciliation(day, terminal_id=terminal)
                return pb.GetReconciliationReportResponse(
                    groups=[group_message(g) for g in groups], open_count=open_count
                )
            limit = check_page_size(request.page_size)
            response = pb.GetReconciliationReportResponse()
            if not request.page_token:
                totals, response.open_count = self._journal.reconciliation_totals(day, terminal_id=terminal)
                response.groups.extend(group_message(g) for g in totals)
            entries, response.next_page_token = self._journal.reconciliation_entries(
                day, terminal_id=terminal, limit=limit, page_token=request.page_token
            )
            response.transactions.extend(transaction_message(e) for e in politely(entries))
            return response

        return self._call("GetReconciliationReport", context, work, audit=False)

    def SettleTransaction(
        self, request: pb.SettleTransactionRequest, context: grpc.ServicerContext
    ) -> pb.SettleTransactionResponse:
        def work(note: _AuditNote) -> pb.SettleTransactionResponse:
            if not _TRANSACTION_ID.fullmatch(request.transaction_id):
                raise _invalid("transaction_id", "transaction_id: 32 hexadecimal digits (from ListTransactions)")
            outcome = _SETTLED_AS.get(request.outcome)
            if outcome is None:
                raise _invalid("outcome", "outcome: TRANSACTION_STATE_CONFIRMED or TRANSACTION_STATE_VOIDED")
            if request.tac and (outcome is not State.CONFIRMED or not _TAC.fullmatch(request.tac)):
                raise _invalid("tac", "tac: 8 hexadecimal digits, and only with TRANSACTION_STATE_CONFIRMED")
            for name in ("operator_id", "reason"):
                if not check_text(getattr(request, name), name):
                    raise _invalid(name, f"{name}: required")
            entry = self._journal.get(request.transaction_id)
            if entry is None:
                raise TransactionNotFoundError(f"no journal entry {request.transaction_id!r}")
            note.operation = f"SettleTransaction:{outcome.value}"
            note.reader, note.card_number = entry.reader, entry.card_number
            audit = AuditRecord(
                client=client_identity(context, self._tokens), operation=note.operation, outcome="OK",
                reader=entry.reader, card_number=entry.card_number, operator_id=request.operator_id,
                request_id=entry.request_id,
            )  # fmt: skip
            settle_note = f"operator {request.operator_id}: {request.reason}"
            tac = request.tac.upper()
            if entry.reader in self._readers.names():
                settled = self._run(
                    entry.reader,
                    lambda backend: self._tx.settle(backend, entry, outcome, tac=tac, note=settle_note, audit=audit),
                )
            else:  # the reader is no longer configured: there is no card to ask
                if entry.state is not State.PREPARED:
                    raise TransactionNotSettleableError(
                        f"transaction {entry.transaction_id} is {entry.state.value}; only a prepared entry is settled"
                    )
                settled = self._journal.settle(entry, outcome, tac=tac, note=settle_note, audit=audit)
            note.enabled = False  # the audit row was written with the settlement, in the same commit
            return pb.SettleTransactionResponse(transaction=transaction_message(settled))

        return self._call("SettleTransaction", context, work, operator_id=request.operator_id)

    def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        def work(_: _AuditNote) -> pb.ListAuditEventsResponse:
            limit, cursor = check_page(request.page_size, request.page_token)
            events, next_id = self._audit.list_events(
                limit=limit, before_id=cursor,
                start=check_timestamp(request.start_time if request.HasField("start_time") else None, "start_time"),
                end=check_timestamp(request.end_time if request.HasField("end_time") else None, "end_time"),
            )  # fmt: skip
            return pb.ListAuditEventsResponse(
                events=[audit_message(e) for e in events],
                next_page_token=str(next_id) if next_id is not None else "",
            )

        return self._call("ListAuditEvents", context, work, audit=False)


_UTC = _dt.UTC


_TRANSACTION_ID = re.compile(r"[0-9a-f]{32}")
_TAC = re.compile(r"[0-9A-Fa-f]{8}")
_SETTLED_AS = {pb.TRANSACTION_STATE_CONFIRMED: State.CONFIRMED, pb.TRANSACTION_STATE_VOIDED: State.VOIDED}


class _CardRequest(Protocol):
    reader: str
    operator_id: str
    request_id: str


def _card_reader_state(status: ReaderStatus) -> pb.ReaderState.ValueType:
    """READY, ABSENT, or SAM_UNUSABLE when its SAM refused the configured PIN (daemon/samgate.py)."""
    if not status.available:
        return pb.READER_STATE_ABSENT
    return pb.READER_STATE_SAM_UNUSABLE if not status.sam_usable else pb.READER_STATE_READY


def _check_card_request(request: _CardRequest) -> None:
    """The fields every card RPC but Debit/Load carries: reader, optional operator id and request id."""
    check_reader(request.reader)
    check_text(request.operator_id, "operator_id")
    check_request_id(request.request_id, required=False)


W = TypeVar("W", pb.WriteCardResponse, pb.IssueCardResponse, pb.AddRecordResponse)
_WriteRequest = pb.WriteCardRequest | pb.IssueCardRequest | pb.AddRecordRequest


def _issued_already(backend: ReaderBackend, card_number: str) -> bool:
    """Whether the card in the reader already carries ``card_number`` (an earlier IssueCard attempt issued it)."""
    try:
        return card_in_reader(backend) == card_number
    except HealthCardError:  # a blank or half-personalised card has no readable card number
        return False


def _record_written(card: CardOps, kind: str, items: Mapping[int, str]) -> int | None:
    """The slot of a valid ``kind`` record on the card holding every one of ``items`` (an earlier attempt's)."""
    section = Section.parse(kind)
    for record in card.read([section]).get(section) or ():
        if record.valid and all(record.items.get(k) == v for k, v in items.items()):
            return int(record.slot)
    return None


def _invalid(field: str, message: str) -> Exception:
    return DataError(message, field=field)


def _section_of_field(name: str) -> Section | None:
    """The section of a ``"section.field"`` name (``clinical.asthma``; the former proto spellings too), if any."""
    try:
        return Section.parse(name.partition(".")[0])
    except DataError:
        return None


def _sections(values: Sequence[cd.CardSection.ValueType]) -> list[Section] | None:
    """The card API's sections of a request's ``CardSection`` values (``None``: none listed, all sections)."""
    if not values:
        return None
    names = []
    for value in values:
        section = SECTIONS.get(value)
        if section is None:
            raise _invalid("sections", f"sections: unknown section {value}")
        names.append(section)
    return names


R = TypeVar("R", pb.DebitResponse, pb.LoadResponse)


def _purse_response(cls: type[R], entry: Entry, replayed: bool) -> R:
    """The Debit/Load response for a journal entry (the transaction time set in place, not copied in)."""
    response = cls(
        transaction_id=entry.transaction_id, card_number=entry.card_number, balance_fen=entry.balance_after_fen or 0,
        card_counter=entry.card_counter or 0, terminal_id=entry.terminal_id,
        terminal_serial=entry.terminal_serial or 0, tac=entry.tac, replayed=replayed,
    )  # fmt: skip
    if entry.transaction_time is not None:
        set_timestamp(response.transaction_time, entry.transaction_time)
    return response
