"""PostgreSQL failover as the host sees it: every server connection dropped at once (what a restart or a switch to
the standby behind the same address does to the clients). The pool tests a connection before lending it
(``ConnectionPool.check_connection``), so the next RPCs get fresh connections instead of failing."""

from __future__ import annotations

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon.host.server import Host


def test_rpcs_survive_the_servers_connections_being_dropped(
    host: Host, stub: hpb_grpc.HostServiceStub, ledger_url: str
) -> None:
    if not ledger_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (SQLite is a file in the host's process)")
    import psycopg  # noqa: PLC0415

    def lookup() -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as info:
            stub.GetCard(hpb.GetCardRequest(card_number="NOPE"))
        return info.value.code()

    assert lookup() == grpc.StatusCode.NOT_FOUND  # the ledger answered: no such card
    with psycopg.connect(ledger_url, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert dropped is not None and dropped[0] >= 1
    assert [lookup() for _ in range(10)] == [grpc.StatusCode.NOT_FOUND] * 10  # never INTERNAL
