"""Issue #11 item 8, daemon side: bad page tokens and timestamps, a full disk, a read-only state directory.

Before the fix: "²" and "99999999999999999999" as page_token, and out-of-range timestamps, answered INTERNAL; a
full disk answered INTERNAL; a read-only state directory ended in a traceback at start-up.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.errors import DETAILS_KEY
from daemon.server import Daemon
from tests.adversarial.conftest import reason, rpc_error

ROOT = Path(__file__).resolve().parents[2]


def _field(err: Any) -> str:
    details = errors_pb2.ErrorDetails.FromString(dict(err.trailing_metadata())[DETAILS_KEY])
    return str(details.field)


@pytest.mark.parametrize("token", ["99999999999999999999", "²", "١٢", "-1", "1e3", "x" * 10_000])
@pytest.mark.parametrize("rpc", ["ListAuditEvents", "ListTransactions"])
def test_bad_page_tokens_are_invalid_arguments(stub: pb_grpc.HealthCardServiceStub, rpc: str, token: str) -> None:
    request = getattr(pb, f"{rpc}Request")(page_token=token)
    err = rpc_error(lambda: getattr(stub, rpc)(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (rpc, token, err.details())
    assert _field(err) == "page_token"


@pytest.mark.parametrize("reader", ["", "virtual-0"])
def test_a_negative_after_event_id_is_an_invalid_argument_naming_it(
    stub: pb_grpc.HealthCardServiceStub, reader: str
) -> None:
    """Was INVALID_ARGUMENT without the reason metadata the other bad arguments carry (harden2 item 5)."""
    err = rpc_error(lambda: next(iter(stub.WatchCards(pb.WatchCardsRequest(reader=reader, after_event_id=-1)))))
    assert (err.code(), reason(err), _field(err)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        "after_event_id",
    )


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(10**12, 0), (-(10**12), 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000)]
)
@pytest.mark.parametrize("rpc", ["ListAuditEvents", "ListTransactions"])
@pytest.mark.parametrize("name", ["start_time", "end_time"])
def test_out_of_range_timestamps_are_invalid_arguments(
    stub: pb_grpc.HealthCardServiceStub, rpc: str, name: str, seconds: int, nanos: int
) -> None:
    request = getattr(pb, f"{rpc}Request")(**{name: Timestamp(seconds=seconds, nanos=nanos)})
    err = rpc_error(lambda: getattr(stub, rpc)(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert _field(err) == name


def test_edge_timestamps_are_accepted(stub: pb_grpc.HealthCardServiceStub) -> None:
    first, last = Timestamp(seconds=-62_135_596_800), Timestamp(seconds=253_402_300_799, nanos=999_999_999)
    assert stub.ListAuditEvents(pb.ListAuditEventsRequest(start_time=first, end_time=last)) is not None
    assert stub.ListTransactions(pb.ListTransactionsRequest(start_time=first, end_time=last)) is not None


# --- a full disk ------------------------------------------------------------------------------------------


def _disk_full_error() -> sqlite3.OperationalError:
    """A genuine SQLITE_FULL error, made by SQLite itself (a database limited to two pages)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA max_page_count=2")
    conn.execute("CREATE TABLE t (x)")
    try:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("SQLite did not report a full database")


class _FullDisk:
    """The daemon's SQLite connection, failing with SQLITE_FULL for the statements ``fails`` picks."""

    def __init__(self, conn: sqlite3.Connection, fails: Callable[[str, tuple[Any, ...]], bool]) -> None:
        self._conn = conn
        self._fails = fails

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self._fails(sql, tuple(params)):
            raise _disk_full_error()
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def full_disk(daemon: Daemon) -> Iterator[Callable[[Callable[[str, tuple[Any, ...]], bool]], None]]:
    real = daemon.db._conn

    def fill(fails: Callable[[str, tuple[Any, ...]], bool]) -> None:
        daemon.db._conn = _FullDisk(real, fails)  # type: ignore[assignment]

    yield fill
    daemon.db._conn = real


def _balance(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen)


def _intent(sql: str, params: tuple[Any, ...]) -> bool:
    return sql.lstrip().startswith("INSERT INTO transactions")


def _prepared(sql: str, params: tuple[Any, ...]) -> bool:
    return sql.lstrip().startswith("UPDATE transactions") and "prepared" in params


@pytest.mark.parametrize("step", [pytest.param(_intent, id="intent"), pytest.param(_prepared, id="prepared")])
def test_a_full_disk_is_storage_full_and_the_card_is_untouched(
    daemon: Daemon,
    stub: pb_grpc.HealthCardServiceStub,
    full_disk: Callable[[Callable[[str, tuple[Any, ...]], bool]], None],
    step: Callable[[str, tuple[Any, ...]], bool],
) -> None:
    before = _balance(stub)
    full_disk(step)
    err = rpc_error(lambda: stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=150, request_id="full-1")))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
    assert reason(err) == "STORAGE_FULL" and "disk is full" in err.details()
    full_disk(lambda sql, params: False)
    assert _balance(stub) == before  # the card was never debited
    failed = daemon.journal.by_request_id("full-1")
    assert failed is None or failed.state.value in ("intent", "voided")  # never prepared: the card was not asked
    paid = stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=150, request_id="full-2"))
    assert paid.balance_fen == before - 150 and _balance(stub) == before - 150


def test_a_full_disk_while_auditing_a_read_withholds_the_data(
    stub: pb_grpc.HealthCardServiceStub, full_disk: Callable[[Callable[[str, tuple[Any, ...]], bool]], None]
) -> None:
    full_disk(lambda sql, params: sql.lstrip().startswith("INSERT INTO audit"))
    err = rpc_error(lambda: stub.ReadCard(pb.ReadCardRequest(reader="virtual-0")))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and reason(err) == "STORAGE_FULL"


# --- a read-only state directory --------------------------------------------------------------------------


def test_a_read_only_state_dir_exits_2_with_a_message() -> None:
    base = Path(tempfile.mkdtemp(prefix="harden-ro-"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir(mode=0o755)
        command = [sys.executable, "-m", "daemon.main", "--simulate", "--listen", "127.0.0.1:0",
                   "--state-dir", str(state)]  # fmt: skip
        if os.geteuid() == 0:
            # Root writes anywhere: the directory belongs to nobody, mode 0555, and the daemon runs as root with no
            # capabilities (no DAC override, no chown/chmod of another's file). Still root, it can read the
            # checkout and its venv wherever CI clones them (a 0700 temporary folder would shut nobody out).
            os.chown(state, 65534, 65534)
            state.chmod(0o555)
            command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *command]
        else:
            state.chmod(0o555)
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"cannot use the state directory {str(state)!r}" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_full_disk_while_auditing_a_write_still_answers_the_write(
    stub: pb_grpc.HealthCardServiceStub, full_disk: Callable[[Callable[[str, tuple[Any, ...]], bool]], None]
) -> None:
    before = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0")).card.validity.phone1
    assert before != "13900000000"
    full_disk(lambda sql, params: sql.lstrip().startswith("INSERT INTO audit"))
    written = stub.WriteCard(
        pb.WriteCardRequest(
            reader="virtual-0",
            sections=[cd.CARD_SECTION_VALIDITY],
            card=cd.CardData(validity=cd.Validity(phone1="13900000000")),
        )
    )
    assert written.card_number  # the card was written: the answer says so, not STORAGE_FULL
    full_disk(lambda sql, params: False)
    assert stub.ReadCard(pb.ReadCardRequest(reader="virtual-0")).card.validity.phone1 == "13900000000"
