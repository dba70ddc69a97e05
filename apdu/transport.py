"""The byte transport: bytes in, bytes out (apdu4j's ``BIBO``), plus connect/ATR/reset/exclusive.

Implementations: :class:`apdu.inprocess.InProcessTransport` (a :class:`~apdu.card.SimulatedCard` in this
process, no pyscard needed) and :class:`apdu.pcsc.PcscTransport` (a PC/SC reader through pyscard).
Behaviours such as GET RESPONSE handling, 6Cxx re-send and tracing are layered on top by
:class:`apdu.channel.Channel`, not built into transports.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """A connection to one card in one reader.

    Errors from the reader side (no card, card removed, reader gone) are raised as
    :class:`apdu.errors.ReaderError`; transports never interpret status words.
    """

    @property
    def name(self) -> str:
        """The reader name (``"Virtual PCD 00 00"``, ``"inprocess:card"`` ...)."""
        ...

    @property
    def atr(self) -> bytes:
        """The ATR of the connected card."""
        ...

    def connect(self) -> bytes:
        """Connect (power the card) and return the ATR. Connecting twice is harmless."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one raw command APDU and return the raw response (data ‖ SW1 SW2)."""
        ...

    def reset(self, *, cold: bool = False) -> bytes:
        """Reset the card (warm by default) and return the ATR."""
        ...

    def disconnect(self) -> None:
        """Release the card; safe to call when not connected."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the card exclusively for one business operation (PC/SC transaction); re-entrant."""
        ...
