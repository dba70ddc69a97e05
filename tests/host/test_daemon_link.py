"""healthcardd following healthcard-host: the blacklist stream, the local copy, refusing listed cards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.blacklist import CardListedError, ListChange, LocalBlacklist
from daemon.config import Config, ConfigError, HostLinkConfig
from daemon.database import Database
from daemon.host.server import Host
from daemon.server import Daemon


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)
    return time.monotonic() - started


def _registered(stub: hpb_grpc.HostServiceStub, card: str) -> bool:
    try:
        stub.GetCard(hpb.GetCardRequest(card_number=card))
    except grpc.RpcError:
        return False
    return True


def _debit(d: Daemon, request_id: str, amount: int = 100) -> pb.DebitResponse:
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        reply: pb.DebitResponse = pb_grpc.HealthCardServiceStub(ch).Debit(
            pb.DebitRequest(reader="virtual-0", amount_fen=amount, request_id=request_id)
        )
        return reply


def _balance(d: Daemon) -> pb.GetBalanceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        reply: pb.GetBalanceResponse = pb_grpc.HealthCardServiceStub(ch).GetBalance(
            pb.GetBalanceRequest(reader="virtual-0")
        )
        return reply


def test_a_card_reported_lost_is_refused_at_another_kiosk_within_seconds_and_offline(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon]
) -> None:
    a, b = kiosk("kiosk-a", host.port), kiosk("kiosk-b", host.port)
    assert a.hostlink is not None and b.hostlink is not None
    _wait(a.hostlink.connected.is_set)
    _wait(b.hostlink.connected.is_set)
    card = _balance(b).card_number
    _wait(lambda: _registered(stub, card))  # the daemon registered the card it saw
    assert _debit(b, "before-loss").balance_fen == 9900

    stub.ReportLost(hpb.ReportLostRequest(card_number=card, operator_id="counter-1", reason="holder phoned"))
    assert b.blacklist is not None
    took = _wait(lambda: b.blacklist is not None and b.blacklist.status(card) == "LOST")
    assert took < 3.0
    with pytest.raises(grpc.RpcError) as info:
        _debit(b, "after-loss")
    err: Any = info.value
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    trailers = dict(err.trailing_metadata())
    assert trailers["healthcard-error-reason"] == "CARD_LISTED"
    _wait(lambda: "6283" in _balance_error(b))  # in the reader when listed: its purse is blocked at once
    entry = b.journal.by_request_id("after-loss")  # voided: the card was not charged
    assert entry is not None and entry.state.value == "voided" and entry.void_reason.startswith("CARD_LISTED")

    # the host goes away; kiosk B restarts: its copy still refuses the card
    host.stop(grace=1)
    b.stop(grace=2)
    again = Daemon(b.config)
    again.start()
    try:
        assert again.blacklist is not None and again.blacklist.status(card) == "LOST"
        with pytest.raises(grpc.RpcError) as info:
            _debit(again, "offline-after-loss")
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # at its start the daemon saw the listed card in the reader and blocked its purse, offline too
        _wait(lambda: _balance_error(again) != "")
        assert "6283" in _balance_error(again) and again.blacklist.blocked_factor(card) is not None
    finally:
        again.stop(grace=2)


def test_found_again_lifts_the_refusal(host: Host, stub: hpb_grpc.HostServiceStub,
                                       kiosk: Callable[[str, int], Daemon]) -> None:  # fmt: skip
    d = kiosk("kiosk-c", host.port)
    card = _balance(d).card_number
    _wait(lambda: _registered(stub, card))  # the daemon registered the card it saw
    stub.ReportLost(hpb.ReportLostRequest(card_number=card, operator_id="c", reason="lost"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is not None)
    _wait(lambda: "6283" in _balance_error(d))  # blocked in the reader at once
    stub.ReportFound(hpb.ReportFoundRequest(card_number=card, operator_id="c", reason="found, ID checked"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is None)
    _wait(lambda: _balance_error(d) == "")  # and unblocked at once, without taking the card out (was: at reinsertion)
    assert _debit(d, "after-found").balance_fen == 9900


F1, F2 = "0001000000000001", "0001000000000002"


def test_local_blacklist_persists_skips_old_versions_and_says_why(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db")
    bl = LocalBlacklist(db)
    assert bl.version == 0
    bl.apply([ListChange(1, "C1", True, "LOST", "t", F1), ListChange(2, "C2", True, "CANCELLED", "t", F1)])
    bl.apply([ListChange(2, "C2", False, "ISSUED", "t", F1)])  # an old version again: ignored
    with pytest.raises(CardListedError) as info:
        bl.check("C1", F1)
    assert "挂失" in info.value.message and info.value.field == "card_number"
    bl.check("C1", F2)  # the holder's other card (same KH, another chip) is not listed
    bl.apply([ListChange(3, "C1", False, "ISSUED", "t", F1)])
    db.close()
    reopened = LocalBlacklist(Database(tmp_path / "d.db"))
    assert reopened.version == 3 and reopened.listed() == {("C2", F1): "CANCELLED"}
    reopened.check("C1", F1)


def test_a_kh_only_copy_is_migrated_refuses_every_card_of_the_kh_until_the_resync(tmp_path: Path) -> None:
    """A daemon's copy from before physical cards (KH only) keeps refusing the KH offline and re-syncs from 0."""
    db = Database(tmp_path / "d.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE host_blacklist (card_number TEXT PRIMARY KEY, status TEXT NOT NULL,"
                     " version INTEGER NOT NULL, changed_at TEXT NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO host_blacklist VALUES ('C1', 'LOST', 7, 't')")
        conn.execute("CREATE TABLE host_blocked_purses (card_number TEXT PRIMARY KEY, purse_factor TEXT NOT NULL,"
                     " blocked_at TEXT NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO host_blocked_purses VALUES ('C1', ?, 't')", (F1,))
        conn.execute("INSERT INTO meta (key, value) VALUES ('host_blacklist_version', '7')")
    bl = LocalBlacklist(db)
    assert bl.version == 0  # the follower asks the host for the whole list again
    for factor in (F1, F2):
        with pytest.raises(CardListedError):
            bl.check("C1", factor)
    assert bl.blocked_factor("C1", F1) == F1  # the kept factor, found by the chip number now
    bl.apply([ListChange(1, "C1", True, "REPLACED", "t", F1)])  # the re-sync names the physical card
    assert bl.listed() == {("C1", F1): "REPLACED"}
    bl.check("C1", F2)
    with pytest.raises(CardListedError):
        bl.check("C1", F1)


