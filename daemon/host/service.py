# ruff: noqa: N802  (method names are fixed by the proto)
"""The HostService servicer: registry, status changes and the blacklist stream (issue #12; docs/host.md).

Every RPC runs in one envelope (:meth:`HostServicer._call`): a request id bound to its log lines, the latency
and outcome in the metrics, and a failure mapped by :func:`daemon.errors.classify` to the gRPC status with the
project's trailing metadata (:func:`daemon.grpcserver.abort`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from apdu.errors import DataError
from daemon._gen.healthcard.host.v1 import host_service_pb2 as pb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as pb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon.auth import client_identity
from daemon.config import TokenConfig
from daemon.errors import classify
from daemon.grpcserver import abort
from daemon.host.audit import KINDS, run_audit
from daemon.host.clearing import Clearing, LedgerRow, Upload
from daemon.host.credits import Credit, Credits
from daemon.host.errors import CardNotRegisteredError, NodeMismatchError
from daemon.host.loads import CardAnswer, Loads
from daemon.host.metrics import HostMetrics
from daemon.host.registry import (
    HOLDER_FIELDS,
    BlacklistChange,
    CardRecord,
    CardStatus,
    Registry,
    StatusChange,
    VisitUpload,
)
from daemon.host.settlement import settle
from daemon.host.unloads import Unloads
from daemon.logs import bind_request_id, new_request_id
from healthcard.api import InpatientRecord, OutpatientRecord, SignatureStatus, TrustList, check_reported

__all__ = ["HostServicer", "ListNotifier"]

log = logging.getLogger("healthcard-host")
T = TypeVar("T")


def _trusted_name(trust: TrustList, signer_key: str) -> str | None:
    """The trust-list name of a stored signer key (hex), or None (not trusted now, or not a key)."""
    try:
        return trust.name_of(bytes.fromhex(signer_key))
    except ValueError:
        return None


def timestamp(iso: str) -> Timestamp:
    """A protobuf Timestamp from the ledger's ISO text."""
    ts = Timestamp()
    if iso:
        ts.FromDatetime(_dt.datetime.fromisoformat(iso))
    return ts


def card_status(status: CardStatus) -> pb.CardStatus.ValueType:
    """The proto enum value of a status."""
    return pb.CardStatus.Value(f"CARD_STATUS_{status.value}")


def card_message(record: CardRecord) -> pb.Card:
    """The ``Card`` message of a registry row."""
    return pb.Card(
        card_number=record.card_number, masked_id=record.masked_id, institution=record.institution,
        status=card_status(record.status), replaced_by=record.replaced_by, purse_factor=record.purse_factor,
        opening_balance_fen=record.opening_balance_fen, registered_at=timestamp(record.registered_at),
        listed=record.status.listed, replaced_by_purse_factor=record.replaced_by_factor,
    )  # fmt: skip


def _change_message(change: StatusChange) -> pb.CardStatusChange:
    return pb.CardStatusChange(
        from_status=card_status(change.from_status), to_status=card_status(change.to_status),
        operator_id=change.operator_id, reason=change.reason, changed_at=timestamp(change.changed_at),
        client=change.client,
    )  # fmt: skip


def _list_message(change: BlacklistChange) -> pb.WatchBlacklistResponse:
    return pb.WatchBlacklistResponse(
        version=change.version, card_number=change.card_number, listed=change.listed,
        status=card_status(change.status), changed_at=timestamp(change.changed_at), purse_factor=change.purse_factor,
    )  # fmt: skip


_VISIT_KIND = {"inpatient": cd.VISIT_KIND_INPATIENT, "outpatient": cd.VISIT_KIND_OUTPATIENT}
_KIND = {"debit": pb.TRANSACTION_KIND_DEBIT, "load": pb.TRANSACTION_KIND_LOAD, "unload": pb.TRANSACTION_KIND_UNLOAD}
_KIND_NAME = {v: k for k, v in _KIND.items()}


