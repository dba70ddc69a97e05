"""注销 with the card present: UNLOAD (圈提) authorised by the host, booked from its upload when the card's answer
MAC is the one the host expected, then CancelCard (issue #12; docs/host.md "退费, 补卡, 注销"). Both backends."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from apdu.errors import CardError
from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.host.audit import run_audit
from daemon.host.clearing import Clearing, Upload
from daemon.host.credits import Credits
from daemon.host.db import LedgerDb
from daemon.host.errors import CardNotRegisteredError, CardStatusConflictError
from daemon.host.keystore import DemoKeyStore
from daemon.host.loads import LoadRefusedError, WrongMac1Error
from daemon.host.registry import CardStatus, Registry
from daemon.host.server import Host
from daemon.host.settlement import settle
from daemon.host.unloads import Unloads
from daemon.server import Daemon
from healthcard.api import LoadRequest, UnloadAuthorisation, open_virtual_session
from healthcard.api.purse import LoadResult

TERMINAL = "000000000001"


def _authoriser(
    unloads: Unloads, tamper: Callable[[LoadRequest], LoadRequest] | None = None
) -> Callable[[LoadRequest], UnloadAuthorisation]:
    def authorise(request: LoadRequest) -> UnloadAuthorisation:
        r = tamper(request) if tamper is not None else request
        granted = unloads.authorise(
            node_id="desk", card_number=r.card_number, amount_fen=r.amount_fen,
            balance_before_fen=r.balance_before_fen, online_counter=r.online_counter, icc_random=r.icc_random.hex(),
            mac1=r.mac1.hex(), terminal_id=r.terminal_id.hex(), card_time=r.when.strftime("%Y%m%d%H%M%S"),
            algorithm=r.algorithm, purse_factor=r.diversification_factor.hex(),
        )  # fmt: skip
        return UnloadAuthorisation(granted.mac2, None)  # the host keeps the answer MAC to itself

    return authorise


def _upload(number: str, factor: str, result: LoadResult, before: int, tid: str, tac: str | None = None) -> Upload:
    return Upload(
        transaction_id=tid, kind="unload", card_number=number, amount_fen=before - result.balance_fen,
        balance_before_fen=before, balance_after_fen=result.balance_fen, card_counter=result.online_counter,
        terminal_id=result.terminal_id, terminal_serial=0, tac=tac if tac is not None else result.tac,
        card_time=result.when.strftime("%Y%m%d%H%M%S"), transaction_time=_dt.datetime.now(_dt.UTC).isoformat(),
        business_date=_dt.date.today().isoformat(), operator_id="c1", purse_factor=factor,
    )  # fmt: skip


def test_unload_authorised_booked_and_the_card_cancelled(ledger: LedgerDb) -> None:
    registry = Registry(ledger)
    keys = DemoKeyStore.from_demo_keys()
    unloads, clearing, credits = Unloads(ledger, registry, keys), Clearing(ledger, registry, keys), Credits(
        ledger, registry, wait_s=0)  # fmt: skip
    with open_virtual_session() as s:
        number, factor = s.card_number, s.purse_factor().hex().upper()
        with pytest.raises(CardNotRegisteredError):
            s.unload(authoriser=_authoriser(unloads))
        registry.register(card_number=number, masked_id="110105********0030", institution="H", purse_factor=factor,
                          opening_balance_fen=s.balance(), operator_id="o", client="t")  # fmt: skip
        before = s.balance()
        # MAC1 forged (a terminal asking MAC2 for less than the card's MAC1 covers): no MAC2, the card unchanged
        with pytest.raises(WrongMac1Error):
            s.unload(authoriser=_authoriser(unloads, lambda r: dataclasses.replace(r, amount_fen=r.amount_fen - 1)))
        assert s.balance() == before and not ledger.query("SELECT * FROM unload_authorisations")
        result = s.unload(authoriser=_authoriser(unloads))  # the card checks MAC2 in DEBIT FOR UNLOAD
        assert result.balance_fen == 0 == s.balance()
        (row,) = ledger.query("SELECT card_number, amount_fen, online_counter, answer_mac FROM unload_authorisations")
        assert (row["card_number"], int(row["amount_fen"]), int(row["online_counter"])) == (
            number, before, result.online_counter,
        )  # fmt: skip
        assert row["answer_mac"] == result.tac  # the card answered exactly the MAC the host expected
        # the upload: a forged answer MAC is flagged and books nothing; the card's own one is booked once
        forged = clearing.record("desk", [_upload(number, factor, result, before, "u-forged", tac="00000000")])
        assert forged[0].tac_status == "FAILED" and registry.get(number).shadow_balance_fen == before
        with pytest.raises(CardStatusConflictError, match="not a verified unload"):
            credits.cancel(card_number=number, operator_id="c1", reason="holder leaves", client="t",
                           unload_node_id="desk", unload_transaction_id="u-forged")  # fmt: skip
        with pytest.raises(CardStatusConflictError, match="not reached the host"):
            credits.cancel(card_number=number, operator_id="c1", reason="holder leaves", client="t",
                           unload_node_id="desk", unload_transaction_id="u1")  # fmt: skip
        (booked,) = clearing.record("desk", [_upload(number, factor, result, before, "u1")])
        assert (booked.tac_status, booked.duplicate) == ("VERIFIED", False)
        assert registry.get(number).shadow_balance_fen == 0
        card, payout = credits.cancel(card_number=number, operator_id="c1", reason="holder leaves", client="t",
                                      unload_node_id="desk", unload_transaction_id="u1")  # fmt: skip
        assert (card.status, payout) == (CardStatus.CANCELLED, before) and card.status.listed
        assert not ledger.query("SELECT * FROM payouts")  # the unload was the payout
        with pytest.raises(LoadRefusedError, match="CANCELLED"):  # no second unload for a cancelled card
            unloads.authorise(
                node_id="desk", card_number=number, purse_factor=factor, amount_fen=1, balance_before_fen=1,
                online_counter=result.online_counter + 1, icc_random="01020304", mac1="00000000",
                terminal_id=TERMINAL, card_time="20261204100000", algorithm=0,
            )  # fmt: skip
        with pytest.raises(CardStatusConflictError):  # nor a second cancellation
            credits.cancel(card_number=number, operator_id="c1", reason="again", client="t", purse_factor=factor,
                           unload_node_id="desk", unload_transaction_id="u1")  # fmt: skip
        day = settle(ledger, _dt.date.today().isoformat(), {"c1": 0})
        (till,) = [c for c in day.cash if c.operator_id == "c1"]
        assert (till.expected_fen, till.difference_fen, day.total_unloads_fen) == (-before, before, before + before)
        unload_groups = [g for g in day.groups if g.dimension == "operator" and g.kind == "unload"]
        assert [(g.count, g.verified_count, g.verified_amount_fen) for g in unload_groups] == [(2, 1, before)]
        findings = {f.kind for f in run_audit(ledger) if f.card_number == number}
        assert "SHADOW_MISMATCH" not in findings and "COUNTER_GAP" not in findings


def test_an_unload_above_the_balance_or_of_a_listed_card_is_refused(ledger: LedgerDb) -> None:
    registry = Registry(ledger)
    unloads = Unloads(ledger, registry, DemoKeyStore.from_demo_keys())
    with open_virtual_session() as s:
        number, factor = s.card_number, s.purse_factor().hex().upper()
        registry.register(card_number=number, masked_id="110105********0030", institution="H", purse_factor=factor,
                          opening_balance_fen=s.balance(), operator_id="o", client="t")  # fmt: skip
        with pytest.raises(CardError):  # the card itself refuses more than its balance (9401), before any MAC
            s.unload(s.balance() + 1, authoriser=_authoriser(unloads))
        registry.change_status(number, CardStatus.LOST, operator_id="o", reason="lost", client="t")
        with pytest.raises(LoadRefusedError, match="LOST"):
            s.unload(authoriser=_authoriser(unloads))
        assert not ledger.query("SELECT * FROM unload_authorisations")


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_cancellation_with_the_card_present_through_daemon_and_host(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon]
) -> None:
    counter = kiosk("counter-1", host.port)
    with grpc.insecure_channel(f"127.0.0.1:{counter.port}") as ch:
        daemon = pb_grpc.HealthCardServiceStub(ch)
        card = daemon.GetBalance(pb.GetBalanceRequest(reader="virtual-0"))

        def registered() -> bool:
            try:
                stub.GetCard(hpb.GetCardRequest(card_number=card.card_number))
            except grpc.RpcError:
                return False
            return True

        _wait(registered, "the daemon registers the card it saw")
        request = pb.UnloadRequest(reader="virtual-0", amount_fen=card.balance_fen, request_id="cancel-1",
                                   operator_id="c1")  # fmt: skip
        unloaded = daemon.Unload(request)
        assert unloaded.balance_fen == 0 and len(unloaded.answer_mac) == 8
        assert daemon.Unload(request).replayed  # idempotent: nothing asked of the host or the card again
        assert len(host.db.query("SELECT * FROM unload_authorisations")) == 1
        assert counter.hostlink is not None
        _wait(lambda: counter.hostlink is not None and counter.hostlink.outbox.counts() == (0, 0), "upload")
        account = stub.GetAccount(hpb.GetAccountRequest(card_number=card.card_number))
        assert account.shadow_balance_fen == 0 and not account.gaps
        assert [(e.transaction.kind, e.tac_status) for e in account.entries] == [
            (hpb.TRANSACTION_KIND_UNLOAD, hpb.TAC_STATUS_VERIFIED)
        ]
        cancelled = stub.CancelCard(hpb.CancelCardRequest(
            card_number=card.card_number, operator_id="c1", reason="holder leaves the hospital",
            unload_node_id="counter-1", unload_transaction_id=unloaded.transaction_id,
        ))  # fmt: skip
        assert (cancelled.card.status, cancelled.payout_fen, cancelled.by_unload) == (
            hpb.CARD_STATUS_CANCELLED, card.balance_fen, True,
        )  # fmt: skip
        day = stub.GetSettlement(hpb.GetSettlementRequest(
            business_date=_dt.date.today().isoformat(), declared=[hpb.DeclaredCash(operator_id="c1", amount_fen=0)],
        ))  # fmt: skip
        assert day.total_unloads_fen == card.balance_fen
        (till,) = [c for c in day.cash if c.operator_id == "c1"]
        assert till.expected_fen == -card.balance_fen  # paid out of c1's till

        # the cancelled card is listed: the daemon learns it and refuses a second unload and any debit
        def refused() -> bool:
            try:
                daemon.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id=f"d{time.monotonic()}"))
            except grpc.RpcError as exc:
                failed: Any = exc
                return dict(failed.trailing_metadata()).get("healthcard-error-reason") == "CARD_LISTED"
            return False

        _wait(refused, "the daemon refuses the cancelled card")
        with pytest.raises(grpc.RpcError) as info:
            daemon.Unload(pb.UnloadRequest(reader="virtual-0", amount_fen=1, request_id="cancel-2", operator_id="c1"))
        err: Any = info.value
        assert dict(err.trailing_metadata())["healthcard-error-reason"] == "CARD_LISTED"


def test_a_forged_mac1_gets_no_mac2_over_grpc(host: Host, stub: hpb_grpc.HostServiceStub) -> None:
    with open_virtual_session() as s:
        number, factor = s.card_number, s.purse_factor().hex().upper()
        Registry(host.db).register(card_number=number, masked_id="110105********0030", institution="H",
                                   purse_factor=factor, opening_balance_fen=s.balance(), operator_id="o",
                                   client="t")  # fmt: skip
    request = hpb.AuthoriseUnloadRequest(
        node_id="k", card_number=number, purse_factor=factor, amount_fen=100, balance_before_fen=10_000,
        online_counter=0, icc_random="01020304", mac1="00000000", terminal_id=TERMINAL, card_time="20261204100000",
        key_version=1, algorithm=0,
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as info:
        stub.AuthoriseUnload(request)
    err: Any = info.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert dict(err.trailing_metadata())["healthcard-error-reason"] == "WRONG_MAC"
    assert not host.db.query("SELECT * FROM unload_authorisations")
