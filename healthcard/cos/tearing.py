"""Fault-injection helpers for :attr:`VirtualCard.tear <healthcard.cos.card.VirtualCard.tear>`."""

from __future__ import annotations

__all__ = ["TearAt"]


class TearAt:
    """Tear at the ``n``-th tear point consulted (0-based); ``None`` never tears but still records points.

    ``points`` lists every point name seen, so a test can first run an operation with ``TearAt(None)`` to count
    its points and then tear at each of them in turn.
    """

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.points: list[str] = []
        self.torn_at: str | None = None

    def __call__(self, point: str) -> bool:
        index = len(self.points)
        self.points.append(point)
        if self.n is not None and index == self.n:
            self.torn_at = point
            return True
        return False
