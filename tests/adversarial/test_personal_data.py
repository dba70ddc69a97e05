"""Issue #11 item 9: files and personal data.

Before the fix, under umask 000 (or the usual 022) the journal, its WAL/SHM, the simulated card images and logs
(card keys after IssueCard) and the SAM image were world-readable, state directories 0755/0777; JSON logs held
the card number (the citizen ID number) in clear; APDU traces showed names, ID numbers and allergies.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from apdu.redact import mask_id
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config
from daemon.logs import configure_logging
from daemon.server import Daemon

ROOT = Path(__file__).resolve().parents[2]
CARD_NUMBER = "110105198506150030"  # the demo card of virtual-0 (examples/persons: 张伟)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_daemon_state_is_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    state = tmp_path / "state"
    config = Config(listen="127.0.0.1:0", state_dir=state, simulate=True, poll_interval_s=0.05).validate()
    d = Daemon(config)
    d.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
            stub = pb_grpc.HealthCardServiceStub(ch)
            stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="umask-1"))
            holder = cd.Holder(name="王芳", id_number="11010519491231002X")
            stub.IssueCard(pb.IssueCardRequest(reader="virtual-blank", card_number=holder.id_number, holder=holder))
        files = [p for p in state.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"healthcardd.db", "healthcardd.db-wal", "healthcardd.db-shm", "virtual-0.json.log",
                "virtual-0-sam.json", "virtual-blank.json.log"} <= names  # fmt: skip
        assert {p.relative_to(state).as_posix(): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
        dirs = [state, *(p for p in state.rglob("*") if p.is_dir())]
        assert {p.as_posix(): oct(_mode(p)) for p in dirs if _mode(p) != 0o700} == {}
    finally:
        d.stop(grace=5)
    images = [p for p in state.rglob("*.json") if p.is_file()]  # folded at shutdown
    assert images and all(_mode(p) == 0o600 for p in images)


def test_an_existing_world_readable_journal_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    for name in ("healthcardd.db", "healthcardd.db-wal"):
        (state / name).touch(mode=0o644)
        (state / name).chmod(0o644)
    config = Config(listen="127.0.0.1:0", state_dir=state, simulate=True).validate()
    d = Daemon(config)
    d.start()
    try:
        assert _mode(state) == 0o700
        assert _mode(state / "healthcardd.db") == 0o600 and _mode(state / "healthcardd.db-wal") == 0o600
    finally:
        d.stop(grace=5)


def test_cli_demo_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    env.pop("HEALTHCARD_PIN", None)
    result = subprocess.run(
        [sys.executable, "-m", "healthcard.cli.main", "load", "--amount", "100"], cwd=ROOT, env=env,
        capture_output=True, text=True, check=False, timeout=120, preexec_fn=lambda: os.umask(0),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    state = tmp_path / "healthcard"
    assert _mode(state) == 0o700
    files = list(state.iterdir())
    assert {p.name for p in files} >= {"demo-card.json", "demo-sam.json"}
    assert {p.name: oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}


# --- logs -------------------------------------------------------------------------------------------------


def test_mask_id() -> None:
    assert mask_id(CARD_NUMBER) == "110105********0030"
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_id("12345678") == "****5678" and mask_id("123") == "***" and mask_id("") == ""
    assert mask_id(mask_id(CARD_NUMBER)) == mask_id(CARD_NUMBER)


def test_json_logs_mask_the_card_number(stub: pb_grpc.HealthCardServiceStub) -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=stream)
    try:
        stub.ReadCard(pb.ReadCardRequest(reader="virtual-0"))
        stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="mask-1"))
        stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "110105********0030" in text  # the operator can still tell cards apart
    assert CARD_NUMBER not in text and "张伟" not in text


# --- APDU traces ------------------------------------------------------------------------------------------


def _trace(tmp_path: Path, *extra: str) -> str:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "healthcard.cli.main", "trace", *extra, "read", "--section", "holder,allergies"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr.split("--- ", 1)[1]  # the trace only (the command's own output goes to stdout)


def test_traces_redact_holder_data_unless_asked(tmp_path: Path) -> None:
    id_hex = CARD_NUMBER.encode().hex(" ").upper()  # the ID number as it is stored (an, ASCII)
    name_hex = "张伟".encode("gbk").hex(" ").upper()  # names are GBK on the card
    hidden = _trace(tmp_path)
    assert id_hex not in hidden and name_hex not in hidden
    assert "00 B2" in hidden and "** ** ** **" in hidden  # the exchanges are there, their file data is not
    shown = _trace(tmp_path, "--show-personal-data")
    assert id_hex in shown and name_hex in shown
    assert "00 20 00 00 03 ** ** **" in shown  # the SAM PIN stays hidden even then


# --- the audit trail --------------------------------------------------------------------------------------


def test_the_audit_trail_keeps_who_what_which_card_and_nothing_more(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", operator_id="dr-li"))
    stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="audit-1", operator_id="c-9"))
    events = stub.ListAuditEvents(pb.ListAuditEventsRequest()).events
    fields = {f.name for f in pb.AuditEvent.DESCRIPTOR.fields}
    assert fields == {"event_id", "event_time", "client", "operator_id", "reader", "card_number", "operation",
                      "outcome", "request_id"}  # fmt: skip
    read = next(e for e in events if e.operation.startswith("ReadCard"))
    assert (read.card_number, read.operator_id, read.outcome) == (CARD_NUMBER, "dr-li", "OK")
    text = str(list(events))
    assert "张伟" not in text and "1985-06-15" not in text  # never the data that was read
