"""One command engine for the simulated cards: the virtual card's COS and the virtual SAM run on it.

What every simulated card does around its command handlers, written once (ISO/IEC 7816-4 §5.1, §5.6;
the shape of vsmartcard's ``SmartcardOS.execute``):

* a dispatch table keyed by INS (with the set of accepted CLA bytes) or by (CLA, INS);
* the class check first (``6E00``), then the instruction (``6D00``), then the card's own ``before`` check
  (life cycle, volatile state), then the command's length fields (``6700`` for a command shorter than its
  header or with inconsistent Lc / Le): no handler sees a malformed command;
* handlers return the response data for ``9000`` and raise :class:`apdu.card.SwError` for any other word
  (a warning word may carry data, e.g. ``6283`` with the FCI of a blocked application);
* never raise: any unexpected exception is logged and answered ``6F00`` (no precise diagnosis); only the
  exception types named in ``passthrough`` (a simulated power loss) leave :meth:`Engine.execute`.

Handlers receive the command parsed once, as an :class:`apdu.command.Command` (``cmd.p1``, ``cmd.data``,
``cmd.le`` ...), and check what they accept with the helpers below (:func:`require_p1p2`,
:func:`require_length`, :func:`require_no_data`), written once for both simulators. ``Command.decode`` builds the
object without re-validating what the bytes already guarantee: parsing adds about 1.5 µs per APDU to the card
(1.4 → 2.8 µs for a READ BINARY) and made the virtual SAM's APDUs almost twice as fast (docs/performance.md "Virtual
card", benchmarks/library_compare.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Generic, TypeVar

from apdu.card import SwError
from apdu.command import Command
from apdu.errors import ApduFormatError
from apdu.status import SW, sw_bytes

__all__ = ["Engine", "require_length", "require_no_data", "require_p1p2"]

C = TypeVar("C")  # what a handler works on (the card, the SAM context)

_OK = sw_bytes(SW.OK)
_WRONG_LENGTH = sw_bytes(SW.WRONG_LENGTH)
_decode = Command.decode


def require_p1p2(cmd: Command, p1: int, p2: int) -> None:
    """``6A86`` unless P1-P2 are as given (ISO/IEC 7816-4 table 6: incorrect parameters P1-P2)."""
    if cmd.p1 != p1 or cmd.p2 != p2:
        raise SwError(SW.WRONG_P1P2)


def require_length(cmd: Command, *lengths: int) -> bytes:
    """The data field, or ``6700`` if its length is not one of ``lengths``."""
    data = cmd.data
    if len(data) not in lengths:
        raise SwError(SW.WRONG_LENGTH)
    return data


def require_no_data(cmd: Command) -> None:
    """``6700`` when the command carries a data field (a case 1 or 2 command sent with Lc)."""
    if cmd.data:
        raise SwError(SW.WRONG_LENGTH)


class Engine(Generic[C]):
    """Dispatch one command APDU to its handler and turn the outcome into a response APDU.

    Parameters
    ----------
    by_ins:
        INS -> handler, for a card that accepts every instruction in each of ``classes``.
    by_cla_ins:
        (CLA, INS) -> handler, for a card whose instructions each belong to one class. Give one of the two.
    classes:
        The CLA bytes accepted with ``by_ins``.
    before:
        Called with the context and the APDU as it came, after the dispatch check and before its length fields
        are parsed: what the card does on every command it knows, well-formed or not (state it clears on every
        other command, life-cycle refusals); may raise ``SwError``.
    after:
        Makes the response APDU from the handler's data (default ``data ‖ 90 00``), e.g. to hold the data back
        for GET RESPONSE.
    passthrough:
        Exception types that leave :meth:`execute` (the virtual card's power loss).
    name:
        For the log line of an unexpected exception.
    """

    def __init__(
        self,
        *,
        by_ins: Mapping[int, Callable[[C, Command], bytes]] | None = None,
        by_cla_ins: Mapping[tuple[int, int], Callable[[C, Command], bytes]] | None = None,
        classes: Collection[int] = (),
        before: Callable[[C, bytes], None] | None = None,
        after: Callable[[C, Command, bytes], bytes] | None = None,
        passthrough: tuple[type[BaseException], ...] = (),
        name: str = "simulated card",
    ) -> None:
        if (by_ins is None) == (by_cla_ins is None):
            raise ValueError("give exactly one of by_ins and by_cla_ins")
        if by_ins is not None and not classes:
            raise ValueError("by_ins needs the accepted classes")
        self._by_ins = dict(by_ins) if by_ins is not None else None
        self._by_cla_ins = dict(by_cla_ins) if by_cla_ins is not None else {}
        self._classes = frozenset(classes) | frozenset(cla for cla, _ in self._by_cla_ins)
        self._known_ins = frozenset(self._by_ins or ()) | frozenset(ins for _, ins in self._by_cla_ins)
        self._before = before
        self._after = after
        self._passthrough = passthrough
        self._log = logging.getLogger(f"{__name__}.{name}")
        self._name = name

    @property
    def instructions(self) -> frozenset[int]:
        """Every INS some handler serves."""
        return self._known_ins

    def handler(self, cla: int, ins: int) -> Callable[[C, Command], bytes]:
        """The handler for ``cla``/``ins``; ``SwError(6E00)`` for a class, ``SwError(6D00)`` for an instruction
        the card does not have (ISO/IEC 7816-4 table 6)."""
        if self._by_ins is not None:
            if cla not in self._classes:
                raise SwError(SW.CLA_NOT_SUPPORTED)
            found = self._by_ins.get(ins)
        else:
            found = self._by_cla_ins.get((cla, ins))
            if found is None and ins in self._known_ins:
                raise SwError(SW.CLA_NOT_SUPPORTED)
        if found is None:
            raise SwError(SW.INS_NOT_SUPPORTED)
        return found

    def execute(self, context: C, apdu: bytes) -> bytes:
        """Run one command APDU on ``context``; return ``data ‖ SW1 SW2``. Raises only ``passthrough`` types."""
        try:
            if len(apdu) < 4:
                return _WRONG_LENGTH
            # The lookup of handler() inlined for the INS table: this is every APDU's path (benchmarks/simulator.py).
            by_ins = self._by_ins
            if by_ins is not None and apdu[0] in self._classes:
                handler = by_ins.get(apdu[1])
                if handler is None:
                    raise SwError(SW.INS_NOT_SUPPORTED)
            else:
                handler = self.handler(apdu[0], apdu[1])
            if self._before is not None:
                self._before(context, apdu)
            try:
                command = _decode(apdu)
            except ApduFormatError:
                return _WRONG_LENGTH
            data = handler(context, command)
            return self._after(context, command, data) if self._after is not None else data + _OK
        except SwError as exc:
            return exc.data + sw_bytes(exc.sw)
        except self._passthrough:
            raise
        except Exception:
            self._log.exception("%s: unexpected error on INS %02X", self._name, apdu[1] if len(apdu) > 1 else 0)
            return sw_bytes(SW.NO_PRECISE_DIAGNOSIS)
