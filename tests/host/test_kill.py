"""A SIGKILL of the host while daemons upload loses or doubles nothing (issue #12, evidence); both backends."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import HostLinkConfig
from daemon.host.db import open_ledger
from daemon.host.server import Host
from tests.daemon.inprocess import daemon_stub, running_daemon, simulated_config
from tests.daemon.procs import free_port, wait_serving


class _Child:
    """A server subprocess the test kills with SIGKILL and stops with SIGTERM."""

    proc: subprocess.Popen[Any] | None = None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HostProcess(_Child):
    """healthcard-host as a subprocess on a fixed port over ``ledger_url``."""

    def __init__(self, port: int, ledger_url: str, state: Path) -> None:
        self.port, self.url, self.state = port, ledger_url, state

    def start(self) -> None:
        exe = Path(sys.executable).parent / "healthcard-host"
        env = {**os.environ, "HOST_DB": self.url}
        self.proc = subprocess.Popen(
            [str(exe), "--listen", f"127.0.0.1:{self.port}", "--state-dir", str(self.state), "--database-env",
             "HOST_DB", "--log-level", "ERROR"],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if re.search(r"listening on", line):
                return
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError("healthcard-host did not start")


@pytest.fixture
def host_process(ledger_url: str, tmp_path: Path) -> Iterator[HostProcess]:
    h = HostProcess(free_port(), ledger_url, tmp_path / "host")
    h.start()
    try:
        yield h
    finally:
        h.stop()


def test_sigkill_of_the_host_during_uploads_loses_and_doubles_nothing(
    host_process: HostProcess, ledger_url: str, tmp_path: Path
) -> None:
    link = HostLinkConfig(address=f"127.0.0.1:{host_process.port}", node_id="kiosk-k", retry_s=0.1)
    with running_daemon(simulated_config(tmp_path / "k", host=link), grace=2) as d:
        with daemon_stub(d) as kiosk:
            for i in range(40):
                kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=10 + i, request_id=f"k-{i}"))
                if i in (7, 19, 31):  # kill -9 the host while the uploader is busy, then bring it back
                    host_process.kill()
                    time.sleep(0.2)
                    host_process.start()
            card = kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))
        assert d.hostlink is not None
        deadline = time.monotonic() + 60
        while d.hostlink.outbox.counts() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert d.hostlink.outbox.counts() == (0, 0)
    db = open_ledger(ledger_url)
    try:
        rows = db.query("SELECT transaction_id, amount_fen, tac_status FROM ledger WHERE node_id = 'kiosk-k'")
        assert len(rows) == 40 == len({r["transaction_id"] for r in rows})  # every debit once, none twice
        assert all(r["tac_status"] == "VERIFIED" for r in rows)
        assert sum(int(r["amount_fen"]) for r in rows) == sum(10 + i for i in range(40))
        shadow = db.query("SELECT shadow_balance_fen FROM cards WHERE card_number = ?", (card.card_number,))
        assert int(shadow[0]["shadow_balance_fen"]) == card.balance_fen
    finally:
        db.close()
    with grpc.insecure_channel(f"127.0.0.1:{host_process.port}") as ch:
        account = hpb_grpc.HostServiceStub(ch).GetAccount(hpb.GetAccountRequest(card_number=card.card_number))
        assert list(account.gaps) == [] and account.shadow_balance_fen == card.balance_fen


class DaemonProcess(_Child):
    """healthcardd --simulate as a subprocess linked to a host, on one state directory across restarts."""

    def __init__(self, state: Path, host_port: int) -> None:
        self.state, self.port = state, free_port()
        self.config = state.parent / f"{state.name}.toml"
        self.config.write_text(
            f'listen = "127.0.0.1:{self.port}"\nstate_dir = "{state}"\nsimulate = true\npoll_interval_s = 0.05\n'
            f'log_level = "ERROR"\n[host]\naddress = "127.0.0.1:{host_port}"\nnode_id = "kiosk-d"\nretry_s = 0.1\n',
            encoding="utf-8",
        )

    def start(self, fault: str = "") -> pb_grpc.HealthCardServiceStub:
        env = {**os.environ, "HEALTHCARDD_FAULT": fault}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.main", "--config", str(self.config)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_serving(f"127.0.0.1:{self.port}", self.proc, timeout_s=60)
        return pb_grpc.HealthCardServiceStub(grpc.insecure_channel(f"127.0.0.1:{self.port}"))


def test_sigkill_of_the_daemon_during_uploads_loses_and_doubles_nothing(
    host: Host, ledger_url: str, tmp_path: Path
) -> None:
    """kill -9 of a kiosk's daemon right after the host recorded a batch (before the outbox forgot it) and while
    its uploader is busy: after restarts on the same state directory every debit is at the host once, verified,
    and the shadow balance equals the card's balance."""
    daemon = DaemonProcess(tmp_path / "kiosk", host.port)
    amounts: list[int] = []
    try:
        # 1. the host answers the first upload batch, the daemon dies before deleting it from its outbox
        kiosk = daemon.start(fault="upload:after_host_answer")
        kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=7, request_id="d-first"), timeout=20)
        amounts.append(7)
        assert daemon.proc is not None and daemon.proc.wait(timeout=30) == -signal.SIGKILL
        # 2. more debits, with kill -9 from outside while the uploader is busy with the newest ones
        kiosk = daemon.start()
        for i in range(30):
            kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=10 + i, request_id=f"d-{i}"), timeout=20)
            amounts.append(10 + i)
            if i in (9, 19):
                daemon.kill()
                kiosk = daemon.start()
        balance = kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))
        db = open_ledger(ledger_url)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = db.query("SELECT transaction_id, amount_fen, tac_status FROM ledger WHERE node_id = 'kiosk-d'")
                if len(rows) >= len(amounts):
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # anything still to come would be a double
            rows = db.query("SELECT transaction_id, amount_fen, tac_status FROM ledger WHERE node_id = 'kiosk-d'")
            assert len(rows) == len(amounts) == len({r["transaction_id"] for r in rows})
            assert all(r["tac_status"] == "VERIFIED" for r in rows)
            assert sorted(int(r["amount_fen"]) for r in rows) == sorted(amounts)
            shadow = db.query("SELECT shadow_balance_fen FROM cards WHERE card_number = ?", (balance.card_number,))
            assert int(shadow[0]["shadow_balance_fen"]) == balance.balance_fen
        finally:
            db.close()
    finally:
        daemon.stop()
    with sqlite3.connect(tmp_path / "kiosk" / "healthcardd.db") as journal:
        assert journal.execute("SELECT COUNT(*) FROM host_outbox").fetchone() == (0,)  # nothing left, nothing parked
    with grpc.insecure_channel(f"127.0.0.1:{host.port}") as ch:
        account = hpb_grpc.HostServiceStub(ch).GetAccount(hpb.GetAccountRequest(card_number=balance.card_number))
        assert list(account.gaps) == [] and account.shadow_balance_fen == balance.balance_fen


