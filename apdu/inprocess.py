"""A transport to a simulated card living in this process (no pyscard, no pcscd)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from apdu.card import SimulatedCard
from apdu.errors import ReaderError

__all__ = ["InProcessTransport"]


class InProcessTransport:
    """Drive a :class:`~apdu.card.SimulatedCard` directly.

    ``remove()`` and ``insert()`` simulate pulling and inserting the card, so the "card removed" paths of the
    layers above can be tested without hardware.
    """

    def __init__(self, card: SimulatedCard | None, name: str = "inprocess") -> None:
        self._card = card
        self._name = name
        self._connected = False
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def card(self) -> SimulatedCard | None:
        """The card currently in the virtual reader (``None`` when removed)."""
        return self._card

    @property
    def atr(self) -> bytes:
        return self._present().atr

    def _present(self) -> SimulatedCard:
        if self._card is None:
            raise ReaderError(f"no card in reader {self._name!r}", reader=self._name, removed=True)
        return self._card

    def connect(self) -> bytes:
        card = self._present()
        if not self._connected:
            card.power_on()
            self._connected = True
        return card.atr

    def transmit(self, apdu: bytes) -> bytes:
        card = self._present()
        if not self._connected:
            raise ReaderError(f"not connected to the card in {self._name!r}", reader=self._name)
        return card.execute(bytes(apdu))

    def reset(self, *, cold: bool = False) -> bytes:
        card = self._present()
        if cold:
            card.power_off()
            card.power_on()
        else:
            card.reset()
        self._connected = True
        return card.atr

    def disconnect(self) -> None:
        if self._connected and self._card is not None:
            self._card.power_off()
        self._connected = False

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._lock:
            yield

    def remove(self) -> SimulatedCard | None:
        """Pull the card out of the virtual reader; returns it."""
        card, self._card = self._card, None
        if card is not None and self._connected:
            card.power_off()
        self._connected = False
        return card

    def insert(self, card: SimulatedCard) -> None:
        """Put a card into the virtual reader (it is powered on at the next :meth:`connect`)."""
        self._card = card
        self._connected = False
