"""The daemon's link to healthcard-host (issue #12; docs/host.md, "The daemon's side").

:class:`HostLink` runs one background thread per duty, each reconnecting on its own after the host was
unreachable (pause ``retry_s``), so the daemon serves its readers whether the host is up or not:

* the **uploader** sends the outbox (:class:`daemon.outbox.Outbox`: every confirmed journal entry and every
  card seen for the first time) in the order written, in batches, deleting rows only once the host answered;
* the **load authoriser** (:meth:`HostLink.authorise_load`) asks the host for MAC2 of each load (the daemon's
  Load never uses the SAM's load extension while a host is configured), and the **unload authoriser**
  (:meth:`HostLink.authorise_unload`) for MAC2 of each unload (圈提, the same rule);
* the **blacklist follower** subscribes to ``WatchBlacklist`` from the version of the local copy
  (:class:`daemon.blacklist.LocalBlacklist`) and applies each change as it arrives — a card reported lost at the
  counter is refused at this kiosk within a second or two of the report while connected, and from the local
  copy (persisted) while the host is down.

The host's address, CA and token come from ``[host]`` (:class:`daemon.config.HostLinkConfig`); the token never
reaches logs. This module uses the host's generated gRPC stubs only; it never imports ``daemon.host``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from prometheus_client import Gauge

from apdu.errors import CardError
from apdu.redact import mask_id
from daemon import faults
from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon.backend import CardOps
from daemon.blacklist import ListChange, LocalBlacklist
from daemon.config import HostLinkConfig
from daemon.errors import REASON_KEY, DaemonError, R, code_of_reason
from daemon.journal import Entry, Journal, Kind
from daemon.metrics import Metrics
from daemon.outbox import Outbox, OutboxRow
from healthcard.api import LoadRequest, UnloadAuthorisation

__all__ = ["HostLink", "HostRefusedError", "HostUnavailableError", "host_channel"]

log = logging.getLogger("healthcardd.hostlink")


def host_channel(config: HostLinkConfig) -> grpc.Channel:
    """A channel to the host: TLS with ``ca_file`` when given, else plain (loopback only, enforced by config)."""
    options = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000)]
    if config.ca_file is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=config.ca_file.read_bytes())
        return grpc.secure_channel(config.address, credentials, options=options)
    return grpc.insecure_channel(config.address, options=options)


class HostUnavailableError(DaemonError):
    """The host could not be reached for a load's or unload's authorisation; the card was not changed."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = R.ERROR_REASON_HOST_UNAVAILABLE


class HostRefusedError(DaemonError):
    """The host refused the load or unload (its reason: CARD_LISTED, WRONG_MAC, CARD_NOT_REGISTERED ...)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, reason: int, *, message_zh: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code_of_reason(reason)  # HOST_KEYS_UNAVAILABLE: UNAVAILABLE (retry later); else FAILED_PRECONDITION
        self.message_zh = message_zh


_UPLOAD_BATCH = 200
_MAX_PAUSE = 30.0


def card_time(when: _dt.datetime) -> str:
    """The YYYYMMDDhhmmss the card put into its TAC: the terminal's local time of the transaction."""
    local = when.astimezone() if when.tzinfo is not None else when
    return local.strftime("%Y%m%d%H%M%S")


_UPLOAD_KIND = {Kind.DEBIT: hpb.TRANSACTION_KIND_DEBIT, Kind.LOAD: hpb.TRANSACTION_KIND_LOAD,
                Kind.UNLOAD: hpb.TRANSACTION_KIND_UNLOAD}  # fmt: skip


def upload_message(entry: Entry) -> hpb.UploadedTransaction:
    """A confirmed journal entry as the host's ``UploadedTransaction``."""
    when = entry.transaction_time or entry.updated_at or _dt.datetime.now(_dt.UTC)
    message = hpb.UploadedTransaction(
        transaction_id=entry.transaction_id,
        kind=_UPLOAD_KIND[entry.kind],
        card_number=entry.card_number, amount_fen=entry.amount_fen,
        balance_before_fen=entry.balance_before_fen or 0, balance_after_fen=entry.balance_after_fen or 0,
        card_counter=entry.card_counter or 0, terminal_id=entry.terminal_id,
        terminal_serial=entry.terminal_serial or 0, tac=entry.tac, card_time=card_time(when),
        business_date=entry.business_date, merchant_id=entry.merchant_id, operator_id=entry.operator_id,
        order_id=entry.order_id, purse_factor=entry.purse_factor,
    )  # fmt: skip
    message.transaction_time.FromDatetime(when.astimezone(_dt.UTC))
    return message


