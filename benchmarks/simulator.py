"""Virtual-card figures: in-process APDUs per second and the round trip through pcscd + vpcd.

    .venv/bin/python -m benchmarks.simulator            # all figures (the pcscd part needs pcscd serving vpcd)
    .venv/bin/python -m benchmarks.simulator --no-pcsc  # in-process figures only

1. In-process: ``VirtualCard.execute`` for READ BINARY of 16 bytes (``00 B0 00 00 10``) on EF15 of the purse
   ADF with the access check (read right against the DF's security state), best of 5 windows; also
   GET BALANCE, READ RECORD and a full purchase (INITIALIZE + DEBIT with MAC1, MAC2, TAC and the atomic commit).
   Target ≥ 200,000 READ BINARY/s (issue #4: vsmartcard's vicc does about 60,000/s without access checks).
2. vsmartcard's vicc in the same run, when its python package ``virtualsmartcard`` can be imported: its
   ``Iso7816OS.execute`` for the same READ BINARY (no access check: vicc has none), run by
   ``benchmarks/_vicc_probe.py`` in a subprocess (this interpreter first, then ``/usr/bin/python3``), and the
   ratio. Install for the comparison (benchmark only, not part of setup):
   ``apt-get install python3-virtualsmartcard vsmartcard-vpicc`` and ``.venv/bin/pip install pycryptodome``.
3. Round trip per APDU through pyscard → pcscd → vpcd → card, for a minimal echo card and the virtual card
   (served by :class:`~apdu.vpcd.VpcdCardServer`) and for vicc's own ``VirtualICC`` serving the same EF (the
   floor is the echo card, sources.md F7 ≈ 0.16 ms). Follows the protocol of tests/e2e/conftest.py: a shared
   flock on ``/tmp/healthcard-pcscd.lock`` while pcscd is needed (``pcscd -f`` is started, and stopped at the
   end, if nothing serves the vpcd ports), and vpcd slot 0 under ``/tmp/healthcard-vpcd.lock`` (the tests' one
   lock on both slots).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from apdu.vpcd import DEFAULT_PORT, VpcdCardServer, reader_name
from benchmarks._vicc_probe import best_rate
from healthcard.cos import VirtualCard
from healthcard.issuance import DemoKeySource
from healthcard.virtual import DEMO_TERMINAL_ID, new_demo_card
from sam.crypto import Algorithm, purchase_mac1, purchase_session_key

READ16 = bytes.fromhex("00B0000010")
OUR_SETUP = (bytes.fromhex("00A40000021001"), bytes.fromhex("00B0950010"))
VICC_SETUP = (bytes.fromhex("00A4000C021001"), bytes.fromhex("00B0950010"))  # vicc's SELECT with FCI crashes
PROBE = Path(__file__).with_name("_vicc_probe.py")
PCSCD_LOCK = Path("/tmp/healthcard-pcscd.lock")
PCSCD_START_LOCK = Path("/tmp/healthcard-pcscd.start.lock")
PCSCD_PIDFILE = Path("/tmp/healthcard-pcscd.pid")
PCSCD_LOG = Path("/tmp/healthcard-pcscd.log")
ECHO_ATR = bytes.fromhex("3B8880014543484F4341524430")


class EchoCard:
    """Answers every APDU with ``90 00`` (the floor of the PC/SC path)."""

    atr = ECHO_ATR

    def power_on(self) -> None:
        """Nothing to do."""

    def power_off(self) -> None:
        """Nothing to do."""

    def reset(self) -> None:
        """Nothing to do."""

    def execute(self, apdu: bytes) -> bytes:
        """``90 00``."""
        return b"\x90\x00"


def _card() -> VirtualCard:
    card = new_demo_card(rng=random.Random(5).randbytes)
    assert card.execute(bytes.fromhex("00A40000021001"))[-2:] == b"\x90\x00"
    assert card.execute(bytes.fromhex("00B0950010"))[-2:] == b"\x90\x00"  # EF15 current, read right F0
    return card


def rate(fn: Callable[[bytes], bytes], apdu: bytes, window: float = 0.5, rounds: int = 5) -> float:
    """Best calls per second of ``fn(apdu)`` over ``rounds`` windows (the answer must be ``… 90 00``)."""
    assert fn(apdu)[-2:] == b"\x90\x00", fn(apdu).hex()
    return best_rate(fn, apdu, window, rounds)


def purchase_rate(count: int = 300) -> float:
    """Complete purchases per second (terminal crypto included, from sam.crypto)."""
    card = _card()
    factor = card.execute(bytes.fromhex("00B095001E"))[12:20]
    key = DemoKeySource().card_key("purchase", factor, None)
    when = bytes.fromhex("20240115103000")
    start = time.perf_counter()
    for serial in range(count):
        init = card.execute(bytes.fromhex("805001020B0100000001") + DEMO_TERMINAL_ID + b"\x0f")
        sk = purchase_session_key(Algorithm.TDES, key, init[11:15], int.from_bytes(init[4:6], "big"), serial)
        mac1 = purchase_mac1(Algorithm.TDES, sk, 1, 0x06, DEMO_TERMINAL_ID, when)
        out = card.execute(bytes.fromhex("805401000F") + serial.to_bytes(4, "big") + when + mac1 + b"\x08")
        assert out[-2:] == b"\x90\x00"
    return count / (time.perf_counter() - start)


def vicc_version() -> str:
    """The Debian package version of vicc's library (``dpkg-query``), or ``unknown``."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-virtualsmartcard"],
                             capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def vicc_python() -> tuple[str | None, str]:
    """An interpreter that can import vicc (this one first, then Debian's), or ``None`` and why not."""
    reasons = []
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not Path(python).exists():
            continue
        probe = subprocess.run([python, str(PROBE), "check"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode == 0:
            return python, ""
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"{python}: {last}")
    return None, "; ".join(reasons) or "no interpreter found"


def vicc_rate(python: str, window: float = 0.5, rounds: int = 5) -> tuple[float, str]:
    """vicc's ``Iso7816OS.execute`` READ BINARY 16 B per second (best window) and the probe's Python version."""
    out = subprocess.run([python, str(PROBE), "rate", "--window", str(window), "--rounds", str(rounds)],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["rate"]), str(result["python"])


def _vpcd_listening() -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        if any(f.split()[1].upper().endswith(f":{DEFAULT_PORT:04X}") and f.split()[3] == "0A" for f in lines):
            return True
    return False


def _is_pcscd(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat[stat.index("(") + 1 : stat.rindex(")")] == "pcscd" and stat[stat.rindex(")") + 2] not in "ZX"


@contextlib.contextmanager
def pcscd_in_use() -> Iterator[str]:
    """Hold pcscd for the benchmark (tests/e2e/conftest.py protocol); yields "" or why pcscd is unavailable.

    Starts ``pcscd -f`` when nothing serves the vpcd port and stops that pcscd (only the one started here) on
    leaving if no other user holds the shared lock.
    """
    started: subprocess.Popen[bytes] | None = None
    with PCSCD_LOCK.open("ab") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        try:
            with PCSCD_START_LOCK.open("ab") as start:
                fcntl.flock(start, fcntl.LOCK_EX)
                if not _vpcd_listening():
                    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
                    if not Path(pcscd).exists():
                        yield "pcscd is not installed"
                        return
                    with PCSCD_LOG.open("ab") as log:
                        started = subprocess.Popen([pcscd, "-f"], stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True)  # fmt: skip
                    PCSCD_PIDFILE.write_text(str(started.pid), encoding="ascii")
                    deadline = time.monotonic() + 15
                    while not _vpcd_listening() and time.monotonic() < deadline and started.poll() is None:
                        time.sleep(0.05)
            yield "" if _vpcd_listening() else f"pcscd does not serve the vpcd reader (see {PCSCD_LOG})"
        finally:
            if started is not None:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # someone else uses it now; the last user of the protocol stops it
                else:
                    if started.poll() is None:
                        os.kill(started.pid, signal.SIGTERM)
                        started.wait(10)
                    PCSCD_PIDFILE.unlink(missing_ok=True)


def _reader_state(scard: object, ctx: int, reader: str) -> tuple[int, bytes]:
    hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])  # type: ignore[attr-defined]
    return (int(states[0][1]), bytes(states[0][2])) if hr == 0 else (0, b"")