def _upload(t: pb.UploadedTransaction) -> Upload:
    when = t.transaction_time.ToDatetime(_dt.UTC).isoformat(timespec="microseconds") if t.HasField(
        "transaction_time") else ""  # fmt: skip
    return Upload(
        transaction_id=t.transaction_id, kind=_KIND_NAME.get(t.kind, ""), card_number=t.card_number,
        amount_fen=t.amount_fen, balance_before_fen=t.balance_before_fen, balance_after_fen=t.balance_after_fen,
        card_counter=t.card_counter, terminal_id=t.terminal_id.upper(), terminal_serial=t.terminal_serial,
        tac=t.tac.upper(), card_time=t.card_time, transaction_time=when, business_date=t.business_date,
        merchant_id=t.merchant_id, operator_id=t.operator_id, order_id=t.order_id, purse_factor=t.purse_factor,
    )  # fmt: skip


def _entry_message(e: LedgerRow) -> pb.LedgerEntry:
    u = e.upload
    return pb.LedgerEntry(
        transaction=pb.UploadedTransaction(
            transaction_id=u.transaction_id, kind=_KIND[u.kind], card_number=u.card_number, amount_fen=u.amount_fen,
            balance_before_fen=u.balance_before_fen, balance_after_fen=u.balance_after_fen,
            card_counter=u.card_counter, terminal_id=u.terminal_id, terminal_serial=u.terminal_serial, tac=u.tac,
            card_time=u.card_time, transaction_time=timestamp(u.transaction_time), business_date=u.business_date,
            merchant_id=u.merchant_id, operator_id=u.operator_id, order_id=u.order_id, purse_factor=u.purse_factor,
        ),
        node_id=e.node_id, tac_status=pb.TacStatus.Value(f"TAC_STATUS_{e.tac_status}"),
        received_at=timestamp(e.received_at),
    )  # fmt: skip


def own_node(client: str, node_id: str) -> str:
    """``node_id`` if the caller may speak for that node: a caller known by its token (``token:<name>``) only for
    the node named as its token; without tokens (loopback only, docs/host.md) for any. Else
    :class:`NodeMismatchError`."""
    name = client.removeprefix("token:")
    if client.startswith("token:") and node_id != name:
        raise NodeMismatchError(f"this token (name {name!r}) speaks for node {name!r} only, not {node_id!r}")
    return node_id


def _card_answer(request: pb.AuthoriseLoadRequest | pb.AuthoriseUnloadRequest, client: str) -> CardAnswer:
    """The request's fields for :meth:`Loads.authorise` / :meth:`Unloads.authorise` (the two messages share them)."""
    return CardAnswer(
        node_id=own_node(client, request.node_id), card_number=request.card_number, amount_fen=request.amount_fen,
        balance_before_fen=request.balance_before_fen, online_counter=request.online_counter,
        icc_random=request.icc_random, mac1=request.mac1, terminal_id=request.terminal_id, card_time=request.card_time,
        algorithm=request.algorithm, purse_factor=request.purse_factor, key_version=request.key_version,
    )  # fmt: skip


def _credit_message(c: Credit) -> pb.Credit:
    kind = pb.CreditKind.Value(f"CREDIT_KIND_{c.kind}")
    return pb.Credit(credit_id=c.credit_id, card_number=c.card_number, kind=kind, amount_fen=c.amount_fen,
                     reference=c.reference, used=c.used, purse_factor=c.purse_factor)  # fmt: skip


