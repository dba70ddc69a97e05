"""Fixtures of the host's tests: every ledger test runs on SQLite and on PostgreSQL.

PostgreSQL: ``HEALTHCARD_TEST_PG_DSN`` (scripts/test.sh exports the DSN of its throwaway cluster); without it the
session starts its own throwaway cluster with scripts/pg_throwaway.sh and removes it at the end. Each test gets
a fresh database in that cluster. If PostgreSQL cannot be started the PostgreSQL tests FAIL; they are skipped
only when ``HEALTHCARD_SKIP_PG=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as pb_grpc
from daemon.config import Config, HostLinkConfig
from daemon.host.config import HostConfig
from daemon.host.db import LedgerDb, open_ledger
from daemon.host.server import Host
from daemon.server import Daemon
from sam.crypto import sm2_load_private_key
from sam.virtual.image import load_sam_image
from tests.host.pg import PostgresUnavailableError, postgres_dsn

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL cluster for this session (module docstring)."""
    if os.environ.get("HEALTHCARD_SKIP_PG") == "1":
        pytest.skip("HEALTHCARD_SKIP_PG=1: PostgreSQL tests skipped")
    try:
        with postgres_dsn() as dsn:
            yield dsn
    except PostgresUnavailableError as exc:
        pytest.fail(f"cannot start a throwaway PostgreSQL (set HEALTHCARD_SKIP_PG=1 to skip): {exc}")


def _fresh_pg_database(dsn: str) -> tuple[str, Callable[[], None]]:
    import psycopg  # noqa: PLC0415

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = dsn.rpartition("/")

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return f"{base}/{name}", drop


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger URL: a SQLite file, or a new database on the test PostgreSQL cluster."""
    if request.param == "sqlite":
        yield str(tmp_path / "host.db")
        return
    dsn = request.getfixturevalue("pg_dsn")
    url, drop = _fresh_pg_database(dsn)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[LedgerDb]:
    """An open ledger with the schema."""
    from daemon.host.schema import create_schema  # noqa: PLC0415

    db = open_ledger(ledger_url)
    create_schema(db)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def host(ledger_url: str, tmp_path: Path) -> Iterator[Host]:
    """A running host on a free loopback port over a fresh ledger (SQLite or PostgreSQL)."""
    from daemon.config import Secret  # noqa: PLC0415

    config = HostConfig(listen="127.0.0.1:0", state_dir=tmp_path / "host", database=Secret(ledger_url), workers=8)
    h = Host(config, poll_interval_s=0.2)
    h.start()
    try:
        yield h
    finally:
        h.stop(grace=2)


@pytest.fixture
def stub(host: Host) -> Iterator[pb_grpc.HostServiceStub]:
    """A client of the running host."""
    with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel:
        yield pb_grpc.HostServiceStub(channel)


def trust_kiosk(host: Host, state_dir: Path) -> None:
    """Let the host trust the SAMs of a simulated daemon's readers for visit records (as a hospital lists its
    kiosks' SAM keys in the host's ``[trusted_signers]``; docs/host.md)."""
    for image in sorted((state_dir / "cards").glob("*-sam.json")):
        key = sm2_load_private_key(load_sam_image(image).sm2_private_key).public_key().to_bytes()
        host.servicer.trust = host.servicer.trust.with_key(f"{state_dir.name}/{image.stem}", key)


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Callable[[str, int], Daemon]]:
    """Start simulated daemons linked to a host port; all are stopped at the end."""
    started: list[Daemon] = []

    def make(name: str, host_port: int) -> Daemon:
        link = HostLinkConfig(address=f"127.0.0.1:{host_port}", node_id=name, institution="H001", retry_s=0.2)
        config = Config(listen="127.0.0.1:0", state_dir=tmp_path / name, simulate=True, poll_interval_s=0.05,
                        host=link).validate()  # fmt: skip
        d = Daemon(config)
        d.start()
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop(grace=2)
