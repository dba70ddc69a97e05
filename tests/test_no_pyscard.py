"""The library imports and runs on the in-process virtual card without pyscard (DEVELOPERS.md, design card)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BLOCKED = """
import sys
sys.modules["smartcard"] = None          # any import of pyscard now raises ImportError
import apdu, sam, healthcard, healthcard.api, healthcard.cos, healthcard.cli.main
from healthcard.api import Section, open_virtual_session
with open_virtual_session() as session:
    print(session.read({Section.HOLDER}).holder.name, session.balance())
"""

_LAZY = """
import sys
import apdu, apdu.pcsc, sam, sam.client, healthcard.api, healthcard.virtual
print("smartcard" in sys.modules)
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_library_runs_with_pyscard_unavailable() -> None:
    done = _run(_BLOCKED)
    assert done.returncode == 0, done.stderr
    name, balance = done.stdout.split()
    assert name == "张伟" and int(balance) >= 0


def test_importing_the_packages_does_not_load_pyscard() -> None:
    done = _run(_LAZY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
