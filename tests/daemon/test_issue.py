"""IssueCard over gRPC on the simulated card dispenser ``virtual-blank`` (and refusals elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config
from daemon.errors import DETAILS_KEY
from daemon.server import Daemon

LI = cd.Holder(name="李雷", gender="1", ethnicity="01", birth_date="1990-02-03", id_number="110101199002030018")
HAN = cd.Holder(name="韩梅梅", gender="2", ethnicity="01", birth_date="1991-04-05", id_number="110101199104050028")


def _details(exc: Any) -> errors_pb2.ErrorDetails:
    trailers = dict(exc.trailing_metadata() or ())
    return errors_pb2.ErrorDetails.FromString(trailers[DETAILS_KEY])


def _issue(stub: pb_grpc.HealthCardServiceStub, holder: cd.Holder) -> pb.IssueCardResponse:
    return stub.IssueCard(
        pb.IssueCardRequest(reader="virtual-blank", holder=holder, card_number=holder.id_number, operator_id="op-7"),
        timeout=60,
    )


def test_issue_on_the_dispenser_then_read_and_use_the_card(stub: pb_grpc.HealthCardServiceStub) -> None:
    assert _issue(stub, LI).card_number == LI.id_number
    card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-blank")).card
    assert card.card_number == LI.id_number
    assert (card.holder.name, card.holder.gender, card.holder.id_number) == (LI.name, "1", LI.id_number)
    assert card.holder.birth_date == LI.birth_date
    assert card.issuer.card_number == LI.id_number
    balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-blank")).balance_fen
    loaded = stub.Load(pb.LoadRequest(reader="virtual-blank", amount_fen=500, request_id="issue-load"))
    assert loaded.balance_fen == balance + 500 and len(loaded.tac) == 8
    paid = stub.Debit(pb.DebitRequest(reader="virtual-blank", amount_fen=120, request_id="issue-debit"))
    assert paid.balance_fen == balance + 380 and paid.card_number == LI.id_number

    # the next IssueCard takes a new blank card from the hopper
    assert _issue(stub, HAN).card_number == HAN.id_number
    card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-blank", sections=[cd.CARD_SECTION_HOLDER])).card
    assert (card.card_number, card.holder.name) == (HAN.id_number, HAN.name)

    events = stub.ListAuditEvents(pb.ListAuditEventsRequest()).events
    issued = [(e.card_number, e.outcome, e.operator_id) for e in events if e.operation == "IssueCard"]
    assert issued == [(HAN.id_number, "OK", "op-7"), (LI.id_number, "OK", "op-7")]


def test_issue_refuses_an_issued_card(stub: pb_grpc.HealthCardServiceStub) -> None:
    request = pb.IssueCardRequest(reader="virtual-0", holder=LI, card_number=LI.id_number)
    with pytest.raises(grpc.RpcError) as info:
        stub.IssueCard(request, timeout=30)
    err: Any = info.value
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _details(err).reason == errors_pb2.ERROR_REASON_CARD_ERROR
    assert "already issued" in err.details()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.IssueCardRequest(reader="virtual-blank", holder=LI), "card_number"),
        (pb.IssueCardRequest(reader="virtual-blank", card_number=LI.id_number), "holder.name"),
        (pb.IssueCardRequest(reader="virtual-blank", holder=LI, card_number=HAN.id_number), "card_number"),
        (pb.IssueCardRequest(reader="virtual-blank", holder=cd.Holder(name="x" * 65), card_number="1"), "holder.name"),
        (pb.IssueCardRequest(reader="nowhere", holder=LI, card_number=LI.id_number), "reader"),
    ],
)
def test_issue_bad_requests(stub: pb_grpc.HealthCardServiceStub, request_: pb.IssueCardRequest, field: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.IssueCard(request_, timeout=10)
    err: Any = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _details(err).field == field


def test_issued_card_survives_a_restart(tmp_path: Path) -> None:
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path / "state", simulate=True, poll_interval_s=0.05).validate()
    for round_ in range(2):
        daemon = Daemon(config)
        daemon.start()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{daemon.port}") as ch:
                stub = pb_grpc.HealthCardServiceStub(ch)
                if round_ == 0:
                    _issue(stub, LI)
                    stub.Load(pb.LoadRequest(reader="virtual-blank", amount_fen=700, request_id="r-load"))
                card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-blank")).card
                assert (card.card_number, card.holder.name, card.purse.balance_fen) == (LI.id_number, LI.name, 700)
        finally:
            daemon.stop(grace=5)


def test_two_cards_issued_to_one_holder_are_two_chips_with_two_purse_serials(
    stub: pb_grpc.HealthCardServiceStub,
) -> None:
    """The dispenser takes a fresh chip per card (healthcard.issuance.new_chip_number): a replacement card for the
    same holder has the same KH but another purse serial (EF15), hence another purse factor and other keys."""
    serials = []
    for _ in range(2):
        assert _issue(stub, LI).card_number == LI.id_number
        purse = stub.ReadCard(pb.ReadCardRequest(reader="virtual-blank", sections=[cd.CARD_SECTION_PURSE])).card.purse
        serials.append(purse.application_serial)
    assert len(set(serials)) == 2 and all(len(s) == 20 for s in serials)
    assert serials[0][-16:] != serials[1][-16:]  # the purse factor: EF15 bytes 12..19
