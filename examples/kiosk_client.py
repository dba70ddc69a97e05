"""A self-service registration kiosk talking to healthcardd (the README's main command runs it).

Lists the readers, waits for a card (WatchCards), shows the holder (name, ID number masked) and the balance, tops
the purse up when asked or when it is short (Load), debits the registration fee with an idempotency key (Debit),
retries the same request as a kiosk that lost the answer would (the daemon answers from its journal without touching
the card), prints a receipt (balance, terminal id, terminal serial, TAC) and the card's journal entries.

A payment whose outcome is unknown — the daemon answered TRANSACTION_IN_DOUBT (the card may have been charged),
or no answer came at all (deadline, connection lost) — is never shown as failed: the kiosk shows 处理中/待确认,
asks for the same card and retries with the same request id until the daemon gives the final answer; if it
still has none, it says "do not pay again" and exits with 3 (docs/daemon.md, "Errors").

    python examples/kiosk_client.py [--target 127.0.0.1:50051] [--reader virtual-0] [--fee 500] [--topup 0]
                                    [--order ID] [--timeout 15] [--retries 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from apdu.redact import mask_id  # the project's one masking function (110105********0030)
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc

WIDTH = 44
REASON_KEY = "healthcard-error-reason"


class PaymentInDoubtError(Exception):
    """No final answer for a Debit/Load after every retry: the card may have been charged (do not pay again)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


def in_doubt(err: Any) -> bool:
    """True when a Debit/Load error does not say the card was left unchanged.

    The daemon puts a reason on every answer it gives; TRANSACTION_IN_DOUBT means the card may have executed it.
    An error without a reason did not come from the daemon's decision (deadline exceeded, connection lost), so
    the request may have run. Any other reason is a failure: the card was not changed.
    """
    reason = dict(err.trailing_metadata() or ()).get(REASON_KEY, "")
    return reason in ("TRANSACTION_IN_DOUBT", "")


def settle_payment(call: Callable[..., Any], request: Any, *, timeout: float, retries: int, wait: float = 1.0) -> Any:
    """``call(request)`` (Debit or Load) until a final answer: the reply, or the failure (``grpc.RpcError``).

    While the outcome is in doubt, retry with the same request (same request id): the daemon answers from its
    journal, or asks the card, and never charges twice. Raises :class:`PaymentInDoubtError` after ``retries``.
    """
    for attempt in range(retries + 1):
        try:
            return call(request, timeout=timeout)
        except grpc.RpcError as exc:
            if not in_doubt(exc):
                raise
            err: Any = exc
            print(f"    处理中/待确认 Pending: outcome not known yet ({err.code().name}); keep the same card in the "
                  f"reader — retrying request {request.request_id} ({attempt + 1}/{retries})")  # fmt: skip
            time.sleep(wait)
    raise PaymentInDoubtError(request.request_id)


