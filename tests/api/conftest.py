"""Fixtures: a demo card image built once, fresh in-process virtual cards from it, sessions with the virtual SAM."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from healthcard.api import CardSession, open_virtual_session
from healthcard.cos.card import VirtualCard
from healthcard.image import dumps, loads
from healthcard.virtual import new_demo_card


@pytest.fixture(scope="session")
def demo_image() -> str:
    """The demo card (张伟, 100.00 yuan) as an image document, personalised once per test run."""
    return dumps(new_demo_card().state)


@pytest.fixture
def new_card(demo_image: str) -> Callable[[], VirtualCard]:
    """Factory of fresh copies of the demo card."""
    return lambda: VirtualCard(loads(demo_image))


@pytest.fixture
def card(new_card: Callable[[], VirtualCard]) -> VirtualCard:
    """A fresh demo card."""
    return new_card()


@pytest.fixture
def session(card: VirtualCard) -> Iterator[CardSession]:
    """An open session on a fresh demo card with a fresh demo virtual SAM."""
    with open_virtual_session(card=card) as s:
        yield s