def test_host_link_config_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        Config(simulate=True, host=HostLinkConfig(address="10.0.0.5:50061")).validate()
    conf = tmp_path / "d.toml"
    conf.write_text('simulate = true\n[host]\naddress = "127.0.0.1:50061"\ntoken_env = "T"\nnode_id = "k1"\n',
                    encoding="utf-8")  # fmt: skip
    from daemon.config import load_config  # noqa: PLC0415

    loaded = load_config(conf, env={"T": "s" * 20}).validate()
    assert loaded.host is not None and loaded.host.node_id == "k1" and "sss" not in repr(loaded.host)


def _reinsert(d: Daemon) -> None:
    backend: Any = d.readers.worker("virtual-0").backend  # SimulatedReader
    backend.remove_card()
    time.sleep(0.2)  # a few polls see the reader empty
    backend.insert_card()


def _balance_error(d: Daemon) -> str:
    try:
        _balance(d)
    except grpc.RpcError as exc:
        return str(exc.details())
    return ""


def test_a_listed_card_is_blocked_on_insertion_and_unblocked_after_found(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon]
) -> None:
    """挂失 → the card inserted at a kiosk gets APPLICATION BLOCK (the purse refuses even a terminal without the
    list: here the daemon's unguarded GetBalance); 解挂 → APPLICATION UNBLOCK when next inserted."""
    d = kiosk("kiosk-blk", host.port)
    card = _balance(d).card_number
    _wait(lambda: _registered(stub, card))
    stub.ReportLost(hpb.ReportLostRequest(card_number=card, operator_id="c", reason="lost"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is not None)
    _wait(lambda: _balance_error(d) != "")  # in the reader when listed: blocked at once (test below)
    assert "6283" in _balance_error(d)  # SELECT of the purse ADF: deactivated — the block is on the card
    assert d.blacklist is not None and d.blacklist.blocked_factor(card) is not None
    _reinsert(d)  # inserted again while still listed: already blocked, nothing sent, still blocked
    time.sleep(0.5)
    assert _balance_error(d) != ""

    stub.ReportFound(hpb.ReportFoundRequest(card_number=card, operator_id="c", reason="found, ID checked"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is None)
    _reinsert(d)
    _wait(lambda: _balance_error(d) == "")
    assert d.blacklist.blocked_factor(card) is None
    assert _debit(d, "after-unblock").balance_fen == 9900

    # blocked by "another kiosk" (no factor kept here): the unblock's factor comes from the host's registry
    stub.ReportLost(hpb.ReportLostRequest(card_number=card, operator_id="c", reason="lost again"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is not None)
    _reinsert(d)
    _wait(lambda: _balance_error(d) != "")
    d.blacklist.forget_block(card)
    stub.ReportFound(hpb.ReportFoundRequest(card_number=card, operator_id="c", reason="found again"))
    _wait(lambda: d.blacklist is not None and d.blacklist.status(card) is None)
    _reinsert(d)
    _wait(lambda: _balance_error(d) == "")
    assert _balance(d).balance_fen == 9900


def test_a_listed_card_in_a_reader_is_blocked_at_once_after_the_running_debit(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon]
) -> None:
    """Listed while in a reader: APPLICATION BLOCK without waiting for its next insertion (was: only then), through
    the reader's queue — a debit running when the list arrives finishes first and is charged once."""
    d = kiosk("kiosk-now", host.port)
    card = _balance(d).card_number
    _wait(lambda: _registered(stub, card))
    backend: Any = d.readers.worker("virtual-0").backend  # SimulatedReader behind the blacklist guard
    chip = backend.card_transport.card
    original = chip.execute
    debiting, apdus = threading.Event(), []

    def execute(apdu: bytes) -> bytes:
        if apdu[:2] == b"\x80\x54":  # DEBIT FOR PURCHASE: the list arrives while it runs
            debiting.set()
            time.sleep(1.0)
        answer: bytes = original(apdu)
        apdus.append(apdu[:2])
        return answer

    chip.execute = execute
    with ThreadPoolExecutor(1) as pool:
        debit = pool.submit(_debit, d, "while-listed")
        assert debiting.wait(10)
        stub.ReportLost(hpb.ReportLostRequest(card_number=card, operator_id="c", reason="lost"))
        assert debit.result(timeout=10).balance_fen == 9900  # not broken off by the block
    took = _wait(lambda: b"\x84\x1e" in apdus)  # no reinsertion
    assert took < 5.0 and apdus.index(b"\x84\x1e") > apdus.index(b"\x80\x54")
    assert "6283" in _balance_error(d)  # the purse is blocked on the card
    assert d.blacklist is not None and d.blacklist.blocked_factor(card) is not None
    entry = d.journal.by_request_id("while-listed")
    assert entry is not None and entry.state.value == "confirmed"


def test_an_outbox_from_before_visit_records_is_rebuilt_with_its_rows_and_triggers(tmp_path: Path) -> None:
    from daemon.outbox import Outbox  # noqa: PLC0415

    db = Database(tmp_path / "d.db")
    with db.transaction() as conn:  # the outbox as shipped before (no 'record' kind), with a waiting upload
        conn.execute("CREATE TABLE host_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK"
                     " (kind IN ('register', 'upload')), item_key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL"
                     " DEFAULT '', created_at TEXT NOT NULL, parked TEXT NOT NULL DEFAULT '')")  # fmt: skip
        conn.execute("INSERT INTO host_outbox (kind, item_key, created_at) VALUES ('upload', 'tx-1', 't')")
    outbox = Outbox(db)
    assert [(r.kind, r.key) for r in outbox.pending()] == [("upload", "tx-1")]
    assert outbox.record_written("record:K:F:outpatient:1:ab", {"card_number": "K"})
    assert not outbox.record_written("record:K:F:outpatient:1:ab", {"card_number": "K"})  # the same write once
    assert [r.kind for r in outbox.pending()] == ["upload", "record"]
    triggers = db.query("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'host_outbox_%'")
    assert len(triggers) == 2 and all("INTO host_outbox " in t["sql"] for t in triggers)
