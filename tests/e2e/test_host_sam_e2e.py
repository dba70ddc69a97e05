"""The host's keys in a virtual host SAM served into pcscd through vpcd (slot 1, "Virtual PCD 00 01").

healthcard-host runs with ``[keys] store = "sam"`` and that reader; a daemon (simulated readers) linked to it loads
a card — MAC2 from the host SAM over PC/SC (``80 7C``) — and debits it; both uploads are TAC-verified by the same
SAM (``80 7E``). Then the SAM is pulled: a load answers HOST_KEYS_UNAVAILABLE with the card unchanged, and a
debit's upload stays in the daemon's outbox until the SAM is back, when it is verified. Nothing is lost or booked
twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, HostLinkConfig, Secret
from daemon.host.config import HostConfig, KeysConfig
from daemon.host.samkeys import SamKeyStore
from daemon.host.server import Host
from daemon.server import Daemon
from sam.virtual import VirtualSam, new_sam_image
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc
SAM_SLOT = 1
PIN = "123456"


class CountingSam(VirtualSam):
    """The virtual host SAM, counting the key commands it answers (to show the host asked it)."""

    def __init__(self) -> None:
        super().__init__(new_sam_image(kind="host", pin=PIN))
        self.ins: list[int] = []

    def execute(self, apdu: bytes) -> bytes:
        self.ins.append(apdu[1])
        return super().execute(apdu)


def _until(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def _host_and_daemon(tmp_path: Path, reader: str) -> Iterator[tuple[Host, Daemon]]:
    keys = KeysConfig(store="sam", readers=(reader,), pin=Secret(PIN), pin_source="test", wait_s=10.0)
    config = HostConfig(listen="127.0.0.1:0", state_dir=tmp_path / "host", keys=keys, audit_interval_s=0).validate()
    host = Host(config, poll_interval_s=0.2)
    assert isinstance(host.keys, SamKeyStore)
    host.start()
    link = HostLinkConfig(address=f"127.0.0.1:{host.port}", node_id="kiosk-1", retry_s=0.2)
    daemon = Daemon(Config(listen="127.0.0.1:0", state_dir=tmp_path / "kiosk", simulate=True, poll_interval_s=0.05,
                           host=link).validate())  # fmt: skip
    daemon.start()
    try:
        yield host, daemon
    finally:
        daemon.stop(grace=2)
        host.stop(grace=2)


def test_host_keys_in_a_sam_over_pcsc(vpcd: VpcdFixture, tmp_path: Path) -> None:
    sam = CountingSam()
    with vpcd(sam, slot=SAM_SLOT) as reader, _host_and_daemon(tmp_path, reader) as (host, daemon):
        assert daemon.hostlink is not None
        outbox = daemon.hostlink.outbox
        with (
            grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as kc,
            grpc.insecure_channel(f"127.0.0.1:{host.port}") as hc,
        ):
            kiosk, counter = pb_grpc.HealthCardServiceStub(kc), hpb_grpc.HostServiceStub(hc)
            card = kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))

            def registered() -> bool:
                try:
                    counter.GetCard(hpb.GetCardRequest(card_number=card.card_number))
                except grpc.RpcError:
                    return False
                return True

            _until("the card's registration at the host", registered)
            loaded = kiosk.Load(pb.LoadRequest(reader="virtual-0", amount_fen=700, request_id="load-1"))
            debited = kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=150, request_id="pay-1"))
            assert loaded.balance_fen == card.balance_fen + 700 and debited.balance_fen == loaded.balance_fen - 150
            _until("the uploads", lambda: outbox.counts() == (0, 0))
            account = counter.GetAccount(hpb.GetAccountRequest(card_number=card.card_number))
            assert [e.tac_status for e in account.entries] == [hpb.TAC_STATUS_VERIFIED] * 2
            assert account.shadow_balance_fen == debited.balance_fen
            assert sam.ins.count(0x7C) == 2 and sam.ins.count(0x7E) == 3  # start-up probe + the two uploads
            ready = "healthcard_host_keys_ready"
            assert host.metrics.registry.get_sample_value(ready) == 1

            vpcd.handles[SAM_SLOT].stop()  # the host SAM is pulled
            with pytest.raises(grpc.RpcError) as info:
                kiosk.Load(pb.LoadRequest(reader="virtual-0", amount_fen=500, request_id="load-2"))
            err: Any = info.value
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert dict(err.trailing_metadata())["healthcard-error-reason"] == "HOST_KEYS_UNAVAILABLE"
            assert host.metrics.registry.get_sample_value(ready) == 0
            assert kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen == debited.balance_fen
            paid = kiosk.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=40, request_id="pay-2"))
            time.sleep(1.0)  # uploads are refused while the SAM is out: the outbox keeps the row
            assert outbox.counts() == (1, 0)
            assert len(counter.GetAccount(hpb.GetAccountRequest(card_number=card.card_number)).entries) == 2

        with vpcd(sam, slot=SAM_SLOT):  # the SAM is back: the upload is verified, nothing was lost
            _until("the upload after the SAM came back", lambda: outbox.counts() == (0, 0), timeout=45)
            with grpc.insecure_channel(f"127.0.0.1:{host.port}") as hc:
                account = hpb_grpc.HostServiceStub(hc).GetAccount(hpb.GetAccountRequest(card_number=card.card_number))
            assert [e.tac_status for e in account.entries] == [hpb.TAC_STATUS_VERIFIED] * 3
            assert account.shadow_balance_fen == paid.balance_fen
            assert len(host.db.query("SELECT * FROM load_authorisations")) == 1
            assert host.metrics.registry.get_sample_value("healthcard_host_keys_ready") == 1
