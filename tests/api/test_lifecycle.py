"""Application block/unblock and card block with SAM-made MACs; SAM PIN verify/change."""

from __future__ import annotations

import pytest

from apdu.errors import CardError, PinError
from healthcard.api import CardSession, open_virtual_session
from healthcard.cos.card import VirtualCard


def test_block_and_unblock_the_purse_application(session: CardSession) -> None:
    assert session.balance() == 10_000
    session.block_application()
    with pytest.raises(CardError):
        session.debit(100)
    session.unblock_application()
    assert session.debit(100).balance_fen == 9_900


def test_card_block_refuses_everything(card: VirtualCard) -> None:
    with open_virtual_session(card=card) as s:
        s.balance()
        s.block_card()
        with pytest.raises(CardError):
            s.balance()
    with open_virtual_session(card=card) as s, pytest.raises(CardError):
        s.read({})  # nothing read
        s.balance()


def test_sam_pin_verify_and_change(session: CardSession) -> None:
    with pytest.raises(PinError) as info:
        session.verify_sam_pin("000000")
    assert info.value.tries_left == 2
    session.verify_sam_pin("123456")
    session.change_sam_pin("123456", "654321")
    session.verify_sam_pin("654321")
    assert session.read({}).sections == ()
