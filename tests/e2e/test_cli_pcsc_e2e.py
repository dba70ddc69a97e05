"""The README's PC/SC card commands run as written, through pcscd + vpcd (issue #15).

The virtual card is served on vpcd slot 0 ("Virtual PCD 00 00") and the virtual SAM on slot 1 ("Virtual PCD 00
01"); ``healthcard`` runs as a subprocess (the installed console script) and must give one clear line for each
mistake: an unknown reader names the readers there are, a missing SAM reader / SAM PIN names the options to add,
an empty reader says there is no card. With everything given, ``read`` prints the holder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from healthcard.virtual import demo_person, new_demo_card
from sam.virtual import VirtualSam
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc

CARD_READER, SAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"


def healthcard(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HEALTHCARD_PIN", "HEALTHCARD_SAM_PIN")}
    done = subprocess.run([str(Path(sys.executable).parent / "healthcard"), *argv], capture_output=True, text=True,
                          env={**base, "XDG_STATE_HOME": str(tmp_path), **env}, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_readme_pcsc_commands_and_their_mistakes(vpcd: VpcdFixture, tmp_path: Path) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(sam, slot=1):
        empty = healthcard(tmp_path, "read", "--reader", CARD_READER, "--sam-reader", SAM_READER,
                           HEALTHCARD_SAM_PIN="123456")  # fmt: skip
        assert empty.returncode == 1 and f"no card in reader {CARD_READER!r}" in empty.stderr
        with vpcd(card, slot=0):
            listed = healthcard(tmp_path, "readers")
            assert listed.returncode == 0 and CARD_READER in listed.stdout and SAM_READER in listed.stdout

            typo = healthcard(tmp_path, "read", "--reader", "Virtual PCD 00 09", "--sam-reader", SAM_READER)
            assert typo.returncode == 1 and "there is no reader 'Virtual PCD 00 09'" in typo.stderr
            assert f"'{CARD_READER}'" in typo.stderr and f"'{SAM_READER}'" in typo.stderr  # the readers there are

            bare = healthcard(tmp_path, "read", "--reader", CARD_READER, "--section", "holder")
            assert bare.returncode == 1
            assert "--sam-reader SAM_READER" in bare.stderr and "--sam-pin-prompt" in bare.stderr  # both at once

            no_pin = healthcard(tmp_path, "read", "--reader", CARD_READER, "--sam-reader", SAM_READER)
            assert no_pin.returncode == 1 and "needs the SAM PIN" in no_pin.stderr
            assert "--sam-pin-prompt" in no_pin.stderr and "--sam-reader" not in no_pin.stderr.split("add ")[-1]

            read = healthcard(tmp_path, "read", "--reader", CARD_READER, "--sam-reader", SAM_READER, "--section",
                              "holder", HEALTHCARD_SAM_PIN="123456")  # fmt: skip
            assert read.returncode == 0 and str(demo_person().holder.name) in read.stdout

            load = healthcard(tmp_path, "load", "--amount", "100", "--reader", CARD_READER, "--sam-reader",
                              SAM_READER)  # fmt: skip
            assert load.returncode == 1 and "--sam-pin-prompt" in load.stderr and "--pin-prompt" in load.stderr
