"""``healthcard sim serve`` as a subprocess, read and written through pcscd with plain pyscard (docs/virtual-card.md).

The test holds the vpcd slot-0 lock of tests/e2e/conftest.py (the subprocess serves on TCP 35963 itself, so the
``vpcd`` fixture cannot be used), waits until pcscd reports the card, reads EF15, authenticates and changes EF15,
checks that the image on disk follows while serving, stops the server with SIGINT and checks the saved image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from smartcard import scard
from smartcard.System import readers

from healthcard.cli.main import main
from healthcard.codecs import PurseApplicationData
from healthcard.fs import DF, TransparentEF
from healthcard.image import load_image
from healthcard.issuance import DemoKeySource
from sam.crypto import Algorithm, external_auth_cryptogram
from tests.e2e.conftest import _slot_lock

READER = "Virtual PCD 00 00"
NEW_FCI = bytes.fromhex("ABCD")


def _state(name: str) -> tuple[int, bytes]:
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    try:
        hr, states = scard.SCardGetStatusChange(context, 0, [(name, scard.SCARD_STATE_UNAWARE)])
        return (int(states[0][1]), bytes(states[0][2])) if hr == scard.SCARD_S_SUCCESS else (0, b"")
    finally:
        scard.SCardReleaseContext(context)


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ef15(image: Path) -> bytes:
    adf = load_image(image).mf.children[0x1001]
    assert isinstance(adf, DF)
    ef = adf.children[0x0015]
    assert isinstance(ef, TransparentEF)
    return ef.data


def test_sim_serve_through_pcscd_saves_changes(pcscd: None, tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    assert main(["sim", "new", "--out", str(image), "--issue-date", "2024-01-15"]) == 0
    atr = bytes.fromhex(json.loads(image.read_text(encoding="utf-8"))["atr"])
    before = _ef15(image)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with _slot_lock(0, timeout=300.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "healthcard.cli.main", "sim", "serve", "--card", str(image), "--port", "35963"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            _wait("the served card in pcscd", lambda: _state(READER)[1] == atr
                  and bool(_state(READER)[0] & scard.SCARD_STATE_PRESENT))  # fmt: skip
            reader = next(r for r in readers() if str(r) == READER)
            connection = reader.createConnection()
            connection.connect()

            def t(hexstr: str, data: bytes = b"") -> tuple[bytes, int]:
                out, sw1, sw2 = connection.transmit(list(bytes.fromhex(hexstr.replace(" ", "")) + data))
                return bytes(out), (sw1 << 8) | sw2

            assert t("00A40000021001")[1] == 0x9000
            ef15, sw = t("00B095001E")
            assert sw == 0x9000 and ef15 == before
            assert PurseApplicationData.from_bytes(ef15).start_date.isoformat() == "2024-01-15"
            challenge, _ = t("0084000008")
            key = DemoKeySource().card_key("external_auth", ef15[12:20], None)
            assert t("0082000008", external_auth_cryptogram(Algorithm.TDES, key, challenge)) == (b"", 0x9000)
            assert t("00D6951C02", NEW_FCI) == (b"", 0x9000)
            assert t("00B0001C02") == (NEW_FCI, 0x9000)
            _wait("the image saved while serving", lambda: _ef15(image)[28:] == NEW_FCI, timeout=5.0)
            connection.disconnect()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _wait("the reader to be empty", lambda: not _state(READER)[0] & scard.SCARD_STATE_PRESENT, timeout=5.0)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert f"serving {image} on vpcd 127.0.0.1:35963" in err.decode()
    saved = _ef15(image)
    assert saved == before[:28] + NEW_FCI
    assert not list(tmp_path.glob(".card.json.*.tmp"))  # atomic saves leave no temporary file
