"""Masking of identifiers in logs and traces: the card number is the holder's citizen ID number (issue #11 item 9).

One function, used wherever a card number or ID number may reach a log line, a trace or an error report:
:func:`mask_id` keeps what an operator needs to tell cards apart on a screen or in a log — the 6-digit region
code (GB 11643 §4: address code) and the last 4 characters — and hides the birth date and sequence number:
``110105199001010030`` -> ``110105********0030``. The audit trail keeps the full card number (auditors must find
the card); logs, metrics and traces never do.
"""

from __future__ import annotations

__all__ = ["mask_id"]

_HIDDEN = "*"


def mask_id(value: str) -> str:
    """``110105********0030``: first 6 and last 4 characters of 11+, last 4 of 5..10, nothing of shorter."""
    n = len(value)
    if n >= 11:
        return value[:6] + _HIDDEN * (n - 10) + value[-4:]
    if n >= 5:
        return _HIDDEN * (n - 4) + value[-4:]
    return _HIDDEN * n