class ListNotifier:
    """Wakes the WatchBlacklist streams when this host changed the list (others are seen by polling)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self.closed = False

    def notify(self) -> None:
        """A change was committed."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until a change after generation ``seen`` (or the timeout, or close); the generation now."""
        with self._cond:
            if self._generation == seen and not self.closed:
                self._cond.wait(timeout)
            return self._generation

    @property
    def generation(self) -> int:
        """Changes notified so far."""
        with self._cond:
            return self._generation

    def close(self) -> None:
        """End every stream (shutdown)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class HostServicer(pb_grpc.HostServiceServicer):
    """HostService over a :class:`Registry`."""

    def __init__(
        self, *, registry: Registry, clearing: Clearing, loads: Loads, unloads: Unloads, credits: Credits,
        metrics: HostMetrics, tokens: Sequence[TokenConfig] = (), poll_interval_s: float = 1.0,
        trusted_signers: TrustList | None = None,
    ) -> None:  # fmt: skip
        #: The SAM keys whose visit-record signatures the host accepts for 补卡 (``[trusted_signers]``).
        self.trust = trusted_signers if trusted_signers is not None else TrustList()
        self._unloads = unloads
        self._credits = credits
        self._registry = registry
        self._clearing = clearing
        self._loads = loads
        self._metrics = metrics
        self._tokens = tuple(tokens)
        self._poll = poll_interval_s
        self.lists = ListNotifier()

    def stop(self) -> None:
        """End the WatchBlacklist streams."""
        self.lists.close()

    def _call(self, method: str, context: grpc.ServicerContext, work: Callable[[str], T]) -> T:
        started = time.perf_counter()
        code = "OK"
        with bind_request_id(new_request_id()):
            try:
                return work(client_identity(context, self._tokens))
            except Exception as exc:
                failure = classify(exc)
                code = failure.code.name
                if failure.code is grpc.StatusCode.INTERNAL:
                    log.exception("%s failed: %s", method, failure.reason_name)
                else:
                    log.info("%s failed: %s", method, failure.reason_name)
                abort(context, failure)
            finally:
                self._metrics.rpc_latency.labels(method=method).observe(time.perf_counter() - started)
                self._metrics.rpc_total.labels(method=method, code=code).inc()

    # --- registry -----------------------------------------------------------------------------------------

    def RegisterCard(self, request: pb.RegisterCardRequest, context: grpc.ServicerContext) -> pb.RegisterCardResponse:
        def work(client: str) -> pb.RegisterCardResponse:
            record, created = self._registry.register(
                card_number=request.card_number, masked_id=request.masked_id, institution=request.institution,
                purse_factor=request.purse_factor, opening_balance_fen=request.opening_balance_fen,
                operator_id=request.operator_id, client=client, observed=request.observed,
            )  # fmt: skip
            if created:
                log.info("card registered", extra={"card_number": record.card_number})
            if request.HasField("holder"):  # personal data: kept, never logged
                holder = {name: getattr(request.holder, name) for name in HOLDER_FIELDS}
                self._registry.keep_holder(request.card_number, holder, client)
            return pb.RegisterCardResponse(card=card_message(record), created=created)

        return self._call("RegisterCard", context, work)

    def GetHolderData(
        self, request: pb.GetHolderDataRequest, context: grpc.ServicerContext
    ) -> pb.GetHolderDataResponse:
        def work(_client: str) -> pb.GetHolderDataResponse:
            kept = self._registry.holder(request.card_number)
            visits = [  # only records VALID at upload, signed by a key still trusted
                cd.VisitRecord(kind=_VISIT_KIND[v.kind], slot=v.slot, valid=True, items=v.items,
                               signature_status=cd.SIGNATURE_STATUS_VALID, signer=signer, signer_key=v.signer_key)
                for v in self._registry.visits(request.card_number, request.purse_factor)
                if (signer := _trusted_name(self.trust, v.signer_key)) is not None
            ]  # fmt: skip
            if kept is None and not visits:
                raise CardNotRegisteredError(f"the host keeps no holder data for card {request.card_number}")
            fields, updated_at, updated_by = kept or ({}, "", "")
            return pb.GetHolderDataResponse(holder=cd.Holder(**fields), updated_at=timestamp(updated_at),
                                            updated_by=updated_by, visits=visits)  # fmt: skip

        return self._call("GetHolderData", context, work)

    def UploadVisitRecords(
        self, request: pb.UploadVisitRecordsRequest, context: grpc.ServicerContext
    ) -> pb.UploadVisitRecordsResponse:
        def work(client: str) -> pb.UploadVisitRecordsResponse:
            node = own_node(client, request.node_id)
            records = [self._checked_visit(node, r) for r in request.records]
            recorded, duplicates = self._registry.keep_visits(node, records)
            untrusted = sum(1 for r in records if r.status != SignatureStatus.VALID.value)
            if untrusted:
                self._metrics.visit_signatures.labels(outcome="refused").inc(untrusted)
            self._metrics.visit_signatures.labels(outcome="valid").inc(len(records) - untrusted)
            return pb.UploadVisitRecordsResponse(recorded=recorded, duplicates=duplicates, untrusted=untrusted)

        return self._call("UploadVisitRecords", context, work)

    def _checked_visit(self, node: str, r: pb.UploadedVisitRecord) -> VisitUpload:
        """An uploaded record with the status the card API's check gives it here (KH + kind + slot binding,
        ``[trusted_signers]``); a record that is not VALID is logged without personal data (never kept for 补卡)."""
        kind = {v: k for k, v in _VISIT_KIND.items()}.get(r.record.kind, "")
        items = dict(r.record.items)
        upload = VisitUpload(r.record_key, r.card_number, r.purse_factor, kind, r.record.slot, items,
                             r.signature, r.signer_key)  # fmt: skip
        try:
            record = (InpatientRecord if kind == "inpatient" else OutpatientRecord)(r.record.slot, True, items)
            signature, key = bytes.fromhex(r.signature), bytes.fromhex(r.signer_key)
            status = check_reported(record, signature, key, self.trust, r.card_number).status
        except (DataError, ValueError):  # not a record of this layout, or not hex: nothing that could verify
            status = SignatureStatus.INVALID
        if status is not SignatureStatus.VALID:
            fields = {"node_id": node, "kind": kind, "slot": r.record.slot, "signature_status": status.name}
            log.warning("visit record not kept for 补卡: its signature is %s", status.name, extra=fields)  # no KH
        return dataclasses.replace(upload, status=status.value)

    def GetCard(self, request: pb.GetCardRequest, context: grpc.ServicerContext) -> pb.GetCardResponse:
        def work(_client: str) -> pb.GetCardResponse:
            record = self._registry.get(request.card_number, request.purse_factor)
            history = [_change_message(c) for c in self._registry.history(*record.key)]
            cards = [card_message(c) for c in self._registry.cards_of(record.card_number)]
            return pb.GetCardResponse(card=card_message(record), history=history, cards=cards)

        return self._call("GetCard", context, work)

    def _status_change(
        self, method: str, context: grpc.ServicerContext, card_number: str, to: CardStatus,
        operator_id: str, reason: str, purse_factor: str,
    ) -> tuple[CardRecord, int]:  # fmt: skip
        def work(client: str) -> tuple[CardRecord, int]:
            record, version = self._registry.change_status(
                card_number, to, operator_id=operator_id, reason=reason, client=client, purse_factor=purse_factor
            )
            self.lists.notify()
            self._metrics.blacklist_version.set(version)
            log.info("card status changed", extra={"card_number": card_number, "status": to.value,
                                                   "blacklist_version": version})  # fmt: skip
            return record, version

        return self._call(method, context, work)

    def ReportLost(self, request: pb.ReportLostRequest, context: grpc.ServicerContext) -> pb.ReportLostResponse:
        record, version = self._status_change(
            "ReportLost", context, request.card_number, CardStatus.LOST, request.operator_id, request.reason,
            request.purse_factor,
        )  # fmt: skip
        return pb.ReportLostResponse(card=card_message(record), blacklist_version=version)

    def ReportFound(self, request: pb.ReportFoundRequest, context: grpc.ServicerContext) -> pb.ReportFoundResponse:
        record, version = self._status_change(
            "ReportFound", context, request.card_number, CardStatus.ISSUED, request.operator_id, request.reason,
            request.purse_factor,
        )  # fmt: skip
        return pb.ReportFoundResponse(card=card_message(record), blacklist_version=version)

    # --- clearing ---------------------------------------------------------------------------------------------

    def UploadTransactions(
        self, request: pb.UploadTransactionsRequest, context: grpc.ServicerContext
    ) -> pb.UploadTransactionsResponse:
        def work(client: str) -> pb.UploadTransactionsResponse:
            uploads = [_upload(t) for t in request.transactions]
            results = self._clearing.record(own_node(client, request.node_id), uploads)
            for r in results:
                self._metrics.uploads.labels(outcome="duplicate" if r.duplicate else r.tac_status.lower()).inc()
            flagged = [r for r in results if not r.duplicate and r.tac_status != "VERIFIED"]
            for r in flagged:
                log.warning("uploaded transaction not verified", extra={"transaction_id": r.transaction_id,
                            "node_id": request.node_id, "tac_status": r.tac_status})  # fmt: skip
            return pb.UploadTransactionsResponse(results=[
                pb.UploadResult(transaction_id=r.transaction_id, duplicate=r.duplicate,
                                tac_status=pb.TacStatus.Value(f"TAC_STATUS_{r.tac_status}"))
                for r in results
            ])  # fmt: skip

        return self._call("UploadTransactions", context, work)

    def GetAccount(self, request: pb.GetAccountRequest, context: grpc.ServicerContext) -> pb.GetAccountResponse:
        def work(_client: str) -> pb.GetAccountResponse:
            record = self._registry.get(request.card_number, request.purse_factor)
            size = request.page_size or 50
            if not 0 < size <= 500:
                raise DataError("page_size: 1-500", field="page_size")
            page = self._clearing.entries(record, limit=size, token=request.page_token)
            last = self._clearing.last_seen_balance(record)
            return pb.GetAccountResponse(
                card=card_message(record), shadow_balance_fen=record.shadow_balance_fen,
                last_seen_balance_fen=-1 if last is None else last,
                tac_failures=self._clearing.tac_failures(record),
                gaps=[pb.CounterGap(kind=_KIND[g.kind], first_missing=g.first_missing, last_missing=g.last_missing)
                      for g in self._clearing.gaps(record)],
                entries=[_entry_message(e) for e in page.rows], next_page_token=page.next_token,
            )  # fmt: skip

        return self._call("GetAccount", context, work)

    def AuthoriseLoad(
        self, request: pb.AuthoriseLoadRequest, context: grpc.ServicerContext
    ) -> pb.AuthoriseLoadResponse:
        def work(client: str) -> pb.AuthoriseLoadResponse:
            granted = self._loads.authorise(**_card_answer(request, client))
            log.info("load authorised", extra={"card_number": request.card_number, "amount_fen": request.amount_fen,
                                               "authorisation_id": granted.authorisation_id})  # fmt: skip
            kind = pb.CreditKind.Value(f"CREDIT_KIND_{granted.credit_kind or 'UNSPECIFIED'}")
            return pb.AuthoriseLoadResponse(mac2=granted.mac2.hex().upper(), authorisation_id=granted.authorisation_id,
                                            credit_kind=kind)  # fmt: skip

        return self._call("AuthoriseLoad", context, work)

    def AuthoriseUnload(
        self, request: pb.AuthoriseUnloadRequest, context: grpc.ServicerContext
    ) -> pb.AuthoriseUnloadResponse:
        def work(client: str) -> pb.AuthoriseUnloadResponse:
            granted = self._unloads.authorise(**_card_answer(request, client))
            log.info("unload authorised", extra={"card_number": request.card_number,
                                                 "amount_fen": request.amount_fen,
                                                 "authorisation_id": granted.authorisation_id})  # fmt: skip
            return pb.AuthoriseUnloadResponse(mac2=granted.mac2.hex().upper(),
                                              authorisation_id=granted.authorisation_id)  # fmt: skip

        return self._call("AuthoriseUnload", context, work)

    # --- 日结 and 稽核 --------------------------------------------------------------------------------------------

    def GetSettlement(
        self, request: pb.GetSettlementRequest, context: grpc.ServicerContext
    ) -> pb.GetSettlementResponse:
        def work(_client: str) -> pb.GetSettlementResponse:
            declared: dict[str, int] = {}
            for d in request.declared:
                declared[d.operator_id] = declared.get(d.operator_id, 0) + d.amount_fen
            day = settle(self._registry.db, request.business_date, declared)
            return pb.GetSettlementResponse(
                business_date=day.business_date,
                groups=[pb.SettlementGroup(dimension=g.dimension, key=g.key, kind=_KIND[g.kind], count=g.count,
                                           amount_fen=g.amount_fen, verified_count=g.verified_count,
                                           verified_amount_fen=g.verified_amount_fen) for g in day.groups],
                cash=[pb.CashReconciliation(operator_id=c.operator_id, expected_fen=c.expected_fen,
                                            declared_fen=c.declared_fen, difference_fen=c.difference_fen)
                      for c in day.cash],
                total_debits_fen=day.total_debits_fen, total_loads_fen=day.total_loads_fen,
                total_unloads_fen=day.total_unloads_fen,
                csv=day.to_csv(), json=day.to_json(),
            )  # fmt: skip

        return self._call("GetSettlement", context, work)

    def GetAuditReport(
        self, request: pb.GetAuditReportRequest, context: grpc.ServicerContext
    ) -> pb.GetAuditReportResponse:
        def work(_client: str) -> pb.GetAuditReportResponse:
            if request.silent_hours < 0 or request.unused_months < 0:
                raise DataError("silent_hours and unused_months must be >= 0", field="silent_hours")
            ran = _dt.datetime.now(_dt.UTC)
            findings = run_audit(self._registry.db, silent_hours=request.silent_hours or 24,
                                 unused_months=request.unused_months or 12, now=ran)  # fmt: skip
            counts = {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS}
            reply = pb.GetAuditReportResponse(
                findings=[pb.AuditFinding(kind=f.kind, card_number=f.card_number, node_id=f.node_id, detail=f.detail,
                                          purse_factor=f.purse_factor) for f in findings],
                counts=counts,
            )  # fmt: skip
            reply.ran_at.FromDatetime(ran)
            return reply

        return self._call("GetAuditReport", context, work)

    # --- 退费, 补卡, 注销 ------------------------------------------------------------------------------------------

    def RefundDebit(self, request: pb.RefundDebitRequest, context: grpc.ServicerContext) -> pb.RefundDebitResponse:
        def work(client: str) -> pb.RefundDebitResponse:
            credit, left = self._credits.refund(
                node_id=request.node_id, transaction_id=request.transaction_id, amount_fen=request.amount_fen,
                operator_id=request.operator_id, reason=request.reason, request_id=request.request_id, client=client,
            )  # fmt: skip
            return pb.RefundDebitResponse(credit=_credit_message(credit), refundable_fen=left)

        return self._call("RefundDebit", context, work)

    def ReplaceCard(self, request: pb.ReplaceCardRequest, context: grpc.ServicerContext) -> pb.ReplaceCardResponse:
        def work(client: str) -> pb.ReplaceCardResponse:
            old, credit = self._credits.replace(
                old_card_number=request.old_card_number, new_card_number=request.new_card_number,
                operator_id=request.operator_id, reason=request.reason, client=client,
                old_purse_factor=request.old_purse_factor, new_purse_factor=request.new_purse_factor,
                new_opening_balance_fen=request.new_opening_balance_fen,
            )  # fmt: skip
            self.lists.notify()
            new = self._registry.get(old.replaced_by, old.replaced_by_factor)
            return pb.ReplaceCardResponse(old_card=card_message(old), new_card=card_message(new),
                                          credit=_credit_message(credit) if credit else None)  # fmt: skip

        return self._call("ReplaceCard", context, work)

    def CancelCard(self, request: pb.CancelCardRequest, context: grpc.ServicerContext) -> pb.CancelCardResponse:
        def work(client: str) -> pb.CancelCardResponse:
            card, payout = self._credits.cancel(
                card_number=request.card_number, operator_id=request.operator_id, reason=request.reason, client=client,
                purse_factor=request.purse_factor, unload_node_id=request.unload_node_id,
                unload_transaction_id=request.unload_transaction_id,
            )  # fmt: skip
            self.lists.notify()
            by_unload = bool(request.unload_node_id or request.unload_transaction_id)
            return pb.CancelCardResponse(card=card_message(card), payout_fen=payout, by_unload=by_unload)

        return self._call("CancelCard", context, work)

    # --- the blacklist stream -----------------------------------------------------------------------------

    def WatchBlacklist(
        self, request: pb.WatchBlacklistRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchBlacklistResponse]:
        """Every change after ``since_version``, then each new one (woken by this host, or polled)."""
        if request.since_version < 0:
            abort(context, classify(DataError("since_version must be >= 0", field="since_version")))
        version = int(request.since_version)
        self._metrics.watchers.inc()
        try:
            while context.is_active() and not self.lists.closed:
                seen = self.lists.generation
                changes = self._registry.blacklist_since(version)
                for change in changes:
                    yield _list_message(change)
                    version = change.version
                if not changes:
                    self.lists.wait(seen, self._poll)
        finally:
            self._metrics.watchers.dec()
