"""Fault injection for the crash tests: SIGKILL the daemon at a named step of a debit or load.

``HEALTHCARDD_FAULT=debit:after_prepared`` kills the process the first time a debit reaches that step (no
cleanup, no flush — like a power cut). Steps, in order: ``after_intent`` (journal has the intent, card untouched),
``after_prepared`` (journal prepared, DEBIT/CREDIT not yet sent), ``before_debited_record`` (the card changed,
the journal still says prepared), ``after_debited`` (journal has the TAC), ``after_confirmed`` (before the
reply). And ``upload:after_host_answer``: the host has recorded an upload batch, the daemon's outbox still holds
it (daemon/hostlink.py). Unset in production; the check is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV_VAR", "STEPS", "hit"]

ENV_VAR = "HEALTHCARDD_FAULT"
STEPS = ("after_intent", "after_prepared", "before_debited_record", "after_debited", "after_confirmed")


def hit(kind: str, step: str) -> None:
    """Kill this process with SIGKILL if ``HEALTHCARDD_FAULT`` names ``kind:step``."""
    if os.environ.get(ENV_VAR) == f"{kind}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)
