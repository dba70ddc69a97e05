"""Run vsmartcard's vicc (python ``virtualsmartcard``) for ``benchmarks/simulator.py``, in its own interpreter.

    python benchmarks/_vicc_probe.py check                               # exit 0 when vicc imports
    python benchmarks/_vicc_probe.py rate [--window 0.5] [--rounds 5]   # prints one JSON line
    python benchmarks/_vicc_probe.py serve [--port 35963]                # vicc's VirtualICC into vpcd

Nothing of vicc is copied here: its package is imported as installed. Debian 12's ``python3-virtualsmartcard``
(3.3+dfsg-2) puts it in ``/usr/lib/python3/site-packages/virtualsmartcard/``, which is on no interpreter's
``sys.path``, so that directory is added when a plain import fails. vicc's ``CryptoUtils`` needs ``Crypto``
(pycryptodome), which Debian's ``python3-pycryptodome`` does not provide (it ships ``Cryptodome``); the project
venv works once ``pip install pycryptodome`` has been run in it.

The card is vicc's own ``iso7816`` card (``CardGenerator``: MF + SAM) with one DF ``1001`` holding a 30-byte
transparent EF ``0015`` with short EF id 21 — the same shape as EF15 of our purse ADF, so the same APDUs make it
current and read 16 bytes: ``00 A4 00 0C 02 10 01`` (P2 = 0C, no FCI: vicc 3.3's SELECT with FCI raises
TypeError in ``TLVutils.pack`` on Python 3), ``00 B0 95 00 10``, then ``00 B0 00 00 10``. vicc checks no access
rights (anchors.md §2), so this is READ BINARY without an access check.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

DEBIAN_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"
SETUP = (bytes.fromhex("00A4000C021001"), bytes.fromhex("00B0950010"))
READ16 = bytes.fromhex("00B0000010")
EF15 = bytes(range(0x30, 0x30 + 30))


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("virtualsmartcard", name) or DEBIAN_PATH in sys.path:
            raise
        sys.path.append(DEBIAN_PATH)
        return importlib.import_module(name)


def _add_files(mf: Any) -> None:
    """DF 1001 with a transparent EF 0015 (SFI 21, 30 bytes) under vicc's MF."""
    fs = _import("virtualsmartcard.SmartcardFilesystem")
    df = fs.DF(parent=mf, fid=0x1001)
    df.append(fs.TransparentStructureEF(parent=df, fid=0x0015, shortfid=0x15, data=EF15))
    mf.append(df)


def card_os() -> Any:
    """vicc's ``Iso7816OS`` on its generated ``iso7816`` card plus the EF, with EF 0015 current."""
    vs = _import("virtualsmartcard.VirtualSmartcard")
    cg = _import("virtualsmartcard.CardGenerator")
    mf, sam = cg.CardGenerator("iso7816").getCard()
    _add_files(mf)
    os_ = vs.Iso7816OS(mf, sam)
    for apdu in SETUP:
        out = os_.execute(apdu)
        assert out[-2:] == b"\x90\x00", out.hex()
    return os_


def best_rate(fn: Callable[[bytes], object], apdu: bytes, window: float, rounds: int) -> float:
    """Best calls per second of ``fn(apdu)`` over ``rounds`` windows of ``window`` seconds (the clock is read every
    1000 calls). Shared with ``benchmarks/simulator.py``, so both sides of the comparison are timed alike."""
    best = 0.0
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        end = start + window
        while True:
            for _ in range(1000):
                fn(apdu)
            n += 1000
            now = time.perf_counter()
            if now >= end:
                break
        best = max(best, n / (now - start))
    return best


def rate(window: float, rounds: int) -> float:
    """Best ``Iso7816OS.execute(00 B0 00 00 10)`` calls per second over ``rounds`` windows."""
    execute = card_os().execute
    out = execute(READ16)
    assert out == EF15[:16] + b"\x90\x00", out.hex()
    return best_rate(execute, READ16, window, rounds)


def serve(port: int) -> None:
    """vicc's own ``VirtualICC`` (connects to vpcd on ``port``) with the EF added; prints the ATR, then runs."""
    vs = _import("virtualsmartcard.VirtualSmartcard")
    vicc = vs.VirtualICC(None, "iso7816", "localhost", port, logginglevel=logging.CRITICAL)
    _add_files(vicc.os.mf)
    print(vicc.os.getATR().hex(), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        vicc.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("check")
    r = sub.add_parser("rate")
    r.add_argument("--window", type=float, default=0.5)
    r.add_argument("--rounds", type=int, default=5)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=35963)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # as `vicc` without -v
    if args.mode == "check":
        card_os()
    elif args.mode == "rate":
        value = rate(args.window, args.rounds)
        module = _import("virtualsmartcard").__path__[0]
        print(json.dumps({"rate": value, "python": sys.version.split()[0], "module": module}))
    else:
        serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
