"""FMCOS access rights and security states (FMCOS 2.0 access rights, sources.md V1).

A right is one byte ``XY``: access is allowed when the DF's security-state register ``S`` satisfies
``Y <= S <= X``. ``F0`` is always allowed, ``F1`` needs ``S >= 1``, ``99`` only state 9; when ``X < Y`` (``EF``,
``0F``) no state satisfies it and access is forbidden. ``S`` is 0 after power-on, reset and SELECT of another DF;
EXTERNAL AUTHENTICATE and VERIFY set it to the key's follow-up state.
"""

from __future__ import annotations

from apdu.fmcos import ALWAYS

__all__ = ["allowed", "describe_right"]


def allowed(right: int, state: int) -> bool:
    """True when security state ``state`` satisfies access right ``right`` (``Y <= S <= X``)."""
    return (right & 0x0F) <= state <= (right >> 4)


def describe_right(right: int) -> str:
    """Human-readable form of a right, e.g. ``F1 (states 1..F)`` or ``EF (never)``."""
    low, high = right & 0x0F, right >> 4
    if low > high:
        return f"{right:02X} (never)"
    if right == ALWAYS:
        return "F0 (always)"
    return f"{right:02X} (states {low:X}..{high:X})"
