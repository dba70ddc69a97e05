"""Assemble healthcardd: database, journal, audit, readers, gRPC server (health + reflection), metrics.

:class:`Daemon` is what ``healthcardd`` runs and what the tests start in-process on a free loopback port.
Start-up resolves the journal entries that need no card (intent → voided, debited → confirmed); the rest are
resolved by each reader's worker when their card is seen (start-up poll and every insertion).
Graceful stop: health NOT_SERVING, no new RPCs, the transaction in flight on each reader finishes, then exit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import grpc

from apdu.errors import CardError, ReaderError
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.audit import AuditTrail
from daemon.auth import TokenAuthInterceptor
from daemon.backend import CardOps, ReaderBackend
from daemon.blacklist import GuardedBackend, LocalBlacklist
from daemon.cardops import PcscReader, simulated_readers
from daemon.config import Config
from daemon.database import Database
from daemon.events import EventBus
from daemon.grpcserver import bind, enable_health_and_reflection, new_server, set_serving
from daemon.hostlink import HostLink
from daemon.journal import Journal
from daemon.metrics import Metrics
from daemon.outbox import Outbox
from daemon.readers import ReaderManager, ReaderWorker
from daemon.retention import Retention
from daemon.roles import HEALTHCARD_POLICY, METRICS_SCRAPE
from daemon.service import HealthCardServicer
from daemon.transactions import Transactions

__all__ = ["SERVICE_NAME", "Daemon", "make_backends"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["HealthCardService"].full_name
log = logging.getLogger("healthcardd")


def make_backends(config: Config) -> list[ReaderBackend]:
    """The reader backends of a configuration (simulated or PC/SC)."""
    pin = config.sam_pin.reveal() if config.sam_pin is not None else None
    trust = config.trust_list()
    if config.simulate:
        return list(simulated_readers(config.reader_names(), config.state_dir, sam_pin=pin, trusted_signers=trust))
    return [PcscReader(r.name, r.sam_reader, sam_pin=pin, trusted_signers=trust) for r in config.readers]


class Daemon:
    """One running healthcardd."""

    def __init__(self, config: Config, backends: Sequence[ReaderBackend] | None = None) -> None:
        self.config = config
        self.db = Database(config.journal_path)
        self.journal = Journal(self.db)
        self.audit = AuditTrail(self.db)
        self.events = EventBus()
        self.transactions = Transactions(self.journal)
        backends = list(backends) if backends is not None else make_backends(config)
        self.metrics = Metrics(readers=[b.name for b in backends])
        self.blacklist: LocalBlacklist | None = None
        self.hostlink: HostLink | None = None
        if config.host is not None:  # follow the host's blacklist; refuse listed cards (docs/host.md)
            self.blacklist = LocalBlacklist(self.db)
            self.hostlink = HostLink(config.host, self.blacklist, Outbox(self.db), self.journal, self.metrics)
            link = self.hostlink
            backends = [
                GuardedBackend(
                    b, self.blacklist, link.authorise_load, link.card_issued, link.record_written, link.authorise_unload
                )
                for b in backends
            ]
        workers = {
            b.name: ReaderWorker(
                b,
                self.events,
                poll_interval=config.poll_interval_s,
                on_insert=self._on_insert,
                on_apdus=lambda reader, n: self.metrics.apdus.labels(reader=reader).inc(n),
            )
            for b in backends
        }
        self.readers = ReaderManager(workers, queue_timeout=config.queue_timeout_s)
        self.retention = Retention(self.db, config.retention_days)
        self._retention_thread = threading.Thread(target=self.retention.run, name="retention", daemon=True)
        if self.hostlink is not None:
            self.hostlink.on_change = self._apply_to_cards_in_readers
        self.servicer = HealthCardServicer(
            readers=self.readers, journal=self.journal, audit=self.audit, events=self.events,
            metrics=self.metrics, tokens=config.tokens, transactions=self.transactions,
        )  # fmt: skip
        interceptors: list[grpc.ServerInterceptor[Any, Any]] = (
            [TokenAuthInterceptor(config.tokens, HEALTHCARD_POLICY, on_refused=self._audit_refusal)]
            if config.tokens
            else []
        )
        self.server = new_server(config.workers, interceptors, max_streams=config.max_streams or None)
        pb_grpc.add_HealthCardServiceServicer_to_server(self.servicer, self.server)
        self.health = enable_health_and_reflection(self.server, (SERVICE_NAME,))
        self.port = bind(self.server, config.listen, config.tls)
        self.metrics_port = 0

    def _audit_refusal(self, method: str, client: str, reason: str) -> None:
        """An audit row for an RPC refused by the token check (who tried what)."""
        operation = "Refused:" + method.rpartition("/")[2]
        self.audit.record(client=client, operation=operation, outcome=reason)

    def _on_insert(self, backend: ReaderBackend) -> None:
        with backend.session() as card:
            try:
                number = card.card_number
            except CardError:  # a blank card (no DDF1): it has no journal entries
                return
            if self.hostlink is not None:
                self.hostlink.unblock_if_lifted(card)  # 解挂: APPLICATION UNBLOCK first (docs/host.md)
                try:
                    self.hostlink.card_seen(card)
                except CardError:  # a blocked purse cannot be read: registered once it can
                    log.info("card seen with its purse blocked", extra={"reader": backend.name})
            self._settle_and_block(card, number, backend.name)
        self.metrics.open_transactions.set(len(self.journal.open_entries()))

    def _settle_and_block(self, card: CardOps, number: str, reader: str) -> None:
        """Resolve the card's open transactions, then APPLICATION BLOCK it if the host lists it (docs/host.md)."""
        if self.journal.open_entries(card_number=number):
            resolved = self.transactions.resolve_card(card)
            log.info("resolved %d open transaction(s) of the card", resolved, extra={"reader": reader})
        if self.hostlink is not None:
            self.hostlink.block_if_listed(card)  # after settling open transactions: they need the purse

    def _apply_to_cards_in_readers(self, card_number: str, listed: bool) -> None:
        """The host just (un)listed ``card_number``: (un)block it now in whichever reader holds it (harden2 item 4).

        Before, a card already in a reader was blocked (挂失) or unblocked (解挂) only at its next insertion. A job
        is posted to the queue of each reader with a card (never run beside the reader's transaction in flight;
        the follower thread does not wait); it checks the card there is that card, as insertion does.
        """
        link = self.hostlink
        if link is None:  # only the host link calls it
            return
        for name in self.readers.names():
            worker = self.readers.worker(name)
            if not worker.status().card_present:
                continue

            def block_or_unblock(backend: ReaderBackend) -> None:
                try:
                    with backend.session() as card:
                        try:
                            number = card.card_number
                        except CardError:  # a blank card (no DDF1)
                            return
                        if number != card_number:
                            return
                        if listed:
                            self._settle_and_block(card, number, backend.name)
                        else:
                            link.unblock_if_lifted(card)
                except ReaderError as exc:
                    if not exc.removed:
                        raise  # logged by the worker; the card is blocked at its next insertion
                    return  # taken out meanwhile: blocked at its next insertion
                self.metrics.open_transactions.set(len(self.journal.open_entries()))

            worker.post(block_or_unblock)

    def start(self) -> None:
        """Recover what needs no card, start readers, metrics and the gRPC server; health SERVING."""
        waiting = self.transactions.resolve_at_startup()
        if waiting:
            log.warning("%d transaction(s) wait for their card to be presented", len(waiting))
        self.metrics.open_transactions.set(len(waiting))
        self.readers.start()
        if self.hostlink is not None:
            self.hostlink.start()
        if self.config.retention_days:
            self._retention_thread.start()
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(
                self.config.metrics_listen, tls=self.config.tls, tokens=self.config.tokens,
                allowed_roles=HEALTHCARD_POLICY[METRICS_SCRAPE],
            )  # fmt: skip
        self.server.start()
        set_serving(self.health, (SERVICE_NAME,))
        log.info("healthcardd listening", extra={"listen": self.config.listen, "port": self.port,
                                                  "readers": self.readers.names()})  # fmt: skip

    def stop(self, grace: float = 30.0) -> None:
        """Graceful stop: NOT_SERVING, refuse new RPCs, finish the transaction in flight, close the journal."""
        self.health.enter_graceful_shutdown()
        self.servicer.stop()
        done = self.server.stop(grace)
        self.readers.stop()
        if self.hostlink is not None:
            self.hostlink.stop()
        self.retention.stop()
        if self._retention_thread.is_alive():
            self._retention_thread.join(grace)  # a batch in progress ends before the database closes
        self.metrics.close()
        done.wait(grace)
        self.db.close()
        log.info("healthcardd stopped")

    def wait(self) -> None:
        """Block until the server terminates."""
        self.server.wait_for_termination()
