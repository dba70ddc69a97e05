"""The vpcd lock of the e2e fixtures: one lock for both slots, re-entrant within a process, exclusive across runs.

Per-slot locks let two concurrent test runs deadlock (one serving the SAM on slot 1 then the card on slot 0,
the other the reverse): each waited 300 s for the other's slot.
"""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import VPCD_LOCK, _slot_lock

_PROBE = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'ab')\n"
    "try:\n"
    "    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    print('busy')\n"
    "else:\n"
    "    print('free')\n"
)


def _other_process_sees() -> str:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, str(VPCD_LOCK)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_either_slot_excludes_other_runs_from_both_and_nests_in_either_order() -> None:
    with _slot_lock(1, timeout=300.0):
        assert _other_process_sees() == "busy"
        with _slot_lock(0, timeout=1.0):  # would wait for itself if the lock were not re-entrant
            assert _other_process_sees() == "busy"
        assert _other_process_sees() == "busy"  # the outer block still holds it
