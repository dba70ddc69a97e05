"""The virtual CPU card: a COS executing raw APDUs against the file-system model.

Design (anchors.md §2, "Simulator = INS→handler table + SwError + file tree"): :meth:`VirtualCard.execute`
runs the command on the simulators' one engine (:class:`apdu.engine.Engine`, shared with the virtual SAM):
the INS byte picks a handler of the dispatch table (one module per command group), which is called as
``handler(card, cmd)`` with the command parsed once (:class:`apdu.command.Command`; wrong length fields answer
6700 before any handler runs); handlers raise :class:`apdu.card.SwError` for other words and return
the response data for ``90 00``. ``execute`` never raises: malformed input gets 6700 / 6A86 / 6D00 / 6E00 ...,
an unexpected exception 6F00.
Secure-messaging commands (CLA bit ``04``) in extended-length form answer 6700: the MAC input carries
``Lc'`` in one byte (JR/T 0025.1 secure messaging), so such a command cannot be protected.

Volatile state (cleared by power-on and reset, pcscd polling, sources.md F5): current DF and EF, the security-state
register of the current DF (FMCOS 2.0 access rights, sources.md V1), the last challenge, a pending purse transaction.
Persistent state (:class:`~healthcard.fs.state.CardState`) changes only through journaled commits; a tear hook can cut
the power at any commit point or after any APDU, after which the card answers nothing until :meth:`power_on`,
which recovers the journal (all-or-nothing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import Engine
from apdu.status import SW, sw_bytes
from healthcard.fs.journal import Op
from healthcard.fs.keys import KeyFile
from healthcard.fs.nodes import DF, EF, LifeCycle
from healthcard.fs.state import CardState, TearHook, Torn

if TYPE_CHECKING:
    from healthcard.cos.purse_commands import Pending

__all__ = ["Handler", "VirtualCard"]

log = logging.getLogger(__name__)

Handler = Callable[["VirtualCard", Command], bytes]
Rng = Callable[[int], bytes]

_CLASSES = frozenset((0x00, 0x04, 0x80, 0x84))
_OK = sw_bytes(SW.OK)
_LOCK_NONE, _LOCK_TEMP, _LOCK_PERM, _LOCK_CARD = 0, 1, 2, 3
# Commands still answered by lock level (JR/T 0025.1 APPLICATION/CARD BLOCK): a temporarily blocked application takes
# SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE and APPLICATION UNBLOCK; a permanently blocked one only SELECT (to leave
# it); a blocked card nothing. The others get 6A81 (9303 when permanently blocked).
_ALLOWED_WHEN_LOCKED: dict[int, frozenset[int]] = {
    _LOCK_TEMP: frozenset((0xA4, 0x84, 0x82, 0x18)),
    _LOCK_PERM: frozenset((0xA4,)),
    _LOCK_CARD: frozenset(),
}


class VirtualCard:
    """A :class:`apdu.card.SimulatedCard` running the project's FMCOS-style COS.

    Parameters
    ----------
    state:
        The persistent state (from :func:`healthcard.image.load_image` or built by :mod:`healthcard.virtual`).
    rng:
        Source of challenges and purse random numbers (``os.urandom`` by default; inject one for tests).
    """

    def __init__(self, state: CardState, *, rng: Rng = os.urandom) -> None:
        from healthcard.cos.dispatch import table  # noqa: PLC0415 - handlers import this module

        self.state = state
        self.rng = rng
        self._engine: Engine[VirtualCard] = Engine(
            by_ins=table(),
            classes=_CLASSES,
            before=VirtualCard._before,
            after=VirtualCard._after,
            passthrough=(Torn,),
            name="virtual card",
        )
        self._run = self._engine.execute
        self._powered = False
        self._torn = False
        self.on_commit: Callable[[], None] | None = None
        self.df: DF = state.mf
        self.df_path: tuple[int, ...] = ()
        self.ef: EF | None = None
        self.security = 0
        self.challenge: bytes | None = None
        self.pending: Pending | None = None
        self.lock = _LOCK_NONE
        self.power_on()

    # --- SimulatedCard -------------------------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        """The answer to reset (no side effects)."""
        return self.state.atr

    @property
    def powered(self) -> bool:
        """False after :meth:`power_off` or a tear, until :meth:`power_on`."""
        return self._powered

    @property
    def torn(self) -> bool:
        """True after a tear (power lost inside a command) until :meth:`power_on`; the card answers nothing.

        Over vpcd the empty answer makes :class:`apdu.vpcd.VpcdCardServer` pull the card out of the reader until
        pcscd powers it on again, as a real card losing power would look (docs/virtual-card.md).
        """
        return self._torn

    def power_on(self) -> None:
        """Cold start: recover an interrupted commit, clear the volatile state, select the MF."""
        tear, self.state.tear = self.state.tear, None
        try:
            if self.state.recover() and self.on_commit is not None:
                self.on_commit()
        finally:
            self.state.tear = tear
        self._reset_volatile()
        self._powered = True
        self._torn = False

    def power_off(self) -> None:
        """Power removed: volatile state is lost, files and purse survive."""
        self._powered = False
        self._reset_volatile()

    def reset(self) -> None:
        """Warm reset: same effect on volatile state as :meth:`power_on`."""
        self.power_on()

    def execute(self, apdu: bytes) -> bytes:
        """Run one command APDU; return ``data ‖ SW1 SW2`` (nothing after a tear). Never raises."""
        if not self._powered:
            return b""
        try:
            return self._run(self, apdu if type(apdu) is bytes else bytes(apdu))
        except Torn as torn:
            log.debug("card torn at %s", torn.point)
            self._powered = False
            self._torn = True
            self._reset_volatile()
            return b""

    def _before(self, apdu: bytes) -> None:
        """What every command meets after the dispatch check, before its length fields are parsed (a malformed
        command too): SM length, the pending purse step, the lock."""
        if self.pending is None and not self.lock and not apdu[0] & 0x04:
            return  # the common case, first (benchmarks/simulator.py)
        ins = apdu[1]
        if apdu[0] & 0x04 and len(apdu) > 5 and apdu[4] == 0:
            # secure messaging is short-APDU only: Lc' is one byte (JR/T 0025.1 secure messaging)
            raise SwError(SW.WRONG_LENGTH)
        if self.pending is not None and ins not in (0x52, 0x54):
            self.pending = None
        if self.lock and ins not in _ALLOWED_WHEN_LOCKED[self.lock]:
            raise SwError(SW.APP_PERMANENTLY_LOCKED if self.lock == _LOCK_PERM else SW.APP_LOCKED)

    def _after(self, cmd: Command, data: bytes) -> bytes:
        """``data ‖ 90 00``, after the tear point that ends every successful command."""
        if self.state.tear is not None:
            self.state.point("apdu:done")
        return data + _OK

    # --- fault injection -----------------------------------------------------------------------------------

    @property
    def tear(self) -> TearHook | None:
        """The fault-injection hook (see :mod:`healthcard.fs.state`); ``None`` = never tear."""
        return self.state.tear

    @tear.setter
    def tear(self, hook: TearHook | None) -> None:
        self.state.tear = hook

    # --- helpers for handlers ------------------------------------------------------------------------------

    def _reset_volatile(self) -> None:
        self.select_df(self.state.mf)
        self.security = 0
        self.challenge = None
        self.pending = None

    def select_df(self, df: DF) -> None:
        """Make ``df`` current: no current EF; security state 0 when the DF changes (FMCOS 2.0 access rights, sources.md
        V1)."""
        if df is not self.df:
            self.security = 0
        self.df = df
        self.df_path = df.path()
        self.ef = None
        self.refresh_lock()

    def refresh_lock(self) -> None:
        """Recompute the life-cycle lock of the current DF and its ancestors."""
        if self.state.mf.life_cycle is LifeCycle.CARD_BLOCKED:
            self.lock = _LOCK_CARD
            return
        worst = max(d.life_cycle for d in self.df.lineage())
        self.lock = {LifeCycle.ACTIVE: _LOCK_NONE, LifeCycle.BLOCKED_TEMPORARILY: _LOCK_TEMP}.get(worst, _LOCK_PERM)

    def key_file(self) -> KeyFile:
        """The current DF's key file (6A88 when there is none)."""
        kf = self.df.key_file
        if kf is None:
            raise SwError(SW.KEY_NOT_FOUND)
        return kf

    def take_challenge(self) -> bytes:
        """The last challenge, consumed (6984 when there is none)."""
        ch = self.challenge
        if ch is None:
            raise SwError(SW.RANDOM_INVALID)
        self.challenge = None
        return ch

    def need(self, right: int) -> None:
        """Raise 6982 unless the security state satisfies ``right`` (``Y <= S <= X``)."""
        if not (right & 0x0F) <= self.security <= (right >> 4):
            raise SwError(SW.SECURITY_NOT_SATISFIED)

    def commit(self, ops: Sequence[Op], label: str) -> None:
        """Commit persistent changes atomically, then notify the image saver."""
        self.state.commit(ops, label)
        if self.on_commit is not None:
            self.on_commit()

    def point(self, name: str) -> None:
        """A tear point inside a command."""
        if self.state.tear is not None:
            self.state.point(name)