def _credited(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader="virtual-blank"), timeout=20).balance_fen)


def test_sigkill_of_the_daemon_during_the_replacement_load_doubles_nothing(
    host: Host, ledger_url: str, tmp_path: Path
) -> None:
    """补卡, then the new card's load of the TRANSFER credit with the daemon killed (kill -9) twice: once before
    CREDIT FOR LOAD (the card unchanged: the credit is free again for the next load), once after the card credited
    but before the journal knew (the retry of the request id recovers it). The credit is paid exactly once: one
    verified load of the old card's balance on the new card, shadow = its balance, no cash expected."""
    host.credits.wait_s = 0
    daemon = DaemonProcess(tmp_path / "kiosk", host.port)
    hch = grpc.insecure_channel(f"127.0.0.1:{host.port}")
    desk = hpb_grpc.HostServiceStub(hch)
    try:
        kiosk = daemon.start()
        kh = kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0"), timeout=20).card_number
        kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=250, request_id="before-loss"), timeout=20)

        def shadow_is(fen: int, factor: str = "") -> bool:
            try:
                account = desk.GetAccount(hpb.GetAccountRequest(card_number=kh, purse_factor=factor))
            except grpc.RpcError:
                return False
            return bool(account.shadow_balance_fen == fen and account.last_seen_balance_fen == fen)

        _until(lambda: shadow_is(9750))
        desk.ReportLost(hpb.ReportLostRequest(card_number=kh, operator_id="c", reason="lost"))
        # the holder's data only: the lost card in the reader gets its purse blocked at once (6283 on the purse)
        holder = kiosk.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER]),
                                timeout=20).card.holder  # fmt: skip
        kiosk.IssueCard(pb.IssueCardRequest(reader="virtual-blank", holder=holder, card_number=kh), timeout=60)
        serial = kiosk.ReadCard(pb.ReadCardRequest(reader="virtual-blank"), timeout=20).card.purse.application_serial
        factor = serial[-16:]
        credit = desk.ReplaceCard(
            hpb.ReplaceCardRequest(
                old_card_number=kh, new_card_number=kh, new_purse_factor=factor, operator_id="c", reason="补卡"
            )
        ).credit
        assert credit.amount_fen == 9750

        def load(stub: pb_grpc.HealthCardServiceStub, request_id: str) -> None:
            stub.Load(pb.LoadRequest(reader="virtual-blank", amount_fen=9750, request_id=request_id,
                                     operator_id="c"), timeout=30)  # fmt: skip

        def killed_at(fault: str, request_id: str) -> pb_grpc.HealthCardServiceStub:
            """Restart with ``fault``, load (the daemon dies at that step), restart without it."""
            daemon.stop()
            dying = daemon.start(fault=fault)
            with pytest.raises(grpc.RpcError):
                load(dying, request_id)
            assert daemon.proc is not None and daemon.proc.wait(timeout=30) == -signal.SIGKILL
            return daemon.start()

        # 1. killed before CREDIT FOR LOAD: the card is unchanged, the host's credit stays the card's
        kiosk = killed_at("load:after_prepared", "transfer-1")
        _until(lambda: _credited(kiosk) == 0)
        # 2. killed after the card credited, before the journal recorded it: a retry of the request id recovers it
        kiosk = killed_at("load:before_debited_record", "transfer-2")
        load(kiosk, "transfer-2")
        assert _credited(kiosk) == 9750
        load(kiosk, "transfer-2")  # and again: the journal answers, the card is not touched
        assert _credited(kiosk) == 9750
        _until(lambda: shadow_is(9750, factor))
    finally:
        daemon.stop()
        hch.close()
    db = open_ledger(ledger_url)
    try:
        loads = db.query("SELECT amount_fen, tac_status FROM ledger WHERE card_number = ? AND purse_factor = ?"
                         " AND kind = 'load'", (kh, factor))  # fmt: skip
        assert [(int(r["amount_fen"]), r["tac_status"]) for r in loads] == [(9750, "VERIFIED")]
        credits = db.query("SELECT authorisation_id FROM credits")
        auths = db.query("SELECT authorisation_id, credit_id FROM load_authorisations WHERE card_number = ? AND"
                         " purse_factor = ? ORDER BY authorisation_id", (kh, factor))  # fmt: skip
        # two authorisations (the first load never reached the card), both paying the one credit, held by the last
        assert len(credits) == 1 and len(auths) == 2 and all(a["credit_id"] is not None for a in auths)
        assert credits[0]["authorisation_id"] == auths[-1]["authorisation_id"]
        old = db.query("SELECT shadow_balance_fen, status FROM cards WHERE card_number = ? AND purse_factor <> ?",
                       (kh, factor))  # fmt: skip
        assert [(int(r["shadow_balance_fen"]), r["status"]) for r in old] == [(0, "REPLACED")]
    finally:
        db.close()


def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
