"""A self-service registration kiosk talking to healthcardd (the README's main command runs it).

Waits for a card (WatchCards), shows the holder (name, ID number masked), debits the registration fee with an
idempotency key, and prints a receipt (balance, terminal id, terminal serial, TAC). A repeated run with the same
``--order`` is answered from the daemon's journal without debiting again.

    python examples/kiosk_client.py [--target 127.0.0.1:50051] [--reader virtual-0] [--fee 500] [--order ID]
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

import grpc

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc

WIDTH = 44


def yuan(fen: int) -> str:
    """Integer fen as a yuan amount (string arithmetic, no floats)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def mask_id(id_number: str) -> str:
    """Keep the first 6 and the last 4 characters of an ID number."""
    return id_number[:6] + "*" * max(0, len(id_number) - 10) + id_number[-4:] if len(id_number) > 10 else "****"


def wait_for_card(stub: pb_grpc.HealthCardServiceStub, reader: str, timeout: float) -> None:
    """Return once a card is in ``reader`` (the stream starts with the current state)."""
    print(f"请插入健康卡 / Please insert your health card ({reader}) ...")
    stream: Any = stub.WatchCards(pb.WatchCardsRequest(reader=reader), timeout=timeout)
    for event in stream:
        if event.kind == pb.CARD_EVENT_KIND_INSERTED:
            stream.cancel()
            return


def main(argv: list[str] | None = None) -> int:
    """Run one registration payment."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--reader", default="virtual-0")
    p.add_argument("--fee", type=int, default=500, help="registration fee in fen (default 500 = ¥5.00)")
    p.add_argument("--order", default="", help="order id (also the idempotency key); default: a new one")
    p.add_argument("--operator", default="kiosk-01")
    args = p.parse_args(argv)
    order = args.order or "REG-" + uuid.uuid4().hex[:12].upper()
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.HealthCardServiceStub(channel)
        try:
            wait_for_card(stub, args.reader, timeout=60)
            card = stub.ReadCard(
                pb.ReadCardRequest(reader=args.reader, sections=[cd.CARD_SECTION_HOLDER], operator_id=args.operator)
            ).card
            print(f"持卡人 Holder: {card.holder.name}   身份证 ID: {mask_id(card.holder.id_number)}")
            print(f"挂号费 Registration fee: {yuan(args.fee)} — paying from the card purse ...")
            reply = stub.Debit(
                pb.DebitRequest(reader=args.reader, amount_fen=args.fee, request_id=order, order_id=order,
                                merchant_id="OUTPATIENT-REG", operator_id=args.operator)
            )
        except grpc.RpcError as exc:
            err: Any = exc
            reason = dict(err.trailing_metadata() or ()).get("healthcard-error-reason", "")
            print(f"支付失败 Payment failed: {err.details()} [{reason or err.code().name}]", file=sys.stderr)
            return 1
    when = reply.transaction_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "挂号收据  REGISTRATION RECEIPT",
        f"Order        {order}",
        f"Card         {reply.card_number[:6]}…{reply.card_number[-4:]}",
        f"Paid         {yuan(args.fee)}",
        f"Balance      {yuan(reply.balance_fen)}",
        f"Terminal     {reply.terminal_id}",
        f"Serial       {reply.terminal_serial}",
        f"TAC          {reply.tac}",
        f"Time         {when}",
    ]
    if reply.replayed:
        lines.append("(already paid — receipt reprinted from the journal)")
    print("+" + "-" * WIDTH + "+")
    for line in lines:
        pad = WIDTH - 1 - len(line) - sum(1 for c in line if ord(c) > 0x2E80)  # CJK characters are double width
        print("| " + line + " " * max(0, pad) + "|")
    print("+" + "-" * WIDTH + "+")
    return 0


if __name__ == "__main__":
    sys.exit(main())
