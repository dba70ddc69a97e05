"""The persistent state of a card (its "EEPROM") and the atomic commit with tear points.

Commit protocol (anti-tearing, as a COS's backup buffer): (1) write the operations to the journal, (2) mark the
journal valid — the single commit point, (3) apply the operations one by one, (4) clear the journal. Power can
fail between any two steps; :meth:`CardState.recover` (run at power-on and after loading an image) replays a
valid journal and drops an invalid one, so every command's changes are all there or not at all.

Fault injection: ``tear`` is a callback consulted with the name of each point (``"<label>:journal"``,
``"<label>:commit"``, ``"<label>:apply-<n>"``, ``"<label>:done"``); when it returns True the card "loses power"
there (:class:`Torn` is raised and caught by the COS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from healthcard.fs.journal import Op
from healthcard.fs.nodes import DF

__all__ = ["CardState", "TearHook", "Torn"]

TearHook = Callable[[str], bool]


class Torn(Exception):  # noqa: N818 - an event, not an error
    """Power was lost at a tear point (raised only by fault injection)."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


@dataclass(eq=True)
class CardState:
    """MF tree, ATR and the journal: everything that survives power-off."""

    mf: DF
    atr: bytes
    journal: list[Op] = field(default_factory=list)
    journal_valid: bool = False
    tear: TearHook | None = field(default=None, compare=False, repr=False)
    commits: int = field(default=0, compare=False)

    def point(self, name: str) -> None:
        """A tear point: raise :class:`Torn` if the fault-injection hook says so."""
        if self.tear is not None and self.tear(name):
            raise Torn(name)

    def commit(self, ops: Sequence[Op], label: str) -> None:
        """Apply ``ops`` all-or-nothing (see the module docstring for the steps and tear points)."""
        if not ops:
            return
        tear = self.tear
        self.journal = list(ops)
        if tear is not None and tear(f"{label}:journal"):
            raise Torn(f"{label}:journal")
        self.journal_valid = True
        if tear is not None and tear(f"{label}:commit"):
            raise Torn(f"{label}:commit")
        for n, op in enumerate(ops, 1):
            op.apply(self.mf)
            if tear is not None and tear(f"{label}:apply-{n}"):
                raise Torn(f"{label}:apply-{n}")
        self.journal_valid = False
        self.journal = []
        self.commits += 1

    def recover(self) -> bool:
        """Roll a valid journal forward, drop an invalid one; True if something was replayed."""
        replayed = False
        if self.journal_valid:
            for op in self.journal:
                op.apply(self.mf)
            replayed = True
        self.journal = []
        self.journal_valid = False
        return replayed
