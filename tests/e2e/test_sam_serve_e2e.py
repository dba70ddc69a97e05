"""``healthcard sam serve`` as a subprocess on vpcd slot 1, driven with plain pyscard (docs/sam.md, issue 3 CLI).

After power-on at the MF, ``00 B0 96 00 06`` gives the terminal id and INIT_SAM_FOR_PURCHASE (``80 70 00 00 1C``,
one diversification level, key version 01, algorithm 00) answers with a MAC1 of the demo purchase key; the terminal
transaction serial it used is in the SAM image after SIGTERM, and the next ``sam serve`` continues from it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from smartcard.System import readers

from healthcard.cli.main import main
from sam.crypto import Algorithm, diversify, purchase_mac1, purchase_session_key
from sam.keystore import load_demo_keys
from sam.virtual import VirtualSam, load_sam_image
from tests.e2e.conftest import _slot_lock
from tests.e2e.test_sim_serve_e2e import _state, _wait

READER = "Virtual PCD 00 01"
H = bytes.fromhex
FACTOR = H("0000000000000321")


def _purchase_once(sam_image: Path) -> int:
    """Serve the image, run one INIT_SAM_FOR_PURCHASE by plain pyscard, stop with SIGTERM; return the serial."""
    atr = VirtualSam(load_sam_image(sam_image)).atr
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthcard.cli.main", "sam", "serve", "--sam", str(sam_image), "--port", "35964"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        _wait("the served SAM in pcscd", lambda: _state(READER)[1] == atr)
        connection = next(r for r in readers() if str(r) == READER).createConnection()
        connection.connect()

        def t(hexstr: str) -> tuple[bytes, int]:
            out, sw1, sw2 = connection.transmit(list(H(hexstr)))
            return bytes(out), (sw1 << 8) | sw2

        terminal_id, sw = t("00B0960006")
        assert (terminal_id, sw) == (H("000000000001"), 0x9000)
        data = "01020304" + "0001" + "000001F4" + "06" + "20241115093000" + "01" + "00" + FACTOR.hex()
        assert t("0020000003123456") == (b"", 0x9000)  # every key-using SAM command needs the PIN
        reply, sw = t(f"807000001C{data}08")
        if sw >> 8 == 0x61:
            reply, sw = t(f"00C00000{sw & 0xFF:02X}")
        assert sw == 0x9000 and len(reply) == 8
        serial = int.from_bytes(reply[:4], "big")
        dpk = diversify(Algorithm.TDES, load_demo_keys().by_name("purchase").value, FACTOR)
        sk = purchase_session_key(Algorithm.TDES, dpk, H("01020304"), 1, serial)
        when = dt.datetime(2024, 11, 15, 9, 30).strftime("%Y%m%d%H%M%S")
        assert reply[4:] == purchase_mac1(Algorithm.TDES, sk, 500, 6, terminal_id, H(when))
        connection.disconnect()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _wait("the reader to be empty", lambda: _state(READER)[1] != atr, timeout=5.0)
    return serial


def test_sam_serve_through_pcscd_persists_the_terminal_serial(pcscd: None, tmp_path: Path) -> None:
    image = tmp_path / "sam.json"
    assert main(["sam", "new", "--out", str(image)]) == 0
    with _slot_lock(1, timeout=300.0):
        first = _purchase_once(image)
        second = _purchase_once(image)
    assert second == first + 1
    assert json.loads(image.read_text(encoding="utf-8"))["terminal_serial"] == second
