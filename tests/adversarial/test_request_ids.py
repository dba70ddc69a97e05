"""Issue #11 item 3: IssueCard, WriteCard and AddRecord honour request_id, bound to the request and the card.

The attacks (a HIS or counter client that repeats a request, reuses a request id for the next patient, or for
another operation): a repeat answers the first response (``replayed``) and never issues a second card or writes
a second record; the same id with other content, another card or another kind of operation is refused with
REQUEST_ID_CONFLICT naming what differs, and nothing is written.

Harden2 item 1: a Debit/Load repeat is bound to the whole request — also merchant_id, order_id and operator_id —
so a kiosk client cannot reuse the request id of a paid order to get "paid" for another order that was never
charged; a card write's repeat is bound to its operator_id the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from apdu.errors import ReaderError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.database import Database, StorageFullError
from daemon.errors import DETAILS_KEY, REASON_KEY
from daemon.idempotency import RequestStore
from daemon.server import Daemon
from healthcard.person import load_person
from healthcard.virtual import new_demo_card

READER = "virtual-0"
ROOT = Path(__file__).resolve().parents[2]
ITEMS = {213: "北京协和医院", 215: "20261204093000", 217: "心内科门诊"}  # as examples/his_client.py
LI = cd.Holder(name="李雷", gender="1", ethnicity="01", birth_date="1990-02-03", id_number="110101199002030018")


def _conflict(call: Any) -> str:
    """The ``mismatch`` of a REQUEST_ID_CONFLICT (ALREADY_EXISTS) refusal."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    trailers = dict(err.trailing_metadata() or ())
    assert (err.code(), trailers[REASON_KEY]) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    return str(errors_pb2.ErrorDetails.FromString(trailers[DETAILS_KEY]).metadata["mismatch"])


def _backend(daemon: Daemon, reader: str = READER) -> Any:
    return daemon.readers.worker(reader).backend  # SimulatedReader


def _records(stub: pb_grpc.HealthCardServiceStub, items: dict[int, str] = ITEMS) -> list[int]:
    """Slots of the valid out-patient records of the card in virtual-0 holding ``items``."""
    card = stub.ReadCard(pb.ReadCardRequest(reader=READER, sections=[cd.CARD_SECTION_OUTPATIENT])).card
    return [r.slot for r in card.outpatient
            if r.valid and all(r.items.get(k) == v for k, v in items.items())]  # fmt: skip


def _add(request_id: str, items: dict[int, str] = ITEMS) -> pb.AddRecordRequest:
    return pb.AddRecordRequest(reader=READER, kind=cd.VISIT_KIND_OUTPATIENT, items=items, request_id=request_id,
                               operator_id="dr-li")  # fmt: skip


def _other_card_in(backend: Any) -> None:
    backend.remove_card()
    backend.card_transport.insert(new_demo_card(person=load_person(ROOT / "examples/persons/li-na.json")))
    backend._generation += 1  # what insert_card() does: the next job opens a session on the new card


def test_add_record_repeated_writes_one_record(stub: pb_grpc.HealthCardServiceStub) -> None:
    first = stub.AddRecord(_add("his-visit-1"))
    again = stub.AddRecord(_add("his-visit-1"))  # the HIS lost the answer and repeats
    assert not first.replayed and again.replayed
    assert (again.slot, again.card_number) == (first.slot, first.card_number)
    assert _records(stub) == [first.slot]  # was two records


