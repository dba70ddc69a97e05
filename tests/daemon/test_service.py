"""Every RPC over real gRPC on loopback, including bad requests and the error metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.errors import DETAILS_KEY, REASON_KEY
from daemon.server import Daemon
from daemon.validation import check_text


def _error(call: object) -> tuple[grpc.StatusCode, str, errors_pb2.ErrorDetails]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    err: Any = info.value
    trailers: dict[str, Any] = {key: value for key, value in err.trailing_metadata() or ()}
    details = errors_pb2.ErrorDetails.FromString(trailers[DETAILS_KEY])
    assert trailers[REASON_KEY] == errors_pb2.ErrorReason.Name(details.reason).removeprefix("ERROR_REASON_")
    return err.code(), trailers[REASON_KEY], details


def test_health_is_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service="healthcard.v1.HealthCardService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_list_readers(stub: pb_grpc.HealthCardServiceStub) -> None:
    readers = stub.ListReaders(pb.ListReadersRequest()).readers
    cards = [r for r in readers if r.role == pb.READER_ROLE_CARD]
    assert [r.name for r in cards] == ["virtual-0", "virtual-1", "virtual-blank"]
    assert all(r.card_present and r.atr and r.state == pb.READER_STATE_READY for r in cards)
    assert {r.name for r in readers if r.role == pb.READER_ROLE_SAM} == {
        "virtual-0-sam", "virtual-1-sam", "virtual-blank-sam",
    }  # fmt: skip


def test_read_card_typed_sections(stub: pb_grpc.HealthCardServiceStub) -> None:
    reply = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER,
                                                                         cd.CARD_SECTION_ISSUER]))  # fmt: skip
    card = reply.card
    assert card.card_number and card.issuer.card_number == card.card_number
    assert card.holder.name
    assert len(card.holder.id_number) == 18
    assert not card.HasField("purse")


def test_read_all_includes_purse_and_photo(stub: pb_grpc.HealthCardServiceStub) -> None:
    card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-1")).card
    assert card.purse.balance_fen == stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen
    assert card.HasField("holder")


def test_debit_then_replay_does_not_touch_the_card(stub: pb_grpc.HealthCardServiceStub) -> None:
    before = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen
    first = stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=500, request_id="fee-1", order_id="O1"))
    assert first.balance_fen == before - 500 and len(first.tac) == 8 and len(first.terminal_id) == 12
    assert not first.replayed and first.transaction_id
    again = stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=500, request_id="fee-1", order_id="O1"))
    assert again.replayed and again.tac == first.tac and again.transaction_id == first.transaction_id
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen == before - 500


def test_load_raises_the_balance(stub: pb_grpc.HealthCardServiceStub) -> None:
    before = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen
    reply = stub.Load(pb.LoadRequest(reader="virtual-1", amount_fen=1234, request_id="load-1"))
    assert reply.balance_fen == before + 1234 and reply.tac
    assert stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")).balance_fen == before + 1234


def test_insufficient_balance_maps_to_reason_and_is_voided(stub: pb_grpc.HealthCardServiceStub) -> None:
    balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0")).balance_fen
    code, reason, details = _error(
        lambda: stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=balance + 1, request_id="too-much"))
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    assert details.status_word == "9401" and details.message_zh
    listed = stub.ListTransactions(pb.ListTransactionsRequest(state=pb.TRANSACTION_STATE_VOIDED)).transactions
    assert [t.request_id for t in listed] == ["too-much"]
    # the repeat returns the same failure without touching the card
    assert _error(lambda: stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=balance + 1,
                                                     request_id="too-much")))[1] == "INSUFFICIENT_BALANCE"  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.DebitRequest(reader="virtual-0", amount_fen=0, request_id="a"), "amount_fen"),
        (pb.DebitRequest(reader="virtual-0", amount_fen=-5, request_id="a"), "amount_fen"),
        (pb.DebitRequest(reader="virtual-0", amount_fen=5), "request_id"),
        (pb.DebitRequest(reader="virtual-0", amount_fen=5, request_id="x" * 65), "request_id"),
        (pb.DebitRequest(reader="", amount_fen=5, request_id="a"), "reader"),
        (pb.DebitRequest(reader="nope", amount_fen=5, request_id="a"), "reader"),
        (pb.DebitRequest(reader="virtual-0", amount_fen=5, request_id="a", order_id="o" * 65), "order_id"),
        (pb.DebitRequest(reader="virtual-0", amount_fen=2**40, request_id="a"), "amount_fen"),
    ],
)
def test_bad_debit_requests_are_invalid_argument(
    stub: pb_grpc.HealthCardServiceStub, request_: pb.DebitRequest, field: str
) -> None:
    code, _, details = _error(lambda: stub.Debit(request_))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.field == field and field in details.message


def test_bad_load_and_read_requests(stub: pb_grpc.HealthCardServiceStub) -> None:
    assert _error(lambda: stub.Load(pb.LoadRequest(reader="virtual-0", amount_fen=0, request_id="l")))[2].field == (
        "amount_fen"
    )
    assert _error(lambda: stub.ReadCard(pb.ReadCardRequest(reader="ghost")))[1] == "UNKNOWN_READER"
    assert _error(lambda: stub.GetBalance(pb.GetBalanceRequest(reader="")))[2].field == "reader"
    assert _error(lambda: stub.ListTransactions(pb.ListTransactionsRequest(page_size=-1)))[2].field == "page_size"


def test_request_id_reused_for_another_amount_is_refused(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.Debit(pb.DebitRequest(reader="virtual-1", amount_fen=10, request_id="k"))
    code, reason, _ = _error(lambda: stub.Debit(pb.DebitRequest(reader="virtual-1", amount_fen=11, request_id="k")))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")


def test_card_removed_and_no_card(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    backend = daemon.readers.worker("virtual-1").backend
    backend.remove_card()  # type: ignore[attr-defined]
    try:
        code, reason, _ = _error(lambda: stub.GetBalance(pb.GetBalanceRequest(reader="virtual-1")))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD")
    finally:
        backend.insert_card()  # type: ignore[attr-defined]


def test_list_transactions_and_reconciliation(stub: pb_grpc.HealthCardServiceStub) -> None:
    for i in range(3):
        stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=100 + i, request_id=f"r{i}"))
    page = stub.ListTransactions(pb.ListTransactionsRequest(page_size=2))
    assert [t.request_id for t in page.transactions] == ["r2", "r1"] and page.next_page_token
    rest = stub.ListTransactions(pb.ListTransactionsRequest(page_size=2, page_token=page.next_page_token))
    assert [t.request_id for t in rest.transactions] == ["r0"] and not rest.next_page_token
    day = dt.datetime.now().astimezone().date().isoformat()
    report = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date=day))
    assert report.open_count == 0
    (group,) = report.groups
    assert (group.count, group.total_fen, group.kind) == (3, 303, pb.TRANSACTION_KIND_DEBIT)
    assert all(len(t.tac) == 8 for t in group.transactions)
    serials = [t.terminal_serial for t in group.transactions]
    assert serials == sorted(serials)
    assert (
        _error(lambda: stub.GetReconciliationReport(pb.GetReconciliationReportRequest(business_date="x")))[2].field
        == "business_date"
    )


def test_audit_trail_records_personal_reads_and_money(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_HOLDER], operator_id="nurse-7"))
    stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="aud", operator_id="cashier-2"))
    events = stub.ListAuditEvents(pb.ListAuditEventsRequest()).events
    debit, read = events[0], events[1]
    assert (debit.operation, debit.outcome, debit.operator_id) == ("Debit", "OK", "cashier-2")
    assert (read.operation, read.operator_id) == ("ReadCard:holder", "nurse-7")
    assert read.card_number and read.client.startswith("peer:")
    assert all("name" not in e.operation for e in events)


def test_watch_cards_streams_and_resumes(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    stream: Any = stub.WatchCards(pb.WatchCardsRequest(reader="virtual-1"), timeout=10)
    first = next(stream)
    assert (first.reader, first.kind) == ("virtual-1", pb.CARD_EVENT_KIND_INSERTED)
    backend = daemon.readers.worker("virtual-1").backend
    backend.remove_card()  # type: ignore[attr-defined]
    removed = next(stream)
    assert removed.kind == pb.CARD_EVENT_KIND_REMOVED and removed.event_id > first.event_id
    backend.insert_card()  # type: ignore[attr-defined]
    inserted = next(stream)
    assert inserted.kind == pb.CARD_EVENT_KIND_INSERTED
    stream.cancel()
    resumed: Any = stub.WatchCards(pb.WatchCardsRequest(reader="virtual-1", after_event_id=first.event_id), timeout=10)
    assert [next(resumed).event_id, next(resumed).event_id] == [removed.event_id, inserted.event_id]
    resumed.cancel()


def test_write_card_and_add_record(stub: pb_grpc.HealthCardServiceStub) -> None:
    data = cd.CardData(addresses=cd.Addresses(category1="01", address1="北京市东城区1号"))
    reply = stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=data, sections=[cd.CARD_SECTION_ADDRESSES]))
    assert list(reply.sections) == [cd.CARD_SECTION_ADDRESSES]
    read = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_ADDRESSES])).card
    assert read.addresses.address1 == "北京市东城区1号"
    assert _error(lambda: stub.WriteCard(pb.WriteCardRequest(reader="virtual-0")))[2].field == "sections"
    assert _error(lambda: stub.AddRecord(pb.AddRecordRequest(reader="virtual-0")))[2].field == "kind"
    assert _error(lambda: stub.IssueCard(pb.IssueCardRequest(reader="virtual-0")))[2].field == "card_number"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=70))
def test_check_text_refuses_exactly_control_characters_and_long_text(value: str) -> None:
    bad = len(value) > 64 or any(ord(c) < 0x20 for c in value)
    try:
        assert check_text(value, "order_id") == value
        assert not bad
    except DataError as exc:
        assert bad and exc.field == "order_id"


def test_control_characters_in_a_debit_are_invalid_argument(stub: pb_grpc.HealthCardServiceStub) -> None:
    code, _, details = _error(
        lambda: stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=5, request_id="c", order_id="a\x1fb"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.field == "order_id" and "control" in details.message
    assert stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=5, request_id="c", order_id="a\x7fb")).tac


def test_debit_and_load_responses_carry_the_journal_entry(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    for reply, request_id in (
        (stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=7, request_id="resp-d")), "resp-d"),
        (stub.Load(pb.LoadRequest(reader="virtual-0", amount_fen=9, request_id="resp-l")), "resp-l"),
    ):
        entry = daemon.journal.by_request_id(request_id)
        assert entry is not None and entry.transaction_time is not None
        expected = Timestamp()
        expected.FromDatetime(entry.transaction_time.astimezone(dt.UTC))
        assert reply.transaction_time == expected and reply.transaction_time.seconds > 0
        assert (reply.transaction_id, reply.card_number, reply.balance_fen, reply.card_counter, reply.terminal_id,
                reply.terminal_serial, reply.tac, reply.replayed) == (
            entry.transaction_id, entry.card_number, entry.balance_after_fen, entry.card_counter, entry.terminal_id,
            entry.terminal_serial or 0, entry.tac, False,
        )  # fmt: skip
