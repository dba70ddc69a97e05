"""A purse operation with the virtual card's power cut at its n-th tear point, for the debit and load tests
(tear points: commit points and after every APDU, docs/virtual-card.md)."""

from __future__ import annotations

from collections.abc import Callable

from apdu.errors import HealthCardError
from healthcard.api import CardSession, open_virtual_session
from healthcard.cos.card import VirtualCard
from sam.virtual import VirtualSam


def tear_after(n: int) -> Callable[[str], bool]:
    """A tear hook that cuts the power at the ``n``-th tear point it is asked about."""
    calls = {"n": 0}

    def hook(point: str) -> bool:
        calls["n"] += 1
        return calls["n"] == n

    return hook


def torn_at(point: int, card: VirtualCard, sam: VirtualSam, operation: Callable[[CardSession], object]) -> bool:
    """Run ``operation`` in a settled session on ``card`` with the power cut at tear point ``point``; ``True`` when
    it was cut (the operation failed with a :class:`HealthCardError`), ``False`` when the operation has fewer tear
    points and completed. The card's tear hook is cleared either way."""
    with open_virtual_session(card=card, sam=sam) as s:
        s.read({})  # settle the session (nothing read)
        card.tear = tear_after(point)
        try:
            operation(s)
        except HealthCardError:
            return True
        finally:
            card.tear = None
    return False
