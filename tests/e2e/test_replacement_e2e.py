"""补卡 through pcscd + vpcd: the holder's old card and its replacement (same KH, a new chip) in one PC/SC reader.

healthcard-host runs in process (SQLite); healthcardd reads vpcd slot 0 with the virtual PSAM on slot 1 and follows
the host. The old card is debited, reported lost (挂失: the next debit is refused), replaced (ReplaceCard with the
new chip's purse factor, the old card's balance a TRANSFER credit); the new card in the same reader pays; the old
card put back is refused and gets APPLICATION BLOCK (its purse answers 6283). (The credit's load is not made here:
the daemon's PC/SC readers have no cardholder purse PIN for a load; tests/host/test_replacement.py loads it.)
"""

from __future__ import annotations

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
from daemon.config import load_config
from daemon.errors import REASON_KEY
from daemon.host.config import HostConfig
from daemon.host.server import Host
from daemon.server import Daemon
from healthcard.api import new_chip_number
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc

CARD_READER, SAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"
NEW_OPENING = 500  # the new card's balance when issued (registered by ReplaceCard as its opening balance)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[hpb_grpc.HostServiceStub, pb_grpc.HealthCardServiceStub, Daemon]]:
    host = Host(HostConfig(listen="127.0.0.1:0", state_dir=tmp_path / "host", audit_interval_s=0).validate(),
                poll_interval_s=0.2)  # fmt: skip
    host.credits.wait_s = 0
    host.start()
    path = tmp_path / "healthcardd.toml"
    path.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\npoll_interval_s = 0.1\nqueue_timeout_s = 30.0\n'
        '[sam]\npin = "123456"\n'
        f'[[readers]]\nname = "{CARD_READER}"\nsam_reader = "{SAM_READER}"\n'
        f'[host]\naddress = "127.0.0.1:{host.port}"\nnode_id = "kiosk-pcsc"\ninstitution = "H001"\nretry_s = 0.2\n',
        encoding="utf-8",
    )
    daemon = Daemon(load_config(path).validate())
    daemon.start()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{host.port}") as hch,
            grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as kch,
        ):
            yield hpb_grpc.HostServiceStub(hch), pb_grpc.HealthCardServiceStub(kch), daemon
    finally:
        daemon.stop(grace=5)
        host.stop(grace=2)


def _until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _refusal(call: Callable[[], Any]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        err: Any = exc
        return f"{dict(err.trailing_metadata() or ()).get(REASON_KEY, '')} {err.details()}"
    return ""


def test_a_replacement_card_for_the_same_holder_through_pcsc(
    vpcd: VpcdFixture, world: tuple[hpb_grpc.HostServiceStub, pb_grpc.HealthCardServiceStub, Daemon]
) -> None:
    desk, kiosk, daemon = world
    old, new, sam = new_demo_card(), new_demo_card(card_no=new_chip_number(), balance_fen=NEW_OPENING), VirtualSam()

    def read(sections: list[cd.CardSection.ValueType]) -> Any:
        return kiosk.ReadCard(pb.ReadCardRequest(reader=CARD_READER, sections=sections), timeout=60).card

    def account(factor: str = "") -> hpb.GetAccountResponse:
        reply: hpb.GetAccountResponse = desk.GetAccount(hpb.GetAccountRequest(card_number=kh, purse_factor=factor))
        return reply

    with vpcd(sam, slot=1):
        with vpcd(old, slot=0):
            first = read([cd.CARD_SECTION_PURSE])
            kh, old_factor = first.card_number, first.purse.application_serial[-16:]
            kiosk.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=300, request_id="old-pays"), timeout=60)
            _until("the debit at the host", lambda: account().shadow_balance_fen == first.purse.balance_fen - 300)
            desk.ReportLost(hpb.ReportLostRequest(card_number=kh, operator_id="c", reason="holder phoned"))
            _until("the list at the kiosk", lambda: daemon.blacklist is not None
                   and daemon.blacklist.status(kh, old_factor) == "LOST")  # fmt: skip
            assert "CARD_LISTED" in _refusal(lambda: kiosk.Debit(
                pb.DebitRequest(reader=CARD_READER, amount_fen=1, request_id="old-lost"), timeout=60))  # fmt: skip
        with vpcd(new, slot=0):
            fresh = read([cd.CARD_SECTION_PURSE, cd.CARD_SECTION_HOLDER])
            new_factor = fresh.purse.application_serial[-16:]
            assert fresh.card_number == kh and new_factor != old_factor
            replaced = desk.ReplaceCard(hpb.ReplaceCardRequest(
                old_card_number=kh, new_card_number=kh, new_purse_factor=new_factor, operator_id="c",
                reason="补卡", new_opening_balance_fen=NEW_OPENING))  # fmt: skip
            assert replaced.credit.amount_fen == first.purse.balance_fen - 300 and not replaced.credit.used
            _until("the new card's listing state", lambda: daemon.blacklist is not None
                   and daemon.blacklist.status(kh, old_factor) == "REPLACED")  # fmt: skip
            paid = kiosk.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=50, request_id="new-pays"), timeout=60)
            assert paid.balance_fen == NEW_OPENING - 50
            _until("the new card's upload", lambda: account(new_factor).shadow_balance_fen == NEW_OPENING - 50)
        with vpcd(old, slot=0):  # the old card again: refused, and blocked at its insertion
            _until("the old card's purse blocked", lambda: "6283" in _refusal(
                lambda: kiosk.GetBalance(pb.GetBalanceRequest(reader=CARD_READER), timeout=60)))  # fmt: skip
            assert "CARD_LISTED" in _refusal(lambda: kiosk.Debit(
                pb.DebitRequest(reader=CARD_READER, amount_fen=1, request_id="old-again"), timeout=60))  # fmt: skip
    assert account(old_factor).shadow_balance_fen == 0
    assert account(old_factor).card.status == hpb.CARD_STATUS_REPLACED
    assert all(e.tac_status == hpb.TAC_STATUS_VERIFIED for e in account(new_factor).entries)
