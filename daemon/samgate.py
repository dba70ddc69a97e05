"""The SAM PIN is sent once per reader and daemon run, and never again after the SAM refused it (issue #11 item 6).

A PSAM blocks its PIN after a few wrong tries (three for the virtual SAM, docs/sam.md) and then goes back to its
issuer. Before this gate the daemon sent the configured PIN with every card session, so a wrong PIN in the
configuration locked the SAM after three RPCs. Now each reader has one :class:`SamGate`: the first session
verifies the PIN explicitly; a refusal (a SAM PIN status word: 63Cx, 6983 ...) — there or in any later
operation — marks the SAM unusable for the rest of the run: every later session fails with
:class:`~daemon.errors.SamUnusableError` (FAILED_PRECONDITION, reason SAM_UNUSABLE) before any APDU, ListReaders
shows READER_STATE_SAM_UNUSABLE, and one error line is logged. Fix the PIN in the configuration and restart.
"""

from __future__ import annotations

import logging
import threading

from apdu.errors import PinError, SamError
from daemon.errors import SamUnusableError
from healthcard.api import CardSession

__all__ = ["SamGate", "is_sam_pin_refusal"]

log = logging.getLogger("healthcardd.readers")


def is_sam_pin_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the SAM refusing its PIN (wrong PIN, PIN blocked)."""
    return isinstance(exc, SamError) and isinstance(exc, PinError)


class SamGate:
    """One reader's SAM PIN state: not yet verified, verified, or refused (then never sent again)."""

    def __init__(self, reader: str, pin: str | None) -> None:
        self._reader = reader
        self._pin = pin
        self._lock = threading.Lock()
        self._verified = False
        self._refused = False

    @property
    def usable(self) -> bool:
        """False once the SAM refused the configured PIN."""
        return not self._refused

    def check(self) -> None:
        """Raise :class:`SamUnusableError` when the SAM refused the PIN (before any APDU is sent)."""
        if self._refused:
            raise SamUnusableError(
                f"the SAM of reader {self._reader!r} refused the configured SAM PIN; healthcardd does not use it"
                " again (its remaining PIN tries are kept): correct the PIN in the configuration and restart"
            )

    def verify(self, session: CardSession) -> None:
        """VERIFY the PIN on ``session`` unless it was verified already.

        Without a configured PIN nothing is sent (a PSAM that needs none). A refusal marks the SAM unusable.
        """
        with self._lock:
            self.check()
            if self._verified or self._pin is None:
                return
            try:
                session.verify_sam_pin(self._pin)
            except Exception as exc:
                self.watch(exc)
                self.check()
                raise
            self._verified = True

    def watch(self, exc: BaseException) -> None:
        """Look at a failure of a session: a SAM PIN refusal marks the SAM unusable (logged once)."""
        if not is_sam_pin_refusal(exc) or self._refused:
            return
        self._refused = True
        log.error(
            "the SAM refused the configured SAM PIN (%s); this SAM is not used again until the configuration is"
            " corrected and healthcardd restarted", getattr(getattr(exc, "info", None), "english", "PIN error"),
            extra={"reader": self._reader},
        )  # fmt: skip