def yuan(fen: int) -> str:
    """Integer fen as a yuan amount (string arithmetic, no floats)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def wait_for_card(stub: pb_grpc.HealthCardServiceStub, reader: str, timeout: float) -> None:
    """Return once a card is in ``reader`` (the stream starts with the current state)."""
    print(f"请插入健康卡 / Please insert your health card ({reader}) ...")
    stream: Any = stub.WatchCards(pb.WatchCardsRequest(reader=reader), timeout=timeout)
    for event in stream:
        if event.kind == pb.CARD_EVENT_KIND_INSERTED:
            stream.cancel()
            return


def step(number: int, chinese: str, english: str) -> None:
    """Print a numbered step of the kiosk flow."""
    print(f"\n[{number}] {chinese} / {english}")


def print_receipt(order: str, fee: int, reply: Any) -> None:
    """The receipt of a payment, with the card's transaction time in the kiosk's local time zone.

    A ``reply`` that is itself a replay (this order was paid before, e.g. ``--order`` given again) says so.
    """
    when = reply.transaction_time.ToDatetime(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        "挂号收据  REGISTRATION RECEIPT",
        f"Order        {order}",
        f"Card         {reply.card_number[:6]}…{reply.card_number[-4:]}",
        f"Paid         {yuan(fee)}",
        f"Balance      {yuan(reply.balance_fen)}",
        f"Terminal     {reply.terminal_id}",
        f"Serial       {reply.terminal_serial}",
        f"TAC          {reply.tac}",
        f"Time         {when}",
    ]
    print("+" + "-" * WIDTH + "+")
    for line in lines:
        pad = WIDTH - 1 - len(line) - sum(1 for c in line if ord(c) > 0x2E80)  # CJK characters are double width
        print("| " + line + " " * max(0, pad) + "|")
    print("+" + "-" * WIDTH + "+")
    if reply.replayed:
        print("(this order was paid before — receipt reprinted from the journal; the card was not charged again)")


def run(stub: pb_grpc.HealthCardServiceStub, args: argparse.Namespace, order: str) -> int:
    """The kiosk flow: readers, card, holder, balance, optional top-up, payment, retry, receipt, journal."""
    step(1, "连接设备服务", "Readers known to healthcardd")
    for reader in stub.ListReaders(pb.ListReadersRequest()).readers:
        state = "card present" if reader.card_present else "empty"
        print(f"    {reader.name:<20} {pb.ReaderRole.Name(reader.role):<18} {state}")

    step(2, "等待插卡", "Wait for a card")
    wait_for_card(stub, args.reader, timeout=60)
    print("    card inserted")

    step(3, "读取持卡人信息", "Read the holder (the read is written to the audit trail)")
    card = stub.ReadCard(
        pb.ReadCardRequest(reader=args.reader, sections=[cd.CARD_SECTION_HOLDER], operator_id=args.operator)
    ).card
    print(f"    持卡人 Holder: {card.holder.name}   身份证 ID: {mask_id(card.holder.id_number)}")

    step(4, "查询余额", "Purse balance")
    balance = stub.GetBalance(pb.GetBalanceRequest(reader=args.reader, operator_id=args.operator)).balance_fen
    print(f"    余额 Balance: {yuan(balance)}   挂号费 Fee: {yuan(args.fee)}")

    number = 5
    if args.topup > 0 or balance < args.fee:
        amount = max(args.topup, args.fee - balance)
        step(number, "自助充值", f"Top up {yuan(amount)} (cash accepted by the kiosk; load MAC2 from the SAM)")
        loaded = settle_payment(
            stub.Load,
            pb.LoadRequest(reader=args.reader, amount_fen=amount, request_id=order + "-LOAD", order_id=order,
                           merchant_id="KIOSK-TOPUP", operator_id=args.operator),
            timeout=args.timeout, retries=args.retries,
        )  # fmt: skip
        print(f"    充值后余额 Balance after top-up: {yuan(loaded.balance_fen)}   TAC {loaded.tac}")
        number += 1

    step(number, "支付挂号费", f"Pay the registration fee (request id {order})")
    debit = pb.DebitRequest(
        reader=args.reader,
        amount_fen=args.fee,
        request_id=order,
        order_id=order,
        merchant_id="OUTPATIENT-REG",
        operator_id=args.operator,
    )
    reply = settle_payment(stub.Debit, debit, timeout=args.timeout, retries=args.retries)
    print(f"    扣款成功 Debited {yuan(args.fee)}; balance {yuan(reply.balance_fen)}; TAC {reply.tac}")

    step(number + 1, "网络重试", "The kiosk lost the answer and retries with the same request id")
    again = settle_payment(stub.Debit, debit, timeout=args.timeout, retries=args.retries)
    status = "replayed from the journal, card not touched" if again.replayed else "DEBITED AGAIN (bug!)"
    print(f"    {status}; balance still {yuan(again.balance_fen)}")

    step(number + 2, "打印收据", "Receipt")
    print_receipt(order, args.fee, reply)  # the payment's own answer (the retry above only confirmed it)

    step(number + 3, "交易流水", "This card's journal (what the settlement host receives)")
    try:
        entries = stub.ListTransactions(pb.ListTransactionsRequest(card_number=reply.card_number, page_size=5))
    except grpc.RpcError as exc:  # the payment is done: a failed listing must not read as a failed payment
        print(f"    (journal not available: {exc.code().name})")
        entries = pb.ListTransactionsResponse()
    for entry in entries.transactions:
        kind = pb.TransactionKind.Name(entry.kind).removeprefix("TRANSACTION_KIND_")
        state = pb.TransactionState.Name(entry.state).removeprefix("TRANSACTION_STATE_")
        print(f"    {entry.request_id:<22} {kind:<6} {yuan(entry.amount_fen):>9} {state:<10} TAC {entry.tac}")
    return 0 if again.replayed and again.tac == reply.tac else 1


def main(argv: list[str] | None = None) -> int:
    """Run one registration payment."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--reader", default="virtual-0")
    p.add_argument("--fee", type=int, default=500, help="registration fee in fen (default 500 = ¥5.00)")
    p.add_argument("--topup", type=int, default=0, help="top up this many fen first (default: only if short)")
    p.add_argument("--order", default="", help="order id (also the idempotency key); default: a new one")
    p.add_argument("--operator", default="kiosk-01")
    p.add_argument("--timeout", type=float, default=15.0, help="deadline of each Debit/Load call in seconds")
    p.add_argument("--retries", type=int, default=10, help="retries of a payment whose outcome is in doubt")
    args = p.parse_args(argv)
    order = args.order or "REG-" + uuid.uuid4().hex[:12].upper()
    with grpc.insecure_channel(args.target) as channel:
        try:
            return run(pb_grpc.HealthCardServiceStub(channel), args, order)
        except PaymentInDoubtError as exc:
            print(f"待确认 Payment not confirmed yet: the card may have been charged. Do NOT pay again; staff: "
                  f"retry request {exc.request_id} with the same card, or look it up with ListTransactions.",
                  file=sys.stderr)  # fmt: skip
            return 3
        except grpc.RpcError as exc:  # a final failure: the card was not changed
            err: Any = exc
            reason = dict(err.trailing_metadata() or ()).get(REASON_KEY, "")
            print(f"失败 Failed: {err.details()} [{reason or err.code().name}]", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
