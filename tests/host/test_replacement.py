"""补卡 end to end on both backends: the same holder (same KH) gets a new card through a daemon's dispenser, the
host moves the old card's balance onto it, and a second daemon accepts the new card while it refuses and blocks
the old one (docs/host.md, "A card's identity" and "退费, 补卡, 注销")."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.host.server import Host
from daemon.server import Daemon
from tests.host.conftest import trust_kiosk
from tests.host.test_daemon_link import _wait

OLD, NEW = "virtual-0", "virtual-blank"


def _stub(d: Daemon) -> pb_grpc.HealthCardServiceStub:
    return pb_grpc.HealthCardServiceStub(grpc.insecure_channel(f"127.0.0.1:{d.port}"))


def _reason(call: Callable[[], Any]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        err: Any = exc
        trailers = dict(err.trailing_metadata() or ())
        return str(trailers.get("healthcard-error-reason", "")) + " " + str(exc.details())
    return ""


def _uploaded(d: Daemon) -> bool:
    return d.hostlink is not None and d.hostlink.outbox.counts() == (0, 0)


def test_the_same_holder_gets_a_replacement_card_that_works_at_another_kiosk(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon], tmp_path: Path
) -> None:
    host.credits.wait_s = 0  # the demo's replacement_wait_s = 0: the old card's uploads are all in
    a = kiosk("kiosk-a", host.port)
    trust_kiosk(host, tmp_path / "kiosk-a")  # the host keeps for 补卡 what the kiosk's SAMs signed
    ka = _stub(a)
    old = ka.ReadCard(pb.ReadCardRequest(reader=OLD, sections=[cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_PURSE])).card
    kh, old_factor = old.card_number, old.purse.application_serial[-16:]
    _wait(lambda: _uploaded(a) and stub.GetCard(hpb.GetCardRequest(card_number=kh)).card.purse_factor == old_factor)
    ka.Debit(pb.DebitRequest(reader=OLD, amount_fen=250, request_id="before-loss"))
    visit = {213: "北京协和医院", 215: "20261204093000", 217: "心内科门诊"}
    ka.AddRecord(pb.AddRecordRequest(reader=OLD, kind=cd.VISIT_KIND_OUTPATIENT, items=visit, request_id="v1"))
    ka.AddRecord(pb.AddRecordRequest(reader=OLD, kind=cd.VISIT_KIND_OUTPATIENT, items=visit, request_id="v1"))
    _wait(lambda: _uploaded(a))
    old_balance = ka.GetBalance(pb.GetBalanceRequest(reader=OLD)).balance_fen
    assert stub.GetAccount(hpb.GetAccountRequest(card_number=kh)).shadow_balance_fen == old_balance == 9750

    # 挂失 at the counter: the kiosk refuses the old card
    stub.ReportLost(hpb.ReportLostRequest(card_number=kh, operator_id="counter-1", reason="holder phoned"))
    _wait(lambda: a.blacklist is not None and a.blacklist.status(kh, old_factor) == "LOST")
    assert "CARD_LISTED" in _reason(lambda: ka.Debit(pb.DebitRequest(reader=OLD, amount_fen=1, request_id="lost")))

    # 补卡: a new card for the same holder (same KH) from the dispenser, with the holder's data
    issued = ka.IssueCard(pb.IssueCardRequest(reader=NEW, holder=old.holder, card_number=kh, operator_id="desk"),
                          timeout=60)  # fmt: skip
    assert issued.card_number == kh
    new = ka.ReadCard(pb.ReadCardRequest(reader=NEW, sections=[cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_PURSE])).card
    new_factor = new.purse.application_serial[-16:]
    assert new_factor != old_factor and new.holder == old.holder
    assert new.card_number == kh and new.purse.balance_fen == 0
    # the visit records the host got from the kiosk's AddRecord (once, though the request was repeated) go onto it
    visits = stub.GetHolderData(hpb.GetHolderDataRequest(card_number=kh)).visits  # the current card: the old one
    assert [(v.kind, dict(v.items)) for v in visits] == [(cd.VISIT_KIND_OUTPATIENT, visit)]
    for v in visits:
        ka.AddRecord(pb.AddRecordRequest(reader=NEW, kind=v.kind, items=v.items, request_id=f"copy-{v.slot}"))
    copied = ka.ReadCard(pb.ReadCardRequest(reader=NEW, sections=[cd.CARD_SECTION_OUTPATIENT])).card.outpatient
    assert [{k: r.items[k] for k in visit} for r in copied if r.valid] == [visit]  # (+ the kiosk's signature items)
    # signed anew by the counter's SAM, bound to the new card's KH (the holder's) and slot: VALID (D14)
    assert [(r.signature_status, r.signer) for r in copied if r.valid] == [(cd.SIGNATURE_STATUS_VALID, "own SAM")]
    replaced = stub.ReplaceCard(hpb.ReplaceCardRequest(
        old_card_number=kh, new_card_number=kh, new_purse_factor=new_factor, operator_id="counter-1",
        reason="补卡, ID checked"))  # fmt: skip
    assert replaced.old_card.status == hpb.CARD_STATUS_REPLACED
    assert (replaced.new_card.purse_factor, replaced.new_card.status) == (new_factor, hpb.CARD_STATUS_ISSUED)
    assert (replaced.credit.kind, replaced.credit.amount_fen) == (hpb.CREDIT_KIND_TRANSFER, old_balance)
    # a repeat of the call (a lost answer) moves nothing twice
    again = stub.ReplaceCard(hpb.ReplaceCardRequest(
        old_card_number=kh, new_card_number=kh, new_purse_factor=new_factor, operator_id="counter-1",
        reason="补卡, ID checked"))  # fmt: skip
    assert again.credit == replaced.credit
    _wait(lambda: _uploaded(a))
    # the daemon's IssueCard registered the new card with the holder's data: the card office has it (补卡)
    kept_data = stub.GetHolderData(hpb.GetHolderDataRequest(card_number=kh))
    kept = kept_data.holder
    assert [dict(v.items) for v in kept_data.visits] == [visit]  # now the new card's copy (the current card)
    assert (kept.name, kept.gender, kept.birth_date, kept.id_number) == (
        old.holder.name, old.holder.gender, old.holder.birth_date, kh)  # fmt: skip

    # the new card moves to another kiosk (B), whose own reader holds a copy of the old card
    a.stop(grace=2)
    cards = tmp_path / "kiosk-b" / "cards"
    cards.mkdir(parents=True, mode=0o700)
    for src in (tmp_path / "kiosk-a" / "cards").glob(f"{NEW}.json*"):
        shutil.copy(src, cards / src.name)
    b = kiosk("kiosk-b", host.port)
    kb = _stub(b)
    _wait(lambda: b.blacklist is not None and b.blacklist.status(kh, old_factor) == "REPLACED")
    assert b.blacklist is not None and b.blacklist.status(kh, new_factor) is None
    # the old card: refused and its purse blocked at insertion (the card itself now answers 6283)
    reader: Any = b.readers.worker(OLD).backend  # SimulatedReader: pull the card and put it in again
    reader.remove_card()
    time.sleep(0.2)  # a few polls see the reader empty
    reader.insert_card()
    _wait(lambda: "6283" in _reason(lambda: kb.GetBalance(pb.GetBalanceRequest(reader=OLD))))
    assert "CARD_LISTED" in _reason(lambda: kb.Debit(pb.DebitRequest(reader=OLD, amount_fen=1, request_id="o")))
    # the new card: the next load of exactly the credit pays the transfer (no cash); then it pays
    loaded = kb.Load(pb.LoadRequest(reader=NEW, amount_fen=old_balance, request_id="transfer", operator_id="c2"))
    assert loaded.balance_fen == old_balance
    paid = kb.Debit(pb.DebitRequest(reader=NEW, amount_fen=120, request_id="new-card-pays"))
    assert paid.balance_fen == old_balance - 120
    _wait(lambda: _uploaded(b))

    # every fen accounted for: the old card's shadow went to the credit, the credit to the new card's load
    old_account = stub.GetAccount(hpb.GetAccountRequest(card_number=kh, purse_factor=old_factor))
    new_account = stub.GetAccount(hpb.GetAccountRequest(card_number=kh))
    assert old_account.card.status == hpb.CARD_STATUS_REPLACED and old_account.shadow_balance_fen == 0
    assert new_account.card.purse_factor == new_factor and new_account.shadow_balance_fen == paid.balance_fen
    assert all(e.tac_status == hpb.TAC_STATUS_VERIFIED for e in new_account.entries)
    assert {e.transaction.purse_factor for e in new_account.entries} == {new_factor}
    credited = sum(
        e.transaction.amount_fen for e in new_account.entries if e.transaction.kind == hpb.TRANSACTION_KIND_LOAD
    )
    assert credited == replaced.credit.amount_fen == 10000 - 250
    day = stub.GetSettlement(hpb.GetSettlementRequest(business_date=paid.transaction_time.ToDatetime().astimezone()
                                                      .date().isoformat()))  # fmt: skip
    cash = {c.operator_id: c.expected_fen for c in day.cash}
    assert cash.get("c2", 0) == 0  # the transfer load took no cash at kiosk B
    cards_of = stub.GetCard(hpb.GetCardRequest(card_number=kh)).cards
    assert [(c.purse_factor, c.status) for c in cards_of] == [
        (old_factor, hpb.CARD_STATUS_REPLACED), (new_factor, hpb.CARD_STATUS_ISSUED)]  # fmt: skip
