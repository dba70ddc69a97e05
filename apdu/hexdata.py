"""Bytes written as hex text, as card images, key stores, SAM images and JSON documents hold them.

One reader for all of them: the caller passes its own error type (its layer: SAM for a key store or SAM image,
data for a person or a card write, library for a card image), and the message names the item, never its value
(keys are hex text too).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["from_hex"]


def from_hex(value: object, name: str, error: Callable[[str], Exception]) -> bytes:
    """``value`` (hex text; spaces allowed) as bytes; ``error(message)`` naming ``name`` unless it is a string of
    hex digits.

    >>> from_hex("9000", "sw", ValueError)
    b'\\x90\\x00'
    >>> from_hex(12, "sw", ValueError)
    Traceback (most recent call last):
    ValueError: sw: a hex string is required
    """
    if not isinstance(value, str):
        raise error(f"{name}: a hex string is required")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise error(f"{name}: not a hex string") from None