def _status_name(status: int) -> str:
    return hpb.CardStatus.Name(status).removeprefix("CARD_STATUS_")  # type: ignore[arg-type]


class HostLink:
    """The background duties towards the host (module docstring)."""

    def __init__(
        self, config: HostLinkConfig, blacklist: LocalBlacklist, outbox: Outbox, journal: Journal, metrics: Metrics
    ) -> None:
        self.config = config
        self.node_id = config.node_id or socket.gethostname()
        self.blacklist = blacklist
        self.outbox = outbox
        self.journal = journal
        self._wake = threading.Event()
        self._channel = host_channel(config)
        self.stub = hpb_grpc.HostServiceStub(self._channel)
        self._stop = threading.Event()
        self._stream: Any = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.list_version = Gauge(
            "healthcardd_blacklist_version", "Host blacklist version applied locally", registry=metrics.registry
        )
        self.list_contact = Gauge(
            "healthcardd_blacklist_last_contact_timestamp_seconds",
            "When the blacklist stream last delivered or connected (list age = now - this)", registry=metrics.registry,
        )  # fmt: skip
        self.list_version.set(blacklist.version)
        self.outbox_waiting = Gauge(
            "healthcardd_host_outbox_waiting", "Outbox rows waiting for the host", registry=metrics.registry
        )
        self.outbox_parked = Gauge(
            "healthcardd_host_outbox_parked", "Outbox rows the host refused as malformed", registry=metrics.registry
        )
        self.uploaded = threading.Event()  # the outbox was empty after a successful round (tests, demo)
        self.connected = threading.Event()  # the blacklist stream is open
        #: called with the card number and ``listed`` of each change the stream delivers (the daemon blocks or
        #: unblocks that card at once if it is in a reader)
        self.on_change: Callable[[str, bool], None] | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The bearer token of this daemon at the host (none configured: no metadata)."""
        token = self.config.token
        return (("authorization", f"Bearer {token.reveal()}"),) if token is not None else ()

    def start(self) -> None:
        """Start the background threads."""
        for target, name in ((self._follow, "host-blacklist"), (self._upload_loop, "host-upload")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        """Something was added to the outbox: send it now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the threads and close the channel."""
        self._stop.set()
        self._wake.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.cancel()
        for thread in self._threads:
            thread.join(timeout=5)
        self._channel.close()

    # --- load authorisation ---------------------------------------------------------------------------------

    def authorise_load(self, request: LoadRequest, *, purse_factor: str = "") -> bytes:
        """MAC2 from the host for a ``healthcard.api.purse.LoadRequest`` (raises before the card is changed).

        ``purse_factor``: the card's, as read in the reader — with the card number, the physical card the host
        authorises (it keys MAC2 with its registry's factor of that card, never with this one)."""
        message = hpb.AuthoriseLoadRequest(**self._card_answer(request, purse_factor))
        reply = self._authorise(self.stub.AuthoriseLoad, message, "load")
        return bytes.fromhex(reply.mac2)

    def authorise_unload(self, request: LoadRequest) -> UnloadAuthorisation:
        """MAC2 from the host for an unload (圈提; ``request.transaction_type`` 03). The host keeps the answer MAC
        the card must give and checks it when the unload is uploaded, so ``expected_answer`` is ``None``."""
        factor = bytes(request.diversification_factor).hex().upper()
        message = hpb.AuthoriseUnloadRequest(**self._card_answer(request, factor))
        reply = self._authorise(self.stub.AuthoriseUnload, message, "unload")
        return UnloadAuthorisation(bytes.fromhex(reply.mac2), None)

    def _card_answer(self, request: LoadRequest, purse_factor: str) -> dict[str, Any]:
        """The fields ``AuthoriseLoadRequest`` and ``AuthoriseUnloadRequest`` share (the card's INITIALIZE answer)."""
        return dict(
            node_id=self.node_id, card_number=request.card_number, amount_fen=request.amount_fen,
            balance_before_fen=request.balance_before_fen, online_counter=request.online_counter,
            icc_random=bytes(request.icc_random).hex().upper(), mac1=bytes(request.mac1).hex().upper(),
            terminal_id=bytes(request.terminal_id).hex().upper(), card_time=card_time(request.when),
            key_version=request.key_version, algorithm=request.algorithm, purse_factor=purse_factor,
        )  # fmt: skip

    def _authorise(self, method: Any, message: Any, what: str) -> Any:
        """Call an authorisation RPC; every failure is raised before the card is changed."""
        try:
            return method(message, metadata=self.metadata, timeout=10)
        except grpc.RpcError as exc:
            code = exc.code()
            failed: Any = exc
            trailers: dict[str, Any] = {key: value for key, value in failed.trailing_metadata() or ()}
            name = str(trailers.get(REASON_KEY, "INTERNAL"))
            if name == "HOST_KEYS_UNAVAILABLE":  # the host answered: its SAM cannot (the card was not changed)
                raise HostRefusedError(
                    f"the hospital host cannot authorise loads now: {exc.details()}; the card was not changed",
                    R.ERROR_REASON_HOST_KEYS_UNAVAILABLE,
                    message_zh="医院主机的密钥设备(SAM)暂不可用，无法圈存；卡片未改变，请稍后重试。",
                ) from None
            if code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}:
                raise HostUnavailableError(
                    f"the hospital host cannot be reached to authorise the {what}; the card was not changed"
                ) from None
            try:
                reason = R.Value(f"ERROR_REASON_{name}")
            except ValueError:
                reason = R.ERROR_REASON_INTERNAL
            raise HostRefusedError(f"the hospital host refused the {what}: {exc.details()}", reason) from None

    # --- APPLICATION BLOCK of listed cards ------------------------------------------------------------------

    def block_if_listed(self, card: CardOps) -> bool:
        """On insertion, after open transactions were settled: APPLICATION BLOCK of a listed card's purse.

        Temporary block (P2 ``00``) with the SAM's line-protection MAC (JR/T 0025.1 APPLICATION/CARD BLOCK;
        ``healthcard.api.lifecycle``): the purse then refuses every purse command at any terminal, also one that
        does not follow the host's list. Listed means this physical card — KH and purse factor — so a holder's
        new card is not blocked for the old one. The factor is kept first (``host_blocked_purses``, by the chip's
        number from the ATR): the MAC of the later APPLICATION UNBLOCK is keyed with it, and a blocked purse cannot
        be read. True when it blocked.
        """
        number = card.card_number
        if self.blacklist.status(number) is None:  # no card of this KH is listed: nothing to read
            return False
        try:
            factor = card.purse_factor()
        except CardError:  # the purse cannot be read: blocked already (here or at another kiosk)
            return False
        if self.blacklist.status(number, factor) is None:
            return False
        self.blacklist.record_block(number, card.chip_number(), factor)
        card.block_purse()
        log.warning("listed card inserted: purse application blocked", extra={"card_number": mask_id(number)})
        return True

    def unblock_if_lifted(self, card: CardOps) -> bool:
        """On insertion, first: APPLICATION UNBLOCK of a blocked purse whose card is no longer listed (解挂).

        A blocked purse cannot say its factor; the chip's number (ATR) can: the factor is the one kept when this
        daemon blocked that chip or, for a chip another kiosk blocked, the registry's card of this KH whose factor
        is the chip number (the cards this project issues have EF15's factor = cardNo). True when it unblocked.
        """
        number = card.card_number
        chip = card.chip_number()
        try:
            card.purse_factor()
        except CardError:
            pass  # blocked
        else:
            if self.blacklist.blocked_factor(number, chip) is not None:
                self.blacklist.forget_block(number, chip)
            return False  # not blocked (or a crash between keeping the factor and the block)
        factor = self.blacklist.blocked_factor(number, chip) or self._registered_factor(number, chip)
        if not factor or self.blacklist.status(number, factor) is not None:
            return False
        card.unblock_purse(factor)
        self.blacklist.forget_block(number, chip)
        log.warning("card no longer listed: purse application unblocked", extra={"card_number": mask_id(number)})
        return True

    def _registered_factor(self, card_number: str, chip: str) -> str:
        """The factor of the registry's card of this KH and chip ("" when the host does not have it or cannot say)."""
        request = hpb.GetCardRequest(card_number=card_number, purse_factor=chip)
        try:
            reply = self.stub.GetCard(request, metadata=self.metadata, timeout=5)
        except grpc.RpcError:
            return ""
        return str(reply.card.purse_factor)

    # --- cards seen ---------------------------------------------------------------------------------------------

    def card_issued(self, card: CardOps, holder: Mapping[str, object]) -> None:
        """After IssueCard: enqueue the new card's registration with the holder's data it was issued with.

        The host keeps the holder's data per card number for the card office (补卡: the replacement card gets it;
        personal data, read back only by the issuer and admin roles). The row waits in the outbox like any other
        (a crash or an unreachable host loses nothing) and marks the card seen, so insertion adds no second one.
        """
        number, factor = card.card_number, card.purse_factor()
        registration = {
            "card_number": number, "masked_id": mask_id(number), "institution": self.config.institution or "-",
            "purse_factor": factor, "opening_balance_fen": card.balance(), "operator_id": self.node_id,
            "holder": {k: str(v) for k, v in holder.items()},
        }  # fmt: skip
        if self.outbox.card_seen(number, factor, registration):
            self.wake()

    def card_seen(self, card: CardOps) -> None:
        """On insertion: the first time this daemon sees a card, enqueue its registration for the host."""
        number = card.card_number
        factor = card.purse_factor()
        if self.outbox.card_seen_before(number, factor):
            return
        registration = {
            "card_number": number, "masked_id": mask_id(number), "institution": self.config.institution or "-",
            "purse_factor": factor, "opening_balance_fen": card.balance(), "operator_id": self.node_id,
        }  # fmt: skip
        if self.outbox.card_seen(number, factor, registration):
            self.wake()

    # --- the uploader -----------------------------------------------------------------------------------------

    def _upload_loop(self) -> None:
        pause = self.config.retry_s
        while not self._stop.is_set():
            try:
                sent = self.flush()
                pause = self.config.retry_s
                if sent:
                    continue
                self._wake.wait(0.5)
                self._wake.clear()
            except grpc.RpcError as exc:
                log.warning("upload to the host failed: %s; retrying in %.1fs", exc.code().name, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, _MAX_PAUSE)
            except Exception:
                log.exception("uploader failed")
                self._stop.wait(pause)

    def flush(self) -> int:
        """Send what waits in the outbox (one round); the number of rows the host answered for."""
        rows = self.outbox.pending(_UPLOAD_BATCH)
        done = 0
        while rows and not self._stop.is_set():
            kind = rows[0].kind  # a run of rows of one kind, in the order written
            same = [r.kind == kind for r in rows]
            run = rows[:1] if kind == "register" else rows[: same.index(False) if False in same else len(rows)]
            if kind == "register":
                self._send_registration(run[0])
                done += 1
            elif kind == "record":
                done += self._send_records(run)
            else:
                done += self._send_uploads(run)
            rows = rows[len(run) :]
        waiting, parked = self.outbox.counts()
        self.outbox_waiting.set(waiting)
        self.outbox_parked.set(parked)
        if waiting == 0:
            self.uploaded.set()
        else:
            self.uploaded.clear()
        return done

    def _send_registration(self, row: OutboxRow) -> None:
        payload = dict(row.payload)
        holder = payload.pop("holder", None)
        request = hpb.RegisterCardRequest(observed=True, **payload)
        if holder:
            request.holder.CopyFrom(cd.Holder(**holder))
        try:
            self.stub.RegisterCard(request, metadata=self.metadata, timeout=10)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.INVALID_ARGUMENT:
                raise
            self.outbox.park(row.seq, f"RegisterCard refused: {exc.details()}")
            log.error("the host refused a card registration; parked", extra={"card_number": row.payload.get(
                "card_number", "")})  # fmt: skip
            return
        self.outbox.done([row.seq])

    def _send_records(self, rows: list[OutboxRow]) -> int:
        """Visit records to the host (UploadVisitRecords): recorded once per (node, key) there."""
        records = [
            hpb.UploadedVisitRecord(
                record_key=row.key, card_number=row.payload["card_number"], purse_factor=row.payload["purse_factor"],
                record=cd.VisitRecord(kind=cd.VisitKind.Value(f"VISIT_KIND_{row.payload['kind'].upper()}"),
                                      slot=int(row.payload["slot"]), valid=True,
                                      items={int(k): v for k, v in row.payload["items"].items()}),
                signature=row.payload.get("signature", ""), signer_key=row.payload.get("signer_key", ""),
            )
            for row in rows
        ]  # fmt: skip
        request = hpb.UploadVisitRecordsRequest(node_id=self.node_id, records=records)
        try:
            self.stub.UploadVisitRecords(request, metadata=self.metadata, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.INVALID_ARGUMENT:
                raise
            for row in rows:  # kept with the reason; the rows behind them go on
                self.outbox.park(row.seq, f"UploadVisitRecords refused: {exc.details()}")
            log.error("the host refused visit records; parked", extra={"count": len(rows)})
            return len(rows)
        self.outbox.done([row.seq for row in rows])
        return len(rows)

    def record_written(self, card: CardOps, kind: str, items: Mapping[int, str], slot: int) -> None:
        """After AddRecord (also a retry that found the record on the card): enqueue the record for the host.

        The key (card, kind, slot, content) makes the same write one row; the host keeps the visit records of each
        physical card for the card office (补卡: copied onto the replacement). The record goes with the signature
        and signer key read back from the card: the host keeps for 补卡 only what a SAM it trusts signed for this
        card, kind and slot (docs/host.md). A row queued before that carries neither and is kept UNSIGNED there."""
        number, factor = card.card_number, card.purse_factor()
        signature, signer_key = card.record_signature(kind, slot)
        content = json.dumps({str(k): v for k, v in sorted(items.items())}, ensure_ascii=False)
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
        payload = {"card_number": number, "purse_factor": factor, "kind": kind, "slot": slot,
                   "items": {str(k): v for k, v in items.items()},
                   "signature": signature.hex().upper(), "signer_key": signer_key.hex().upper()}  # fmt: skip
        if self.outbox.record_written(f"record:{number}:{factor}:{kind}:{slot}:{digest}", payload):
            self.wake()

    def _send_uploads(self, rows: list[OutboxRow]) -> int:
        entries: list[tuple[OutboxRow, Entry]] = []
        gone: list[int] = []
        for row in rows:
            entry = self.journal.get(row.key)
            if entry is None:
                gone.append(row.seq)  # cannot happen (journal rows are never deleted); nothing to send
            else:
                entries.append((row, entry))
        self.outbox.done(gone)
        if not entries:
            return len(gone)
        messages = [upload_message(e) for _, e in entries]
        request = hpb.UploadTransactionsRequest(node_id=self.node_id, transactions=messages)
        try:
            reply = self.stub.UploadTransactions(request, metadata=self.metadata, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.INVALID_ARGUMENT or len(entries) == 1:
                if exc.code() is grpc.StatusCode.INVALID_ARGUMENT:
                    self.outbox.park(entries[0][0].seq, f"UploadTransactions refused: {exc.details()}")
                    log.error("the host refused an upload; parked",
                              extra={"transaction_id": entries[0][1].transaction_id})  # fmt: skip
                    return 1
                raise
            return sum(self._send_uploads([row]) for row, _ in entries)  # find the malformed one
        for result in reply.results:
            if result.tac_status != hpb.TAC_STATUS_VERIFIED:
                log.warning(
                    "the host did not verify an uploaded TAC",
                    extra={
                        "transaction_id": result.transaction_id,
                        "tac_status": hpb.TacStatus.Name(result.tac_status),
                    },
                )
        faults.hit("upload", "after_host_answer")  # crash test: the host recorded them, the outbox still has them
        self.outbox.done([row.seq for row, _ in entries])
        return len(entries) + len(gone)

    # --- the blacklist follower -------------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    break
                log.warning("blacklist stream from the host broke: %s", exc.code().name)
            except Exception:  # never let the thread die: the copy would age silently
                log.exception("blacklist follower failed")
            self.connected.clear()
            self._stop.wait(self.config.retry_s)

    def _follow_once(self) -> None:
        request = hpb.WatchBlacklistRequest(since_version=self.blacklist.version)
        stream: Any = self.stub.WatchBlacklist(request, metadata=self.metadata)
        with self._stream_lock:
            if self._stop.is_set():
                stream.cancel()
                return
            self._stream = stream
        self.connected.set()
        self._touch()
        for item in stream:
            version = self.blacklist.apply([ListChange(
                version=item.version, card_number=item.card_number, listed=item.listed, purse_factor=item.purse_factor,
                status=_status_name(item.status), changed_at=item.changed_at.ToDatetime(_dt.UTC).isoformat(),
            )])  # fmt: skip
            self.list_version.set(version)
            self._touch()
            log.info("blacklist change applied", extra={"card_number": item.card_number, "listed": item.listed,
                                                        "blacklist_version": version})  # fmt: skip
            if self.on_change is not None:
                self.on_change(item.card_number, item.listed)

    def _touch(self) -> None:
        self.list_contact.set(_dt.datetime.now(_dt.UTC).timestamp())
