"""Assemble healthcard-host: the ledger database, the registry, the gRPC server (health + reflection), metrics.

:class:`Host` is what ``healthcard-host`` runs and what the tests start in-process on a free loopback port. It
shares the daemon's server plumbing (:mod:`daemon.grpcserver`: TLS, health, reflection, error mapping) and its
bearer-token check (:class:`daemon.auth.TokenAuthInterceptor`).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from daemon._gen.healthcard.host.v1 import host_service_pb2 as pb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as pb_grpc
from daemon.auth import TokenAuthInterceptor
from daemon.grpcserver import bind, enable_health_and_reflection, new_server, set_serving
from daemon.host.audit import AuditRunner
from daemon.host.clearing import Clearing
from daemon.host.config import HostConfig
from daemon.host.credits import Credits
from daemon.host.db import LedgerDb, open_ledger
from daemon.host.errors import HostKeysUnavailableError
from daemon.host.keystore import HostKeyStore
from daemon.host.loads import Loads
from daemon.host.metrics import HostMetrics
from daemon.host.registry import Registry
from daemon.host.roles import HOST_POLICY
from daemon.host.samkeys import SamKeyStore, open_key_store
from daemon.host.schema import create_schema
from daemon.host.service import HostServicer
from daemon.host.unloads import Unloads
from daemon.roles import METRICS_SCRAPE

__all__ = ["HOST_SERVICE_NAME", "Host"]

HOST_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["HostService"].full_name
log = logging.getLogger("healthcard-host")


class Host:
    """One running healthcard-host."""

    def __init__(
        self, config: HostConfig, *, db: LedgerDb | None = None, keys: HostKeyStore | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:  # fmt: skip
        self.config = config
        self.db = db if db is not None else open_ledger(config.database_url)
        create_schema(self.db)
        self.registry = Registry(self.db)
        self.keys = keys if keys is not None else open_key_store(config.keys)
        self.clearing = Clearing(self.db, self.registry, self.keys)
        self.loads = Loads(self.db, self.registry, self.keys)
        self.unloads = Unloads(self.db, self.registry, self.keys)
        self.credits = Credits(self.db, self.registry, config.replacement_wait_s)
        self.metrics = HostMetrics()
        self._check_keys()
        self.audit = AuditRunner(self.db, self.metrics, config.audit_interval_s)
        self.metrics.blacklist_version.set(self.registry.blacklist_version())
        self.servicer = HostServicer(
            registry=self.registry,
            clearing=self.clearing,
            loads=self.loads,
            unloads=self.unloads,
            credits=self.credits,
            metrics=self.metrics,
            tokens=config.tokens,
            poll_interval_s=poll_interval_s,
            trusted_signers=config.trust_list(),
        )
        interceptors: list[grpc.ServerInterceptor[Any, Any]] = (
            [TokenAuthInterceptor(config.tokens, HOST_POLICY)] if config.tokens else []
        )
        self.server = new_server(config.workers, interceptors)
        pb_grpc.add_HostServiceServicer_to_server(self.servicer, self.server)
        self.health = enable_health_and_reflection(self.server, (HOST_SERVICE_NAME,))
        self.port = bind(self.server, config.listen, config.tls)
        self.metrics_port = 0

    def _check_keys(self) -> None:
        """Log where the keys are; a host SAM is probed (reachable, PIN, both keys). A SAM that fails is logged and
        the host starts anyway: registry, blacklist and settlement work, loads and uploads answer
        HOST_KEYS_UNAVAILABLE until the SAM answers (docs/host.md "Keys in a SAM")."""
        if not isinstance(self.keys, SamKeyStore):
            log.warning("keys: %s", self.config.keys.describe() if self.config.keys.store == "demo" else "given")
            self.metrics.keys_ready.set(1)
            return
        self.keys.on_state = self.metrics.keys_ready.set
        try:
            self.keys.probe()
        except HostKeysUnavailableError as exc:
            log.error("host SAM not ready: %s", exc.message, extra={"status_word": exc.status_word})
        else:
            log.info("host SAM ready: load and TAC keys answer", extra={"readers": self.keys.readers})

    def start(self) -> None:
        """Start metrics and the gRPC server; health SERVING."""
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(
                self.config.metrics_listen, tls=self.config.tls, tokens=self.config.tokens,
                allowed_roles=HOST_POLICY[METRICS_SCRAPE],
            )  # fmt: skip
        self.server.start()
        self.audit.start()
        set_serving(self.health, (HOST_SERVICE_NAME,))
        log.info("healthcard-host listening", extra={"listen": self.config.listen, "port": self.port,
                                                     "database": self.db.dialect.name})  # fmt: skip

    def stop(self, grace: float = 10.0) -> None:
        """NOT_SERVING, end the streams, finish the RPCs in flight, close the database."""
        self.health.enter_graceful_shutdown()
        self.servicer.stop()
        self.audit.stop()
        self.server.stop(grace).wait(grace)
        self.metrics.close()
        self.db.close()
        log.info("healthcard-host stopped")

    def wait(self) -> None:
        """Block until the server terminates."""
        self.server.wait_for_termination()
