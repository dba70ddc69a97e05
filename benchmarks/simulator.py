"""Virtual-card figures: in-process APDUs per second and the round trip through pcscd + vpcd.

    .venv/bin/python -m benchmarks.simulator            # all figures (the pcscd part needs pcscd serving vpcd)
    .venv/bin/python -m benchmarks.simulator --no-pcsc  # in-process figures only

1. In-process: ``VirtualCard.execute`` for READ BINARY of 16 bytes (``00 B0 00 00 10``) on EF15 of the purse
   ADF with the access check (read right against the DF's security state), best of 5 windows; also
   GET BALANCE, READ RECORD and a full purchase (INITIALIZE + DEBIT with MAC1, MAC2, TAC and the atomic commit).
   Target ≥ 200,000 READ BINARY/s (issue #4: vsmartcard's vicc does about 60,000/s without access checks).
2. vicc (python ``virtualsmartcard``) in the same run when it is importable; otherwise the script says so.
3. Round trip per APDU through pyscard → pcscd → vpcd → :class:`~apdu.vpcd.VpcdCardServer`, for the virtual
   card and for a minimal echo card on the same stack (the floor, vpcd-latency.md ≈ 0.16 ms). Uses vpcd slot 0
   under the lock the tests use (``/tmp/healthcard-vpcd.lock.0``).
"""

from __future__ import annotations

import argparse
import fcntl
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from apdu.vpcd import VpcdCardServer, reader_name
from healthcard.cos import VirtualCard
from healthcard.issuance import DemoKeySource
from healthcard.virtual import DEMO_TERMINAL_ID, new_demo_card
from sam.crypto import Algorithm, purchase_mac1, purchase_session_key

READ16 = bytes.fromhex("00B0000010")
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


def vicc_rate() -> str:
    """vicc's READ BINARY rate, or why it cannot be measured here."""
    try:
        from virtualsmartcard.VirtualSmartcard import Iso7816OS  # type: ignore[import-not-found]  # noqa: F401, PLC0415
    except ImportError:
        return "not measured: vsmartcard's python package `virtualsmartcard` (vicc) is not installed here"
    return "vicc importable but not wired up in this script"


def _vpcd_listening() -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        if any(f.split()[1].upper().endswith(":8C7B") and f.split()[3] == "0A" for f in lines):
            return True
    return False


def _round_trips(card: object, atr: bytes, apdu: bytes, count: int) -> list[float]:
    from smartcard import scard  # noqa: PLC0415 - pyscard is optional

    reader = reader_name(0)
    handle = VpcdCardServer(card).serve_in_thread()  # type: ignore[arg-type]
    try:
        if not handle.wait_atr_served(10):
            raise RuntimeError("vpcd did not take the card")
        deadline = time.monotonic() + 10
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        while time.monotonic() < deadline:
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
            if hr == 0 and states[0][1] & scard.SCARD_STATE_PRESENT and bytes(states[0][2]) == atr:
                break
            time.sleep(0.02)
        hr, handle_card, proto = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED,
                                                    scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)  # fmt: skip
        if hr != 0:
            raise RuntimeError(f"SCardConnect failed: {hr:#x}")
        pci = scard.SCARD_PCI_T1 if proto == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        setup = [list(bytes.fromhex("00A40000021001")), list(bytes.fromhex("00B0950010"))]
        for s in setup:
            scard.SCardTransmit(handle_card, pci, s)
        raw = list(apdu)
        for _ in range(50):
            scard.SCardTransmit(handle_card, pci, raw)
        out: list[float] = []
        for _ in range(count):
            t0 = time.perf_counter_ns()
            hr, resp = scard.SCardTransmit(handle_card, pci, raw)
            out.append(time.perf_counter_ns() - t0)
        assert hr == 0 and resp[-2:] == [0x90, 0x00]
        scard.SCardDisconnect(handle_card, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(ctx)
        return out
    finally:
        handle.stop()
        time.sleep(0.3)


def pcsc_rows(count: int) -> list[tuple[str, list[float]]] | str:
    """Round trips (ns) of the echo card and the virtual card, or the reason they were not measured."""
    try:
        import smartcard  # noqa: F401, PLC0415
    except ImportError:
        return "pyscard not installed"
    if not _vpcd_listening():
        return "pcscd is not serving the vpcd reader (start it, e.g. `pcscd -f &`)"
    with open("/tmp/healthcard-vpcd.lock.0", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        echo = _round_trips(EchoCard(), ECHO_ATR, READ16, count)
        card = _card()
        virtual = _round_trips(card, card.atr, READ16, count)
    return [("echo card (floor)", echo), ("virtual card, READ BINARY 16 B", virtual)]


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
    print(f"vicc: {vicc_rate()}.")
    if args.no_pcsc:
        return 0
    result = pcsc_rows(args.count)
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
