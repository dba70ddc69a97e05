"""What a simulated card is: the surface that transports (in-process, vpcd) drive.

The shape follows vsmartcard's ``SmartcardOS`` (``getATR``, ``powerUp``, ``powerDown``, ``reset``,
``execute``), with two rules from pcscd polling, sources.md F5: ``atr`` is free of side effects (pcscd asks for it
between APDUs), and power-on/reset clear volatile state while persistent state survives power-off.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["SimulatedCard", "SwError"]


@runtime_checkable
class SimulatedCard(Protocol):
    """A card that executes raw command APDUs and answers raw response APDUs."""

    @property
    def atr(self) -> bytes:
        """The answer to reset. Must not change any state."""
        ...

    def power_on(self) -> None:
        """Cold start: clear volatile state (current DF, security states, challenge, SM session)."""
        ...

    def power_off(self) -> None:
        """Power removed; persistent state (files, balances, counters) must survive."""
        ...

    def reset(self) -> None:
        """Warm reset: same effect on volatile state as :meth:`power_on`."""
        ...

    def execute(self, apdu: bytes) -> bytes:
        """Run one command APDU and return data ‖ SW1 SW2. Must never raise."""
        ...


class SwError(Exception):
    """Raised inside a simulated card's command handlers to answer with a status word.

    ``data`` is the response data sent with it: empty for errors, possibly not for a warning word (ISO/IEC
    7816-4 §5.1.3: ``62xx`` / ``63xx`` may come with data).
    """

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw
        self.data = data
