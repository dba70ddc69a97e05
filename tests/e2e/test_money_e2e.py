"""Issue #11 item 2 end to end through pcscd + vpcd: a card that loses power inside DEBIT FOR PURCHASE.

The virtual card on vpcd slot 0 tears at its commit (the purchase is in its commit journal, so it is applied when
the card powers up again) or before it (never applied); vpcd then shows the reader empty for a second and pcscd
powers the card on again (apdu/vpcd.py). The daemon reads the card through PC/SC (``[[readers]]`` in TOML). Its
answer must be the result or TRANSACTION_IN_DOUBT — never a plain failure for a charged card — and a retry with
the same request id must answer the final outcome, charging at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import load_config
from daemon.errors import REASON_KEY
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam
from tests.daemon.inprocess import daemon_stub, running_daemon
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc

CARD_READER, SAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[pb_grpc.HealthCardServiceStub]:
    path = tmp_path / "healthcardd.toml"
    path.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\npoll_interval_s = 0.1\nqueue_timeout_s = 30.0\n'
        '[sam]\npin = "123456"\n'
        f'[[readers]]\nname = "{CARD_READER}"\nsam_reader = "{SAM_READER}"\n',
        encoding="utf-8",
    )
    with running_daemon(load_config(path).validate(), grace=10) as daemon, daemon_stub(daemon) as client:
        yield client


def _until(call: Callable[[], Any], ok: Callable[[Any], bool], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = call()
            if ok(result):
                return result
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _reason(err: Any) -> str:
    return str(dict(err.trailing_metadata() or ()).get(REASON_KEY, ""))


def _tear_once_at(card: Any, point: str) -> None:
    def tear(name: str) -> bool:
        if name != point:
            return False
        card.tear = None
        return True

    card.tear = tear


def _debit_and_settle(stub: pb_grpc.HealthCardServiceStub, request: pb.DebitRequest) -> tuple[str, Any]:
    """The first answer's kind ("result", "in doubt" or a failure reason) and the final answer after retries."""
    try:
        return "result", stub.Debit(request, timeout=60)
    except grpc.RpcError as exc:
        err: Any = exc
        first = _reason(err)
        if first != "TRANSACTION_IN_DOUBT":
            return first, err
        assert err.code() == grpc.StatusCode.UNKNOWN
    for _ in range(150):  # the kiosk's loop: retry with the same request id until a final answer
        time.sleep(0.2)
        try:
            return "in doubt", stub.Debit(request, timeout=60)
        except grpc.RpcError as exc:
            err = exc
            if _reason(err) != "TRANSACTION_IN_DOUBT":
                return "in doubt", err
    raise AssertionError("still in doubt after 30 s with the card back in the reader")


def _balance(stub: pb_grpc.HealthCardServiceStub) -> int:
    return int(_until(lambda: stub.GetBalance(pb.GetBalanceRequest(reader=CARD_READER), timeout=60),
                      lambda _r: True, "the balance").balance_fen)  # fmt: skip


def test_card_torn_at_its_debit_commit_is_charged_once_and_never_answered_failed(
    vpcd: VpcdFixture, stub: pb_grpc.HealthCardServiceStub
) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(sam, slot=1), vpcd(card, slot=0):
        before = _balance(stub)
        _tear_once_at(card, "purchase:commit")
        request = pb.DebitRequest(reader=CARD_READER, amount_fen=200, request_id="e2e-torn-commit")
        first, final = _debit_and_settle(stub, request)  # was ABORTED CARD_REMOVED / UNAVAILABLE
        assert first in ("result", "in doubt"), f"a charged card was answered {first}"
        assert isinstance(final, pb.DebitResponse) and len(final.tac) == 8
        assert final.balance_fen == before - 200 == _balance(stub)
        again = stub.Debit(request, timeout=60)
        assert again.replayed and again.tac == final.tac and _balance(stub) == before - 200


def test_card_torn_before_its_debit_commit_ends_as_a_failure_with_the_balance_unchanged(
    vpcd: VpcdFixture, stub: pb_grpc.HealthCardServiceStub
) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(sam, slot=1), vpcd(card, slot=0):
        before = _balance(stub)
        _tear_once_at(card, "purchase:mac1-verified")
        request = pb.DebitRequest(reader=CARD_READER, amount_fen=200, request_id="e2e-torn-before")
        first, final = _debit_and_settle(stub, request)
        assert first != "result" and isinstance(final, grpc.RpcError)  # a failure in the end ...
        assert _reason(final) not in ("TRANSACTION_IN_DOUBT", "")
        assert _balance(stub) == before  # ... and a failure means the card was not changed
