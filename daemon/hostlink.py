"""The daemon's link to healthcard-host (issue #12; docs/host.md, "The daemon's side").

:class:`HostLink` runs one background thread per duty, each reconnecting on its own after the host was
unreachable (pause ``retry_s``), so the daemon serves its readers whether the host is up or not:

* the **blacklist follower** subscribes to ``WatchBlacklist`` from the version of the local copy
  (:class:`daemon.blacklist.LocalBlacklist`) and applies each change as it arrives — a card reported lost at the
  counter is refused at this kiosk within a second or two of the report while connected, and from the local
  copy (persisted) while the host is down.

The host's address, CA and token come from ``[host]`` (:class:`daemon.config.HostLinkConfig`); the token never
reaches logs. This module uses the host's generated gRPC stubs only; it never imports ``daemon.host``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import socket
import threading
from typing import Any

import grpc
from prometheus_client import Gauge

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon.blacklist import ListChange, LocalBlacklist
from daemon.config import HostLinkConfig
from daemon.metrics import Metrics

__all__ = ["HostLink", "host_channel"]

log = logging.getLogger("healthcardd.hostlink")


def host_channel(config: HostLinkConfig) -> grpc.Channel:
    """A channel to the host: TLS with ``ca_file`` when given, else plain (loopback only, enforced by config)."""
    options = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000)]
    if config.ca_file is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=config.ca_file.read_bytes())
        return grpc.secure_channel(config.address, credentials, options=options)
    return grpc.insecure_channel(config.address, options=options)


def _status_name(status: int) -> str:
    return hpb.CardStatus.Name(status).removeprefix("CARD_STATUS_")  # type: ignore[arg-type]


class HostLink:
    """The background duties towards the host (module docstring)."""

    def __init__(self, config: HostLinkConfig, blacklist: LocalBlacklist, metrics: Metrics) -> None:
        self.config = config
        self.node_id = config.node_id or socket.gethostname()
        self.blacklist = blacklist
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
        self.connected = threading.Event()  # the blacklist stream is open

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The bearer token of this daemon at the host (none configured: no metadata)."""
        token = self.config.token
        return (("authorization", f"Bearer {token.reveal()}"),) if token is not None else ()

    def start(self) -> None:
        """Start the background threads."""
        follower = threading.Thread(target=self._follow, name="host-blacklist", daemon=True)
        self._threads.append(follower)
        follower.start()

    def stop(self) -> None:
        """Stop the threads and close the channel."""
        self._stop.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.cancel()
        for thread in self._threads:
            thread.join(timeout=5)
        self._channel.close()

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
                version=item.version, card_number=item.card_number, listed=item.listed,
                status=_status_name(item.status), changed_at=item.changed_at.ToDatetime(_dt.UTC).isoformat(),
            )])  # fmt: skip
            self.list_version.set(version)
            self._touch()
            log.info("blacklist change applied", extra={"card_number": item.card_number, "listed": item.listed,
                                                        "blacklist_version": version})  # fmt: skip

    def _touch(self) -> None:
        self.list_contact.set(_dt.datetime.now(_dt.UTC).timestamp())
