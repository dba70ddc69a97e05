"""退费, 补卡 and 注销 at the host with real cards (both backends): refunds never exceed the debit, a replacement
moves exactly the lost card's shadow balance to the new card, cancellation pays it out, every fen accounted."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apdu.errors import DataError
from daemon.host.clearing import Clearing, Upload
from daemon.host.credits import Credits, RefundNotAllowedError
from daemon.host.db import LedgerDb
from daemon.host.errors import CardStatusConflictError
from daemon.host.keystore import DemoKeyStore
from daemon.host.loads import Loads
from daemon.host.registry import CardStatus, Registry
from daemon.host.settlement import settle
from healthcard.api import CardSession, open_virtual_session
from healthcard.person import load_person
from healthcard.virtual import new_demo_card

ROOT = Path(__file__).resolve().parents[2]
DAY = _dt.date.today().isoformat()


class Desk:
    """A counter: the host's modules over one ledger, and helpers that run real card transactions."""

    def __init__(self, ledger: LedgerDb, wait_s: float = 0.0) -> None:
        keys = DemoKeyStore.from_demo_keys()
        self.registry = Registry(ledger)
        self.clearing = Clearing(ledger, self.registry, keys)
        self.loads = Loads(ledger, self.registry, keys)
        self.credits = Credits(ledger, self.registry, wait_s)
        self.db = ledger
        self.n = 0

    def register(self, s: CardSession) -> str:
        self.registry.register(card_number=s.card_number, masked_id="1101**********0030", institution="H",
                               purse_factor=s.purse_factor().hex(), opening_balance_fen=s.balance(),
                               operator_id="issuer", client="t")  # fmt: skip
        return str(s.card_number)

    def _upload(self, kind: str, s: CardSession, amount: int, before: int, r: Any, operator: str) -> str:
        self.n += 1
        tid = f"t{self.n}"
        counter = r.card_counter if kind == "debit" else r.online_counter
        serial = r.terminal_serial if kind == "debit" else 0
        u = Upload(
            tid,
            kind,
            s.card_number,
            amount,
            before,
            r.balance_fen,
            counter,
            r.terminal_id,
            serial,
            r.tac,
            r.when.strftime("%Y%m%d%H%M%S"),
            r.when.astimezone(_dt.UTC).isoformat(),
            DAY,
            "M1",
            operator,
        )
        (result,) = self.clearing.record("desk", [u])
        assert result.tac_status == "VERIFIED"
        return tid

    def debit(self, s: CardSession, amount: int, operator: str = "c1") -> str:
        before = s.balance()
        return self._upload("debit", s, amount, before, s.debit(amount), operator)

    def load(self, s: CardSession, amount: int, operator: str = "c1") -> str:
        before = s.balance()
        kinds: list[str] = []

        def authorise(req: Any) -> bytes:
            granted = self.loads.authorise(
                node_id="desk", card_number=req.card_number, amount_fen=req.amount_fen,
                balance_before_fen=req.balance_before_fen, online_counter=req.online_counter,
                icc_random=req.icc_random.hex(), mac1=req.mac1.hex(), terminal_id=req.terminal_id.hex(),
                card_time=req.when.strftime("%Y%m%d%H%M%S"), algorithm=req.algorithm,
            )  # fmt: skip
            kinds.append(granted.credit_kind)
            return granted.mac2

        self._upload("load", s, amount, before, s.load(amount, authoriser=authorise), operator)
        return kinds[0]


def _new_card_session() -> CardSession:
    person = load_person(ROOT / "examples" / "persons" / "li-na.json")
    return open_virtual_session(card=new_demo_card(person, balance_fen=0))


