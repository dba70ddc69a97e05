"""The hospital counter after the kiosk: refund, 挂失, a debit refused at the kiosk, 补卡, 注销, the day's 日结.

Talks to healthcard-host (the counter's side) and to the kiosk's healthcardd (to show what the holder sees).
scripts/demo.sh runs it after examples/kiosk_client.py:

    python examples/counter_client.py --host 127.0.0.1:50061 --kiosk 127.0.0.1:50051 --node demo-kiosk

Steps: wait until the host has the kiosk's uploads; refund the kiosk's last fee (退费: a credit the card receives
with its next load of that amount, no cash); report the card lost (挂失) and watch the kiosk refuse a payment
with CARD_LISTED; replace it (补卡): a new card for the same holder (same card number, a new chip) from the
kiosk's card dispenser with the holder's data, the old card's balance moved onto it by the host (a TRANSFER
credit its first load receives, no cash); the new card pays at the kiosk while the old one stays refused; the
holder leaves (注销): the new card's balance is paid out on the card by UNLOAD (圈提, MAC2 from the host) and the
host cancels the card naming that unload; print the day's settlement (日结) as CSV with the cashiers' declared cash
reconciled (the counter's till is short by the payout). The host needs
``replacement_wait_s = 0`` for the demo (scripts/demo.sh): a hospital waits days for offline terminals' uploads.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import grpc

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc

REASON_KEY = "healthcard-error-reason"


def step(number: int, chinese: str, english: str) -> None:
    """Print a step heading."""
    print(f"\n[{number}] {chinese} — {english}")


def wait_until(what: str, predicate: Any, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until true, else exit with a message."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.2)


def holder_kept(host: hpb_grpc.HostServiceStub, number: str) -> bool:
    """Whether the host keeps the holder's data (name ...) for the card number."""
    try:
        return bool(host.GetHolderData(hpb.GetHolderDataRequest(card_number=number)).holder.name)
    except grpc.RpcError:
        return False


