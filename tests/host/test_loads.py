"""Online load authorisation: MAC2 from the host's key store after MAC1 and the card's status are checked
(clearing practice, sources.md H3), and the daemon's Load through the host (both backends)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from apdu.errors import DataError
from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon.config import HostLinkConfig
from daemon.host.credits import Credits
from daemon.host.db import LedgerDb
from daemon.host.errors import CardNotRegisteredError
from daemon.host.keystore import DemoKeyStore
from daemon.host.loads import LoadRefusedError, Loads, WrongMac1Error
from daemon.host.registry import CardStatus, Registry
from daemon.host.server import Host
from healthcard.api import open_virtual_session
from healthcard.api.purse import LoadRequest
from tests.daemon.inprocess import daemon_stub, running_daemon, simulated_config


def _authoriser(
    loads: Loads, tamper: Callable[[LoadRequest], LoadRequest] | None = None, factor: str = ""
) -> Callable[[Any], bytes]:
    def authorise(request: LoadRequest) -> bytes:
        r = tamper(request) if tamper is not None else request
        return loads.authorise(
            node_id="k1", card_number=r.card_number, amount_fen=r.amount_fen, balance_before_fen=r.balance_before_fen,
            online_counter=r.online_counter, icc_random=r.icc_random.hex(), mac1=r.mac1.hex(),
            terminal_id=r.terminal_id.hex(), card_time=r.when.strftime("%Y%m%d%H%M%S"), algorithm=r.algorithm,
            purse_factor=factor,
        ).mac2  # fmt: skip

    return authorise


def test_mac2_from_the_host_is_accepted_by_the_card_and_wrong_or_listed_is_refused(ledger: LedgerDb) -> None:
    registry = Registry(ledger)
    loads = Loads(ledger, registry, DemoKeyStore.from_demo_keys())
    with open_virtual_session() as s:
        number, factor = s.card_number, s.purse_factor().hex()
        with pytest.raises(CardNotRegisteredError):
            s.load(100, authoriser=_authoriser(loads))
        registry.register(card_number=number, masked_id="110105********0030", institution="H", purse_factor=factor,
                          opening_balance_fen=s.balance(), operator_id="o", client="t")  # fmt: skip
        before = s.balance()
        result = s.load(500, authoriser=_authoriser(loads))  # the card checks MAC2 in CREDIT FOR LOAD
        assert result.balance_fen == before + 500 == s.balance()
        rows = ledger.query("SELECT card_number, amount_fen, online_counter FROM load_authorisations")
        assert [(r["card_number"], int(r["amount_fen"]), int(r["online_counter"])) for r in rows] == [
            (number, 500, result.online_counter)
        ]
        # a terminal asking MAC2 for a bigger amount than the card's MAC1 covers
        inflate = _authoriser(loads, lambda r: dataclasses.replace(r, amount_fen=r.amount_fen * 100))
        with pytest.raises(WrongMac1Error):
            s.load(5, authoriser=inflate)
        registry.change_status(number, CardStatus.LOST, operator_id="o", reason="lost", client="t")
        with pytest.raises(LoadRefusedError):
            s.load(5, authoriser=_authoriser(loads))
        assert s.balance() == before + 500
        assert len(ledger.query("SELECT * FROM load_authorisations")) == 1


def test_malformed_requests_name_the_field(ledger: LedgerDb) -> None:
    loads = Loads(ledger, Registry(ledger), DemoKeyStore.from_demo_keys())
    good = {"node_id": "k", "card_number": "C1", "amount_fen": 1, "balance_before_fen": 0, "online_counter": 0,
            "icc_random": "00" * 4, "mac1": "00" * 4, "terminal_id": "00" * 6, "card_time": "20261204120000",
            "algorithm": 0}  # fmt: skip
    for name, value in (("amount_fen", 0), ("mac1", "xyz"), ("card_time", "2026"), ("terminal_id", "01")):
        with pytest.raises(DataError) as info:
            loads.authorise(**{**good, name: value})  # type: ignore[arg-type]
        assert info.value.field == name


def test_the_daemons_load_goes_through_the_host(host: Host, stub: hpb_grpc.HostServiceStub, tmp_path: Path) -> None:
    link = HostLinkConfig(address=f"127.0.0.1:{host.port}", node_id="cashier-1", retry_s=0.2)
    with running_daemon(simulated_config(tmp_path / "k", host=link), grace=2) as d, daemon_stub(d) as kiosk:
        card = kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the daemon registers the card it saw
            try:
                stub.GetCard(hpb.GetCardRequest(card_number=card.card_number))
                break
            except grpc.RpcError:
                time.sleep(0.05)
        loaded = kiosk.Load(pb.LoadRequest(reader="virtual-0", amount_fen=700, request_id="top-up-1"))
        assert loaded.balance_fen == card.balance_fen + 700
        assert len(host.db.query("SELECT * FROM load_authorisations")) == 1
        assert d.hostlink is not None
        deadline = time.monotonic() + 10
        while d.hostlink.outbox.counts() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        account = stub.GetAccount(hpb.GetAccountRequest(card_number=card.card_number))
        assert account.shadow_balance_fen == loaded.balance_fen
        assert [e.tac_status for e in account.entries] == [hpb.TAC_STATUS_VERIFIED]

        host.stop(grace=1)  # no host: no load (the SAM's load extension is not used), the card is unchanged
        with pytest.raises(grpc.RpcError) as info:
            kiosk.Load(pb.LoadRequest(reader="virtual-0", amount_fen=700, request_id="top-up-2"))
        err: Any = info.value
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(err.trailing_metadata())["healthcard-error-reason"] == "HOST_UNAVAILABLE"
        assert kiosk.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen == loaded.balance_fen


def test_a_load_naming_a_purse_factor_the_registry_does_not_hold_is_refused(ledger: LedgerDb) -> None:
    """The daemon names the physical card (KH + the factor it read); the host authorises only the registry's card of
    that KH and factor and keys MAC2 with the registry's factor: another chip claiming the holder's number gets
    CARD_NOT_REGISTERED, the holder's replaced card CARD_LISTED — neither changes the card."""
    registry = Registry(ledger)
    loads = Loads(ledger, registry, DemoKeyStore.from_demo_keys())
    with open_virtual_session() as s:
        number, factor = s.card_number, s.purse_factor().hex().upper()
        registry.register(card_number=number, masked_id="110105********0030", institution="H", purse_factor=factor,
                          opening_balance_fen=s.balance(), operator_id="o", client="t")  # fmt: skip
        before = s.balance()
        with pytest.raises(CardNotRegisteredError):
            s.load(100, authoriser=_authoriser(loads, factor="0001000000000099"))
        assert s.balance() == before
        assert s.load(100, authoriser=_authoriser(loads, factor=factor)).balance_fen == before + 100
        registry.change_status(number, CardStatus.LOST, operator_id="o", reason="lost", client="t")
        Credits(ledger, registry, wait_s=0).replace(old_card_number=number, new_card_number=number,
                                                    new_purse_factor="0001000000000099", operator_id="o",
                                                    reason="补卡", client="t")  # fmt: skip
        with pytest.raises(LoadRefusedError):  # the old card by its factor: REPLACED
            s.load(100, authoriser=_authoriser(loads, factor=factor))
        with pytest.raises(WrongMac1Error):  # by KH alone now the new card: its key does not match this chip's MAC1
            s.load(100, authoriser=_authoriser(loads))
        assert s.balance() == before + 100
