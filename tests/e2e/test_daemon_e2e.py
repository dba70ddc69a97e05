"""healthcardd end to end through pcscd + vpcd: PC/SC readers configured in TOML, gRPC on loopback.

The virtual card is served on vpcd slot 0 ("Virtual PCD 00 00") and the virtual SAM on slot 1 ("Virtual PCD 00
01") with the ``vpcd`` fixture (tests/e2e/conftest.py); the daemon runs in this process with
``[[readers]] name = "Virtual PCD 00 00", sam_reader = "Virtual PCD 00 01"``. ReadCard and Debit work; pulling
the card (stopping its vpcd server) gives NO_CARD for the next request (also when it is repeated later); the card
put back works again, with its purse intact. A pulled SAM shows as absent in ListReaders and fails a debit with
SAM_ERROR (layer ``sam``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import load_config
from daemon.errors import DETAILS_KEY, REASON_KEY
from healthcard.virtual import demo_person, new_demo_card
from sam.virtual import VirtualSam
from tests.daemon.inprocess import daemon_stub, running_daemon
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc

CARD_READER, SAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"


@pytest.fixture
def daemon_config(tmp_path: Path) -> Path:
    path = tmp_path / "healthcardd.toml"
    path.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\npoll_interval_s = 0.1\nqueue_timeout_s = 30.0\n'
        '[sam]\npin = "123456"\n'
        f'[[readers]]\nname = "{CARD_READER}"\nsam_reader = "{SAM_READER}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def stub(daemon_config: Path) -> Iterator[pb_grpc.HealthCardServiceStub]:
    with running_daemon(load_config(daemon_config).validate(), grace=10) as daemon, daemon_stub(daemon) as client:
        yield client


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _card_present(stub: pb_grpc.HealthCardServiceStub) -> bool:
    readers = {r.name: r for r in stub.ListReaders(pb.ListReadersRequest()).readers}
    return CARD_READER in readers and readers[CARD_READER].card_present


def _reason(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, errors_pb2.ErrorDetails]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    trailers = dict(err.trailing_metadata() or ())
    return err.code(), trailers[REASON_KEY], errors_pb2.ErrorDetails.FromString(trailers[DETAILS_KEY])


def test_daemon_reads_and_debits_through_pcscd_and_survives_removal(
    vpcd: VpcdFixture, stub: pb_grpc.HealthCardServiceStub
) -> None:
    card, sam = new_demo_card(), VirtualSam()
    holder = demo_person().holder
    with vpcd(sam, slot=1):
        with vpcd(card, slot=0):
            _wait(lambda: _card_present(stub), "the daemon to see the card")
            readers = {r.name: r for r in stub.ListReaders(pb.ListReadersRequest()).readers}
            assert readers[CARD_READER].sam_reader == SAM_READER and readers[CARD_READER].atr == card.atr
            assert readers[SAM_READER].role == pb.READER_ROLE_SAM

            read = stub.ReadCard(pb.ReadCardRequest(reader=CARD_READER, sections=[cd.CARD_SECTION_HOLDER]), timeout=60)
            assert (read.card.holder.name, read.card.holder.id_number) == (holder.name, holder.id_number)
            before = stub.GetBalance(pb.GetBalanceRequest(reader=CARD_READER), timeout=60).balance_fen
            paid = stub.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=123, request_id="e2e-1"), timeout=60)
            assert paid.balance_fen == before - 123 and len(paid.tac) == 8 and not paid.replayed
            assert paid.card_number == holder.id_number and paid.terminal_serial > 0

            vpcd.handles[0].stop()  # pull the card
            _wait(lambda: not _card_present(stub), "the daemon to see the removal")
            code, reason, details = _reason(  # a request on an empty reader: NO_CARD, not CARD_REMOVED
                lambda: stub.ReadCard(pb.ReadCardRequest(reader=CARD_READER), timeout=60)
            )
            assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD")
            assert details.reason == errors_pb2.ERROR_REASON_NO_CARD and details.layer == "reader"
            lost = pb.DebitRequest(reader=CARD_READER, amount_fen=5, request_id="e2e-empty")
            refused = _reason(lambda: stub.Debit(lost, timeout=60))
            assert refused[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD")

        with vpcd(card, slot=0):  # the same card back in the reader
            _wait(lambda: _card_present(stub), "the daemon to see the card again")
            again = stub.ReadCard(pb.ReadCardRequest(reader=CARD_READER, sections=[cd.CARD_SECTION_PURSE]), timeout=60)
            assert again.card.purse.balance_fen == before - 123
            replay = stub.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=123, request_id="e2e-1"), timeout=60)
            assert replay.replayed and replay.tac == paid.tac and replay.balance_fen == before - 123
            second = stub.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=7, request_id="e2e-2"), timeout=60)
            assert second.balance_fen == before - 130 and second.terminal_serial == paid.terminal_serial + 1
            again_refused = _reason(lambda: stub.Debit(lost, timeout=60))  # the stored failure, same code
            assert again_refused[:2] == refused[:2] and again_refused[2].message == refused[2].message

    entries = stub.ListTransactions(pb.ListTransactionsRequest()).transactions
    assert [(e.request_id, e.state) for e in entries] == [
        ("e2e-2", pb.TRANSACTION_STATE_CONFIRMED), ("e2e-empty", pb.TRANSACTION_STATE_VOIDED),
        ("e2e-1", pb.TRANSACTION_STATE_CONFIRMED),
    ]  # fmt: skip


def _sam_entry(stub: pb_grpc.HealthCardServiceStub) -> Any:
    return {r.name: r for r in stub.ListReaders(pb.ListReadersRequest()).readers}[SAM_READER]


def test_a_pulled_sam_is_shown_absent_and_answered_as_a_sam_error(
    vpcd: VpcdFixture, stub: pb_grpc.HealthCardServiceStub
) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(card, slot=0):
        with vpcd(sam, slot=1):
            _wait(lambda: _card_present(stub) and _sam_entry(stub).card_present, "the daemon to see card and SAM")
            assert _sam_entry(stub).state == pb.READER_STATE_READY
            before = stub.GetBalance(pb.GetBalanceRequest(reader=CARD_READER), timeout=60).balance_fen
        _wait(lambda: not _sam_entry(stub).card_present, "ListReaders to show the SAM gone")
        assert _sam_entry(stub).state == pb.READER_STATE_READY  # the reader is there, the SAM is not
        code, reason, details = _reason(
            lambda: stub.Debit(pb.DebitRequest(reader=CARD_READER, amount_fen=9, request_id="no-sam"), timeout=60)
        )
        assert (code, reason, details.layer) == (grpc.StatusCode.FAILED_PRECONDITION, "SAM_ERROR", "sam")
        assert SAM_READER in details.message and "no SAM" in details.message
        with vpcd(sam, slot=1):  # the SAM back: the card was never touched
            _wait(lambda: _sam_entry(stub).card_present, "ListReaders to show the SAM again")
            assert stub.GetBalance(pb.GetBalanceRequest(reader=CARD_READER), timeout=60).balance_fen == before
