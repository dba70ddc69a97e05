"""The host's roles and its RPC -> roles table for :class:`daemon.auth.TokenAuthInterceptor` (docs/host.md).

The mechanism is the daemon's (:mod:`daemon.roles`: a method missing from the table is refused to every token;
health checking is open); the roles are the host's own:

* ``daemon`` — a healthcardd: registers the cards it issues, follows the blacklist, reads a card's registry entry.
* ``counter`` — the service counter (its software, on behalf of staff who checked the holder's ID): 挂失 / 解挂,
  registry entries.
* ``issuer`` — the card office (发卡): registers cards, reads the holder data the host keeps (personal data, for
  补卡) and replaces cards. Only it and ``admin`` read holder data.
* ``auditor`` — read-only: registry entries and their history.
* ``monitor`` — Prometheus scrapes only.
* ``admin`` — everything.
"""

from __future__ import annotations

from enum import StrEnum

from daemon._gen.healthcard.host.v1 import host_service_pb2 as pb
from daemon.roles import METRICS_SCRAPE, Policy, method_name

__all__ = ["HOST_KNOWN_ROLES", "HOST_POLICY", "HostRole"]


class HostRole(StrEnum):
    """The roles a host token may carry (module docstring)."""

    DAEMON = "daemon"
    COUNTER = "counter"
    ISSUER = "issuer"
    AUDITOR = "auditor"
    MONITOR = "monitor"
    ADMIN = "admin"


HOST_KNOWN_ROLES = frozenset(r.value for r in HostRole)


def _roles(*roles: HostRole) -> frozenset[str]:
    return frozenset(r.value for r in (*roles, HostRole.ADMIN))


_SERVICE = pb.DESCRIPTOR.services_by_name["HostService"].full_name
_ALL = _roles(HostRole.DAEMON, HostRole.COUNTER, HostRole.AUDITOR)

HOST_POLICY: Policy = {
    **{method_name(_SERVICE, m): roles for m, roles in {
        "RegisterCard": _roles(HostRole.DAEMON, HostRole.COUNTER, HostRole.ISSUER),
        "GetCard": _roles(HostRole.DAEMON, HostRole.COUNTER, HostRole.AUDITOR, HostRole.ISSUER),
        "GetHolderData": _roles(HostRole.ISSUER),
        "ReportLost": _roles(HostRole.COUNTER),
        "ReportFound": _roles(HostRole.COUNTER),
        "WatchBlacklist": _roles(HostRole.DAEMON),
        "UploadTransactions": _roles(HostRole.DAEMON),
        "UploadVisitRecords": _roles(HostRole.DAEMON),
        "AuthoriseLoad": _roles(HostRole.DAEMON),
        "AuthoriseUnload": _roles(HostRole.DAEMON),
        "GetSettlement": _roles(HostRole.COUNTER, HostRole.AUDITOR),
        "GetAuditReport": _roles(HostRole.AUDITOR),
        "RefundDebit": _roles(HostRole.COUNTER),
        "ReplaceCard": _roles(HostRole.COUNTER, HostRole.ISSUER),
        "CancelCard": _roles(HostRole.COUNTER),
        "GetAccount": _ALL,
    }.items()},
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": _ALL,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": _ALL,
    METRICS_SCRAPE: _roles(HostRole.MONITOR),
}  # fmt: skip