def _time_transmits(atr: bytes | None, setup: tuple[bytes, ...], apdu: bytes, count: int) -> list[float]:
    """Wait for the card in slot 0, run ``setup``, then time ``count`` ``SCardTransmit`` calls (ns)."""
    from smartcard import scard  # noqa: PLC0415 - pyscard is optional

    reader = reader_name(0)
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != 0:
        raise RuntimeError(f"cannot reach pcscd: {hr:#x}")
    try:
        deadline = time.monotonic() + 10
        while True:
            state, seen = _reader_state(scard, ctx, reader)
            if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE and atr in (None, seen):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pcscd does not report the card in {reader!r} (state {state:#x})")
            time.sleep(0.02)
        hr, card, proto = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED,
                                             scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)  # fmt: skip
        if hr != 0:
            raise RuntimeError(f"SCardConnect failed: {hr:#x}")
        pci = scard.SCARD_PCI_T1 if proto == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        for s in setup:
            hr, resp = scard.SCardTransmit(card, pci, list(s))
            if hr != 0 or resp[-2:] != [0x90, 0x00]:
                raise RuntimeError(f"setup APDU {s.hex()} failed: {hr:#x} {bytes(resp).hex()}")
        raw = list(apdu)
        for _ in range(50):
            scard.SCardTransmit(card, pci, raw)
        out: list[float] = []
        for _ in range(count):
            t0 = time.perf_counter_ns()
            hr, resp = scard.SCardTransmit(card, pci, raw)
            out.append(time.perf_counter_ns() - t0)
        if hr != 0 or resp[-2:] != [0x90, 0x00]:
            raise RuntimeError(f"READ BINARY failed: {hr:#x} {bytes(resp).hex()}")
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        return out
    finally:
        scard.SCardReleaseContext(ctx)


def _wait_reader_empty(timeout: float = 5.0) -> None:
    from smartcard import scard  # noqa: PLC0415

    _hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        deadline = time.monotonic() + timeout
        while _reader_state(scard, ctx, reader_name(0))[0] & scard.SCARD_STATE_PRESENT:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
    finally:
        scard.SCardReleaseContext(ctx)


def _round_trips(card: object, atr: bytes, setup: tuple[bytes, ...], apdu: bytes, count: int) -> list[float]:
    handle = VpcdCardServer(card).serve_in_thread()  # type: ignore[arg-type]
    try:
        if not handle.wait_atr_served(10):
            raise RuntimeError("vpcd did not take the card")
        return _time_transmits(atr, setup, apdu, count)
    finally:
        handle.stop()
        _wait_reader_empty()


def _vicc_round_trips(python: str, count: int) -> list[float]:
    """Serve vicc's own ``VirtualICC`` (our child process) on slot 0 and time READ BINARY through it."""
    proc = subprocess.Popen([python, str(PROBE), "serve", "--port", str(DEFAULT_PORT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"vicc did not start: {proc.stderr.read() if proc.stderr else ''}")
        return _time_transmits(bytes.fromhex(line), VICC_SETUP, READ16, count)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        _wait_reader_empty()


def pcsc_rows(count: int, vicc: str | None) -> list[tuple[str, list[float]]] | str:
    """Round trips (ns) of the echo card, the virtual card and vicc, or the reason they were not measured."""
    try:
        import smartcard  # noqa: F401, PLC0415
    except ImportError:
        return "pyscard not installed"
    with pcscd_in_use() as problem:
        if problem:
            return problem
        with open("/tmp/healthcard-vpcd.lock", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rows = [("echo card (floor)", _round_trips(EchoCard(), ECHO_ATR, (), READ16, count))]
            card = _card()
            rows.append(("virtual card, READ BINARY 16 B", _round_trips(card, card.atr, OUR_SETUP, READ16, count)))
            if vicc is not None:
                rows.append(("vicc `VirtualICC`, READ BINARY 16 B", _vicc_round_trips(vicc, count)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-pcsc", action="store_true", help="skip the pcscd + vpcd round trip")
    parser.add_argument("--count", type=int, default=1000, help="APDUs timed through pcscd (default 1000)")
    args = parser.parse_args()
    print(f"<!-- Python {platform.python_version()} on {platform.machine()}; {time.strftime('%Y-%m-%d')} -->")
    card = _card()
    rows = [
        ("READ BINARY 16 B, access check (00 B0 00 00 10)", rate(card.execute, READ16)),
        ("GET BALANCE (80 5C 00 02 04)", rate(card.execute, bytes.fromhex("805C000204"))),
        ("READ RECORD by SFI (00 B2 01 C4 00)", rate(card.execute, bytes.fromhex("00B201C400"))),
        ("SELECT EF by FID (00 A4 00 00 02 00 15)", rate(card.execute, bytes.fromhex("00A40000020015"))),
    ]
    print("| in-process, VirtualCard.execute | APDUs/s |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    print(f"| full purchase (INITIALIZE + DEBIT incl. terminal MAC1) | {purchase_rate():,.0f} purchases/s |")
    target = rows[0][1]
    print(f"\nREAD BINARY target ≥ 200,000/s: {'met' if target >= 200_000 else 'NOT met'} ({target:,.0f}/s).")
    vicc, why = vicc_python()
    if vicc is None:
        print(f"\nvicc: not measured (its python package `virtualsmartcard` cannot be imported: {why}).")
    else:
        ours = theirs = 0.0
        for _ in range(3):  # alternate, so both see the same load on shared CPUs
            ours = max(ours, rate(card.execute, READ16, rounds=2))
            value, vicc_py = vicc_rate(vicc, rounds=2)
            theirs = max(theirs, value)
        print("\n| READ BINARY 16 B (00 B0 00 00 10), same run, alternating | APDUs/s |\n|---|---:|")
        print(f"| ours: `VirtualCard.execute`, access check on (Python {platform.python_version()}) | {ours:,.0f} |")
        print(
            f"| vicc: `Iso7816OS.execute`, no access check (vsmartcard {vicc_version()}, Python {vicc_py}) "
            f"| {theirs:,.0f} |"
        )
        print(f"| ratio ours / vicc | {ours / theirs:.1f}× |")
    if args.no_pcsc:
        return 0
    result = pcsc_rows(args.count, vicc)
    if isinstance(result, str):
        print(f"\npcscd + vpcd: not measured ({result}).")
        return 0
    print("\n| pyscard → pcscd → vpcd → card | median ms | p90 ms | p99 ms |\n|---|---:|---:|---:|")
    for name, values in result:
        v = sorted(values)
        med, p90, p99 = statistics.median(v), v[int(len(v) * 0.9)], v[int(len(v) * 0.99)]
        print(f"| {name} | {med / 1e6:.3f} | {p90 / 1e6:.3f} | {p99 / 1e6:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