def test_refunds_replacement_and_settlement(ledger: LedgerDb) -> None:
    desk = Desk(ledger)
    with open_virtual_session() as old, _new_card_session() as new:
        old_no, new_no = desk.register(old), desk.register(new)
        opening = old.balance()
        fee = desk.debit(old, 300)
        credit, left = desk.credits.refund(node_id="desk", transaction_id=fee, amount_fen=100, operator_id="c2",
                                           reason="test not done", request_id="rf-1", client="t")  # fmt: skip
        assert (credit.kind, credit.amount_fen, left) == ("REFUND", 100, 200)
        again, _ = desk.credits.refund(node_id="desk", transaction_id=fee, amount_fen=100, operator_id="c2",
                                       reason="test not done", request_id="rf-1", client="t")  # fmt: skip
        assert again == credit  # the same request once
        with pytest.raises(RefundNotAllowedError):  # never more than the debit
            desk.credits.refund(node_id="desk", transaction_id=fee, amount_fen=201, operator_id="c2", reason="r",
                                request_id="rf-2", client="t")  # fmt: skip
        with pytest.raises(RefundNotAllowedError):
            desk.credits.refund(node_id="desk", transaction_id="nope", amount_fen=1, operator_id="c2", reason="r",
                                request_id="rf-3", client="t")  # fmt: skip
        assert desk.load(old, 100) == "REFUND"  # the refund reaches the purse as a load of that amount
        assert desk.load(old, 500) == ""  # an ordinary cash top-up
        shadow = desk.registry.get(old_no).shadow_balance_fen
        assert shadow == old.balance() == opening - 300 + 100 + 500

        desk.registry.change_status(old_no, CardStatus.LOST, operator_id="c2", reason="lost", client="t")
        waiting = Credits(ledger, desk.registry, wait_s=3600)
        with pytest.raises(CardStatusConflictError, match="waiting"):
            waiting.replace(old_card_number=old_no, new_card_number=new_no, operator_id="c2", reason="r", client="t")
        replaced, transfer = desk.credits.replace(old_card_number=old_no, new_card_number=new_no, operator_id="c2",
                                                  reason="ID checked", client="t")  # fmt: skip
        assert replaced.status is CardStatus.REPLACED and replaced.replaced_by == new_no and replaced.status.listed
        assert transfer is not None and (transfer.kind, transfer.amount_fen) == ("TRANSFER", shadow)
        assert desk.load(new, shadow) == "TRANSFER"
        assert new.balance() == shadow == desk.registry.get(new_no).shadow_balance_fen  # exactly the balance moved
        assert desk.registry.get(old_no).shadow_balance_fen == 0

        day = settle(ledger, DAY, {"c1": 500})
        (till,) = [c for c in day.cash if c.operator_id == "c1"]
        assert (till.expected_fen, till.difference_fen) == (500, 0)  # the refund and the transfer took no cash


def test_cancellation_pays_out_the_shadow_balance(ledger: LedgerDb) -> None:
    desk = Desk(ledger)
    with open_virtual_session() as card:
        number = desk.register(card)
        desk.debit(card, 1234)
        balance = card.balance()
        with pytest.raises(CardStatusConflictError):  # report it lost first
            desk.credits.cancel(card_number=number, operator_id="c3", reason="left the city", client="t")
        desk.registry.change_status(number, CardStatus.LOST, operator_id="c3", reason="lost", client="t")
        cancelled, payout = desk.credits.cancel(card_number=number, operator_id="c3", reason="left", client="t")
        assert cancelled.status is CardStatus.CANCELLED and payout == balance
        assert [c.expected_fen for c in settle(ledger, _dt.datetime.now(_dt.UTC).date().isoformat()).cash
                if c.operator_id == "c3"] == [-balance]  # fmt: skip
        with pytest.raises(CardStatusConflictError):
            desk.credits.cancel(card_number=number, operator_id="c3", reason="again", client="t")


def test_bad_requests(ledger: LedgerDb) -> None:
    desk = Desk(ledger)
    call: Callable[..., Any] = desk.credits.refund
    with pytest.raises(DataError):
        call(node_id="d", transaction_id="t", amount_fen=0, operator_id="o", reason="r", request_id="x", client="c")
    with pytest.raises(DataError):
        call(node_id="d", transaction_id="t", amount_fen=1, operator_id="", reason="r", request_id="x", client="c")
