"""Roles of bearer tokens and the one table that says which roles may call each RPC (issue #11 item 10).

A token carries one or more roles (``[[tokens]] roles = ["cashier"]``). An RPC is allowed when the token has at
least one of the roles its full method name (``/package.Service/Method``) lists in the service's
:data:`Policy`; a method missing from the table is refused to every token (fail closed). gRPC health checking is
open to all (load balancers); with no token configured at all (the loopback-only default) every RPC is open.

The daemon's table is :data:`HEALTHCARD_POLICY`; another gRPC service of the project (the hospital host,
``daemon/host``) gives :class:`daemon.auth.TokenAuthInterceptor` its own table and may use its own role names.
docs/security.md shows the table and why each role gets what it gets.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb

__all__ = [
    "HEALTHCARD_POLICY",
    "KNOWN_ROLES",
    "METRICS_SCRAPE",
    "Policy",
    "Role",
    "allowed",
    "method_name",
]


class Role(StrEnum):
    """The roles a daemon token may carry."""

    KIOSK = "kiosk"  # self-service kiosk: show the holder, pay a fee
    CASHIER = "cashier"  # counter: top up and pay, end-of-day reconciliation
    CLINICIAN = "clinician"  # doctor's station (HIS): read the card, add visit records
    ISSUER = "issuer"  # card issuance desk: issue blank cards, correct card data
    AUDITOR = "auditor"  # read-only: journal, reconciliation, audit trail
    MONITOR = "monitor"  # Prometheus scraper: /metrics only
    ADMIN = "admin"  # everything, including settling transactions by hand


KNOWN_ROLES = frozenset(r.value for r in Role)

#: Full method name -> roles allowed to call it.
Policy = Mapping[str, frozenset[str]]

#: Pseudo method name for the Prometheus endpoint in a policy (``metrics_listen``).
METRICS_SCRAPE = "/metrics"


def method_name(service: str, method: str) -> str:
    """``/healthcard.v1.HealthCardService/Debit`` from the service's full name and the method's name."""
    return f"/{service}/{method}"


def _roles(*roles: Role) -> frozenset[str]:
    return frozenset(r.value for r in (*roles, Role.ADMIN))


_SERVICE = pb.DESCRIPTOR.services_by_name["HealthCardService"].full_name
_ALL = _roles(Role.KIOSK, Role.CASHIER, Role.CLINICIAN, Role.ISSUER, Role.AUDITOR)
_CARD = _roles(Role.KIOSK, Role.CASHIER, Role.CLINICIAN, Role.ISSUER)

HEALTHCARD_POLICY: Policy = {
    **{method_name(_SERVICE, m): roles for m, roles in {
        "ListReaders": _ALL,
        "WatchCards": _CARD,
        "ReadCard": _CARD,
        "GetBalance": _roles(Role.KIOSK, Role.CASHIER),
        "Debit": _roles(Role.KIOSK, Role.CASHIER),
        "Load": _roles(Role.CASHIER),
        "Unload": _roles(Role.CASHIER),  # 圈提 pays cash out of the cashier's till (注销 at the counter)
        "AddRecord": _roles(Role.CLINICIAN),
        "WriteCard": _roles(Role.ISSUER),
        "IssueCard": _roles(Role.ISSUER),
        "ListTransactions": _roles(Role.CASHIER, Role.AUDITOR),
        "GetReconciliationReport": _roles(Role.CASHIER, Role.AUDITOR),
        "ListAuditEvents": _roles(Role.AUDITOR),
        "SettleTransaction": _roles(),
    }.items()},
    # Server reflection lists services and message types, no data: every authenticated client.
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": _ALL,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": _ALL,
    METRICS_SCRAPE: _roles(Role.MONITOR),
}  # fmt: skip


def allowed(policy: Policy, method: str, roles: Collection[str]) -> bool:
    """Whether a token with ``roles`` may call ``method`` (absent from ``policy``: nobody may)."""
    permitted = policy.get(method)
    return permitted is not None and any(role in permitted for role in roles)