def debit_refusal(kiosk: pb_grpc.HealthCardServiceStub, reader: str) -> str:
    """Try a 100 fen payment on ``reader``; the refusal's reason (a payment taken is reported and retried)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            kiosk.Debit(pb.DebitRequest(reader=reader, amount_fen=100, request_id="X-" + uuid.uuid4().hex[:12]))
            print("    the list had not arrived yet: 100 fen taken", file=sys.stderr)
            time.sleep(0.5)
        except grpc.RpcError as exc:
            err: Any = exc
            reason = str(dict(err.trailing_metadata() or ()).get(REASON_KEY, ""))
            print(f"    refused: {err.details()} [{reason}]")
            return reason
    return ""


@dataclass(frozen=True)
class Replacement:
    """What 补卡 gave: both cards' purse factors, the holder copied, the credit and the new card's balance."""

    old_factor: str
    new_factor: str
    holder_name: str
    credit_fen: int
    balance_fen: int
    visits: int
    skipped: int


def replace_card(
    host: hpb_grpc.HostServiceStub, kiosk: pb_grpc.HealthCardServiceStub, args: argparse.Namespace, number: str,
    holder: Any,
) -> Replacement:  # fmt: skip
    """补卡: IssueCard on the kiosk's dispenser (same card number, the holder's data), ReplaceCard at the host
    (the old card REPLACED, its shadow balance a TRANSFER credit of the new card), then the new card's load of
    exactly the credit (the host authorises it as the credit: no cash)."""
    old_factor = host.GetCard(hpb.GetCardRequest(card_number=number)).card.purse_factor
    kept = host.GetHolderData(hpb.GetHolderDataRequest(card_number=number)).visits  # the lost card's records
    # only what a SAM the host trusts signed for this card, kind and slot (the host returns no other; checked again
    # here so that a record without the host's VALID is never re-signed by the counter's SAM: docs/host.md)
    visits = [v for v in kept if v.signature_status == cd.SIGNATURE_STATUS_VALID]
    kiosk.IssueCard(pb.IssueCardRequest(reader=args.dispenser, holder=holder, card_number=number,
                                        operator_id=args.operator), timeout=60)  # fmt: skip
    for visit in visits:  # the visit records the host got from the daemons, onto the new card
        kiosk.AddRecord(
            pb.AddRecordRequest(
                reader=args.dispenser,
                kind=visit.kind,
                items=visit.items,
                operator_id=args.operator,
                request_id=f"COPY-{uuid.uuid4().hex[:12]}",
            )
        )
    new = kiosk.ReadCard(pb.ReadCardRequest(reader=args.dispenser,
                                            sections=[cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_PURSE])).card  # fmt: skip
    new_factor = new.purse.application_serial[-16:]  # EF15 bytes 12..19
    replaced = host.ReplaceCard(hpb.ReplaceCardRequest(
        old_card_number=number, new_card_number=number, new_purse_factor=new_factor,
        new_opening_balance_fen=new.purse.balance_fen, operator_id=args.operator, reason="补卡, holder's ID checked",
    ))  # fmt: skip
    balance = new.purse.balance_fen
    if replaced.credit.amount_fen:
        balance = kiosk.Load(pb.LoadRequest(
            reader=args.dispenser, amount_fen=replaced.credit.amount_fen, request_id="T-" + uuid.uuid4().hex[:12],
            operator_id=args.operator,
        )).balance_fen  # fmt: skip
    return Replacement(old_factor, new_factor, new.holder.name, replaced.credit.amount_fen, balance, len(visits),
                       len(kept) - len(visits))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the counter's part of the demo."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1:50061")
    p.add_argument("--kiosk", default="127.0.0.1:50051")
    p.add_argument("--node", default="demo-kiosk", help="the kiosk daemon's node_id at the host")
    p.add_argument("--reader", default="virtual-0")
    p.add_argument("--dispenser", default="virtual-blank", help="the kiosk's reader with blank cards (补卡)")
    p.add_argument("--operator", default="counter-01")
    p.add_argument(
        "--declare",
        action="append",
        default=[],
        metavar="OPERATOR=FEN",
        help="a cashier's declared cash for the settlement (repeatable)",
    )
    args = p.parse_args(argv)
    with grpc.insecure_channel(args.host) as hch, grpc.insecure_channel(args.kiosk) as kch:
        host, kiosk = hpb_grpc.HostServiceStub(hch), pb_grpc.HealthCardServiceStub(kch)
        card = kiosk.GetBalance(pb.GetBalanceRequest(reader=args.reader))
        number = card.card_number
        # the holder's data for 补卡 when the host has none (a card not issued through a daemon's IssueCard, as the
        # demo card): the counter takes it from the holder's ID document; the demo reads it from the card now
        on_card = kiosk.ReadCard(pb.ReadCardRequest(reader=args.reader, sections=[cd.CARD_SECTION_HOLDER])).card.holder

        step(1, "上传", "the kiosk's transactions reach the host (store-and-forward, TACs checked)")
        visit = {213: "北京协和医院", 215: _dt.datetime.now().strftime("%Y%m%d%H%M%S"), 217: "心内科门诊"}
        kiosk.AddRecord(
            pb.AddRecordRequest(
                reader=args.reader,
                kind=cd.VISIT_KIND_OUTPATIENT,
                items=visit,
                operator_id="dr-li",
                request_id=f"V-{uuid.uuid4().hex[:12]}",
            )
        )
        print(
            "    a doctor's out-patient visit record written on the card through the kiosk (AddRecord): the host"
            " gets a copy"
        )

        def caught_up() -> bool:
            try:
                account = host.GetAccount(hpb.GetAccountRequest(card_number=number, page_size=1))
            except grpc.RpcError:
                return False
            return bool(account.last_seen_balance_fen == card.balance_fen)

        wait_until("the host to have the kiosk's uploads", caught_up)
        account = host.GetAccount(hpb.GetAccountRequest(card_number=number, page_size=1))
        print(
            f"    card {number}: shadow balance {account.shadow_balance_fen} fen = balance on the card "
            f"{card.balance_fen} fen; TAC failures {account.tac_failures}; counter gaps {len(account.gaps)}"
        )

        step(2, "退费", "refund the kiosk's last fee")
        listing = kiosk.ListTransactions(pb.ListTransactionsRequest(card_number=number, page_size=20))
        fee = next(t for t in listing.transactions if t.kind == pb.TRANSACTION_KIND_DEBIT
                   and t.state == pb.TRANSACTION_STATE_CONFIRMED)  # fmt: skip
        refund = host.RefundDebit(hpb.RefundDebitRequest(
            node_id=args.node, transaction_id=fee.transaction_id, amount_fen=fee.amount_fen,
            operator_id=args.operator, reason="appointment cancelled", request_id="RF-" + fee.transaction_id[:24],
        ))  # fmt: skip
        print(
            f"    credit {refund.credit.amount_fen} fen for debit {fee.transaction_id} "
            f"(still refundable: {refund.refundable_fen} fen)"
        )
        loaded = kiosk.Load(
            pb.LoadRequest(
                reader=args.reader,
                amount_fen=fee.amount_fen,
                request_id="RL-" + uuid.uuid4().hex[:12],
                operator_id=args.operator,
            )
        )
        print(f"    the card receives it as a load authorised by the host: balance {loaded.balance_fen} fen")

        def load_uploaded() -> bool:  # 补卡 moves the shadow balance: it must have the load (replacement_wait_s)
            account = host.GetAccount(hpb.GetAccountRequest(card_number=number, page_size=1))
            return bool(account.shadow_balance_fen == loaded.balance_fen)

        wait_until("the host to have the refund's load", load_uploaded)

        step(3, "挂失", "the holder reports the card lost at the counter")
        lost = host.ReportLost(hpb.ReportLostRequest(card_number=number, operator_id=args.operator,
                                                     reason="holder phoned, ID checked"))  # fmt: skip
        print(f"    {number}: {hpb.CardStatus.Name(lost.card.status)}, blacklist version {lost.blacklist_version}")

        step(4, "拒付", "a payment with the lost card at the kiosk is refused")
        time.sleep(1.0)  # the kiosk's daemon learns the list through its stream (well under a second)
        refused = debit_refusal(kiosk, args.reader)
        if refused != "CARD_LISTED":
            print("    the kiosk did not refuse the lost card", file=sys.stderr)
            return 1

        step(5, "补卡", "a new card for the same holder: a new chip, the holder's data, the balance moved")
        if holder_kept(host, number):
            holder = host.GetHolderData(hpb.GetHolderDataRequest(card_number=number)).holder
            print("    the holder's data: from the host (GetHolderData: kept when a daemon issued the card)")
        else:
            holder = on_card
            print(
                "    the holder's data: the host has none (the demo card was not issued through a daemon);"
                " taken from the holder's ID document (here: read from the card earlier)"
            )
        new_card = replace_card(host, kiosk, args, number, holder)
        print(
            f"    old card {number}/{new_card.old_factor}: REPLACED (listed for good);"
            f" new card {number}/{new_card.new_factor}: ISSUED"
        )
        wait_until("the host to keep the holder's data", lambda: holder_kept(host, number))
        kept = host.GetHolderData(hpb.GetHolderDataRequest(card_number=number)).holder
        print(
            f"    the kiosk's IssueCard registered the new card with the holder's data; the card office reads it"
            f" back (GetHolderData, issuer role only): {kept.name}"
        )
        print(
            f"    the holder's data copied: {new_card.holder_name}; {new_card.visits} visit record(s) copied from the"
            f" host (only those whose signature the host checked VALID against its [trusted_signers];"
            f" {new_card.skipped} skipped), signed anew by this counter's SAM; the balance moved: TRANSFER credit"
            f" {new_card.credit_fen} fen = the old card's shadow balance, loaded onto the new card without cash:"
            f" balance {new_card.balance_fen} fen"
        )

        step(6, "新卡", "the new card pays at the kiosk; the old card stays refused")
        order = "N-" + uuid.uuid4().hex[:12]
        paid = kiosk.Debit(
            pb.DebitRequest(reader=args.dispenser, amount_fen=100, request_id=order, order_id=order,
                            merchant_id="OUTPATIENT-REG", operator_id="kiosk-01")  # as kiosk_client.py
        )  # fmt: skip
        print(f"    new card: paid 100 fen, balance {paid.balance_fen} fen")
        print(f"    old card: refused [{debit_refusal(kiosk, args.reader)}]")

        def new_card_uploaded() -> bool:
            account = host.GetAccount(hpb.GetAccountRequest(card_number=number, page_size=1))
            return bool(account.shadow_balance_fen == paid.balance_fen)

        wait_until("the host to have the new card's uploads", new_card_uploaded)
        old_account = host.GetAccount(hpb.GetAccountRequest(card_number=number, purse_factor=new_card.old_factor))
        print(
            f"    at the host: old card's shadow balance {old_account.shadow_balance_fen} fen, new card's"
            f" {paid.balance_fen} fen = its balance"
        )

        step(7, "注销", "the holder leaves: the new card's balance paid out by UNLOAD (圈提), the card cancelled")
        unloaded = kiosk.Unload(pb.UnloadRequest(
            reader=args.dispenser, amount_fen=paid.balance_fen, request_id="U-" + uuid.uuid4().hex[:12],
            operator_id=args.operator,
        ))  # fmt: skip
        print(f"    UNLOAD {paid.balance_fen} fen paid out in cash: balance on the card {unloaded.balance_fen} fen")
        wait_until("the host to have the unload", lambda: host.GetAccount(hpb.GetAccountRequest(
            card_number=number, purse_factor=new_card.new_factor, page_size=1)).shadow_balance_fen == 0)  # fmt: skip
        cancelled = host.CancelCard(hpb.CancelCardRequest(
            card_number=number, purse_factor=new_card.new_factor, operator_id=args.operator,
            reason="注销, holder's ID checked", unload_node_id=args.node,
            unload_transaction_id=unloaded.transaction_id,
        ))  # fmt: skip
        status = hpb.CardStatus.Name(cancelled.card.status)
        print(f"    new card: {status}, paid out {cancelled.payout_fen} fen by unload")

        step(8, "日结", "the day's settlement (CSV), the kiosk operator and the counter declaring their tills")
        day = _dt.date.today().isoformat()
        declared = [hpb.DeclaredCash(operator_id=op, amount_fen=int(fen))
                    for op, _, fen in (d.partition("=") for d in args.declare)]  # fmt: skip
        declared.append(hpb.DeclaredCash(operator_id=args.operator, amount_fen=-cancelled.payout_fen))  # paid out
        settlement = host.GetSettlement(hpb.GetSettlementRequest(business_date=day, declared=declared))
        print(settlement.csv, end="")
        return 0


if __name__ == "__main__":
    sys.exit(main())
