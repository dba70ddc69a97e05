"""Two kiosks (daemons) and a host: debits while the host is down, uploads recorded exactly once when it is
back, shadow balances equal to the cards' balances (issue #12, evidence), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, HostLinkConfig, Secret
from daemon.host.config import HostConfig
from daemon.host.server import Host
from daemon.hostlink import upload_message
from daemon.server import Daemon
from tests.daemon.procs import free_port


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def world(ledger_url: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    port = free_port()
    hosts: list[Host] = []
    kiosks: list[Daemon] = []

    def start_host() -> Host:
        config = HostConfig(listen=f"127.0.0.1:{port}", state_dir=tmp_path / "host", database=Secret(ledger_url))
        h = Host(config, poll_interval_s=0.2)
        assert h.port == port
        h.start()
        hosts.append(h)
        return h

    def start_kiosk(name: str) -> Daemon:
        link = HostLinkConfig(address=f"127.0.0.1:{port}", node_id=name, institution="H001", retry_s=0.2)
        d = Daemon(Config(listen="127.0.0.1:0", state_dir=tmp_path / name, simulate=True, poll_interval_s=0.05,
                          host=link).validate())  # fmt: skip
        d.start()
        kiosks.append(d)
        return d

    yield {"start_host": start_host, "start_kiosk": start_kiosk, "port": port}
    for d in kiosks:
        d.stop(grace=2)
    for h in hosts:
        h.stop(grace=1)


def _card(d: Daemon) -> pb_grpc.HealthCardServiceStub:
    return pb_grpc.HealthCardServiceStub(grpc.insecure_channel(f"127.0.0.1:{d.port}"))


def test_debits_while_the_host_is_down_are_recorded_exactly_once(world: dict[str, object]) -> None:
    start_host: Callable[[], Host] = world["start_host"]  # type: ignore[assignment]
    start_kiosk: Callable[[str], Daemon] = world["start_kiosk"]  # type: ignore[assignment]
    host = start_host()
    a, b = start_kiosk("kiosk-a"), start_kiosk("kiosk-b")

    def registered(d: Daemon) -> bool:
        number = _card(d).GetBalance(pb.GetBalanceRequest(reader="virtual-0")).card_number
        return (
            d.hostlink is not None
            and d.hostlink.outbox.card_seen_before(number)
            and (d.hostlink.outbox.counts() == (0, 0))
        )

    for d in (a, b):  # both have seen their cards and registered them
        _wait(lambda d=d: registered(d))  # type: ignore[misc]
    stub_a, stub_b = _card(a), _card(b)
    before = {
        "a": stub_a.GetBalance(pb.GetBalanceRequest(reader="virtual-0")),
        "b": stub_b.GetBalance(pb.GetBalanceRequest(reader="virtual-1")),
    }
    # a load needs the host (it authorises MAC2): taken before the host goes down
    stub_a.Load(pb.LoadRequest(reader="virtual-0", amount_fen=1000, request_id="a-load", operator_id="c1"))
    host.stop(grace=1)  # the host is down for the rest of the shift

    for i, amount in enumerate((120, 250, 75)):
        stub_a.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=amount, request_id=f"a-{i}", operator_id="c1"))
    for i, amount in enumerate((30, 40)):
        stub_b.Debit(pb.DebitRequest(reader="virtual-1", amount_fen=amount, request_id=f"b-{i}", operator_id="c2"))
    assert a.hostlink is not None and b.hostlink is not None
    time.sleep(0.5)
    assert a.hostlink.outbox.counts()[0] >= 3 and b.hostlink.outbox.counts()[0] >= 2  # kept while the host is down

    host = start_host()  # back: both outboxes drain
    _wait(lambda: a.hostlink is not None and b.hostlink is not None
          and a.hostlink.outbox.counts() == (0, 0) and b.hostlink.outbox.counts() == (0, 0))  # fmt: skip
    with grpc.insecure_channel(f"127.0.0.1:{host.port}") as ch:
        hstub = hpb_grpc.HostServiceStub(ch)
        for key, stub, reader, count in (("a", stub_a, "virtual-0", 4), ("b", stub_b, "virtual-1", 2)):
            now = stub.GetBalance(pb.GetBalanceRequest(reader=reader))
            account = hstub.GetAccount(hpb.GetAccountRequest(card_number=now.card_number, page_size=50))
            recorded = list(account.entries)
            assert len({e.transaction.transaction_id for e in recorded}) == len(recorded)
            assert all(e.tac_status == hpb.TAC_STATUS_VERIFIED for e in recorded)
            debits = sum(e.transaction.amount_fen for e in recorded if e.transaction.kind == hpb.TRANSACTION_KIND_DEBIT)
            loads = sum(e.transaction.amount_fen for e in recorded if e.transaction.kind == hpb.TRANSACTION_KIND_LOAD)
            assert account.card.opening_balance_fen == before[key].balance_fen
            assert account.shadow_balance_fen == now.balance_fen == before[key].balance_fen - debits + loads
            assert account.last_seen_balance_fen == now.balance_fen and list(account.gaps) == []
            assert len(recorded) == count

        # a lost acknowledgement: the daemon sends the same entries again; the host books nothing twice
        confirmed = [a.journal.by_request_id(r) for r in ("a-0", "a-1", "a-2", "a-load")]
        again = hstub.UploadTransactions(hpb.UploadTransactionsRequest(
            node_id="kiosk-a", transactions=[upload_message(e) for e in confirmed if e is not None]))  # fmt: skip
        assert [r.duplicate for r in again.results] == [True] * 4
        card_a = stub_a.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))
        assert hstub.GetAccount(hpb.GetAccountRequest(card_number=card_a.card_number)).shadow_balance_fen == (
            card_a.balance_fen
        )