def test_add_record_same_request_id_with_other_items_is_refused(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.AddRecord(_add("his-visit-1"))
    other = {**ITEMS, 217: "儿科门诊"}
    assert _conflict(lambda: stub.AddRecord(_add("his-visit-1", other))) == "content"
    assert _records(stub, other) == []


def test_add_record_same_request_id_with_another_card_is_refused_and_that_card_is_not_written(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub
) -> None:
    stub.AddRecord(_add("his-visit-1"))
    _other_card_in(_backend(daemon))
    assert _records(stub) == []
    assert _conflict(lambda: stub.AddRecord(_add("his-visit-1"))) == "card_number"  # was OK, first card's slot
    assert _records(stub) == []


def test_add_record_whose_answer_was_lost_is_not_written_twice_by_the_retry(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card wrote the record, the reader lost its answer: the retry finds the record instead of adding one."""
    card = _backend(daemon).card_transport.card
    original = card.execute
    lost: list[bytes] = []

    def execute(apdu: bytes) -> bytes:
        answer: bytes = original(apdu)
        if not lost and apdu[1] == 0xD2:  # WRITE RECORD 84 D2: the index flag that makes the record valid
            lost.append(apdu)
            raise ReaderError("the reader lost the card's answer", reader=READER)
        return answer

    monkeypatch.setattr(card, "execute", execute)
    with pytest.raises(grpc.RpcError):
        stub.AddRecord(_add("his-visit-1"))
    assert lost and len(_records(stub)) == 1  # the card has it
    again = stub.AddRecord(_add("his-visit-1"))
    assert _records(stub) == [again.slot]


def test_add_record_whose_response_cannot_be_stored_answers_the_slot_and_the_repeat_writes_nothing(
    daemon: Daemon, stub: pb_grpc.HealthCardServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_a: object, **_k: object) -> None:
        raise StorageFullError()

    monkeypatch.setattr(daemon.servicer._requests, "finish", full)
    first = stub.AddRecord(_add("his-visit-1"))  # the card was written: not a failure
    monkeypatch.undo()
    again = stub.AddRecord(_add("his-visit-1"))
    assert again.slot == first.slot and _records(stub) == [first.slot]


def test_write_card_repeated_never_writes_again(stub: pb_grpc.HealthCardServiceStub) -> None:
    def write(request_id: str, phone: str) -> pb.WriteCardResponse:
        return stub.WriteCard(pb.WriteCardRequest(
            reader=READER, card=cd.CardData(validity=cd.Validity(phone2=phone)), sections=[cd.CARD_SECTION_VALIDITY],
            request_id=request_id,
        ))  # fmt: skip

    def phone2() -> str:
        card = stub.ReadCard(pb.ReadCardRequest(reader=READER, sections=[cd.CARD_SECTION_VALIDITY])).card
        return str(card.validity.phone2)

    first = write("desk-1", "010-11112222")
    write("desk-2", "010-33334444")  # the holder corrects it at another desk
    again = write("desk-1", "010-11112222")  # a late repeat of the first request
    assert again.replayed and list(again.sections) == list(first.sections)
    assert phone2() == "010-33334444"  # was overwritten with the stale value
    assert _conflict(lambda: write("desk-1", "010-55556666")) == "content"
    assert phone2() == "010-33334444"


def test_issue_card_repeated_issues_one_card(daemon: Daemon, stub: pb_grpc.HealthCardServiceStub) -> None:
    request = pb.IssueCardRequest(reader="virtual-blank", holder=LI, card_number=LI.id_number, request_id="iss-1")
    first = stub.IssueCard(request, timeout=60)
    backend = _backend(daemon, "virtual-blank")
    card, apdus = backend.card_transport.card, backend.apdu_count
    again = stub.IssueCard(request, timeout=60)
    assert again.replayed and again.card_number == first.card_number == LI.id_number
    assert backend.card_transport.card is card and backend.apdu_count == apdus  # no second card from the hopper
    other = pb.IssueCardRequest(reader="virtual-blank", holder=cd.Holder(name="韩梅梅", id_number="110101199104050028"),
                                card_number="110101199104050028", request_id="iss-1")  # fmt: skip
    assert _conflict(lambda: stub.IssueCard(other, timeout=60)) == "content"
    assert backend.card_transport.card is card


def test_request_ids_are_one_namespace_across_money_and_writes(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.Debit(pb.DebitRequest(reader=READER, amount_fen=100, request_id="shared-1"))
    assert _conflict(lambda: stub.AddRecord(_add("shared-1"))) == "kind"
    assert _records(stub) == []
    stub.AddRecord(_add("shared-2"))
    balance = stub.GetBalance(pb.GetBalanceRequest(reader=READER)).balance_fen
    debit = pb.DebitRequest(reader=READER, amount_fen=100, request_id="shared-2")
    assert _conflict(lambda: stub.Debit(debit)) == "kind"
    assert stub.GetBalance(pb.GetBalanceRequest(reader=READER)).balance_fen == balance


def _balance(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(stub.GetBalance(pb.GetBalanceRequest(reader=READER)).balance_fen)


PAID = {"merchant_id": "pharmacy", "order_id": "order-1", "operator_id": "kiosk-7"}


@pytest.mark.parametrize("field", ["order_id", "merchant_id", "operator_id"])
@pytest.mark.parametrize("method", ["Debit", "Load"])
def test_a_paid_request_id_reused_for_another_order_is_refused_and_not_reported_paid(
    stub: pb_grpc.HealthCardServiceStub, method: str, field: str
) -> None:
    call = getattr(stub, method)
    cls = pb.DebitRequest if method == "Debit" else pb.LoadRequest
    first = call(cls(reader=READER, amount_fen=300, request_id="pay-1", **PAID))
    balance = _balance(stub)
    other = cls(reader=READER, amount_fen=300, request_id="pay-1", **{**PAID, field: "order-2"})
    assert _conflict(lambda: call(other)) == field  # was a "replayed" success for an order never charged
    assert _balance(stub) == balance
    (entry,) = [t for t in stub.ListTransactions(pb.ListTransactionsRequest()).transactions if t.request_id == "pay-1"]
    assert {name: getattr(entry, name) for name in PAID} == PAID
    again = call(cls(reader=READER, amount_fen=300, request_id="pay-1", **PAID))  # the true repeat still answers
    assert again.replayed and again.tac == first.tac


def test_add_record_same_request_id_from_another_operator_is_refused(stub: pb_grpc.HealthCardServiceStub) -> None:
    stub.AddRecord(_add("his-visit-1"))
    other = _add("his-visit-1")
    other.operator_id = "dr-wang"
    assert _conflict(lambda: stub.AddRecord(other)) == "operator_id"  # was the first write, replayed to dr-wang
    assert stub.AddRecord(_add("his-visit-1")).replayed


def test_without_request_id_every_call_writes(stub: pb_grpc.HealthCardServiceStub) -> None:
    first, second = stub.AddRecord(_add("")), stub.AddRecord(_add(""))
    assert second.slot != first.slot and not second.replayed and len(_records(stub)) == 2


def test_a_database_from_before_the_requests_table_gains_it_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "healthcardd.db"
    db = Database(path)
    with db.transaction() as conn:
        conn.execute("DROP TABLE requests")
    db.close()
    reopened = Database(path)
    store = RequestStore(reopened)
    assert store.begin(request_id="r", operation="AddRecord", reader=READER, fingerprint="f") is None
    store.finish("r", card_number="1", response=b"\x08\x01")
    stored = store.begin(request_id="r", operation="AddRecord", reader=READER, fingerprint="f")
    assert stored is not None and stored.done and stored.response == b"\x08\x01"
    reopened.close()
