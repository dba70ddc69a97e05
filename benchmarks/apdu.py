"""APDU layer figures: encode/decode throughput, channel overhead, and the PC/SC round-trip floor.

    .venv/bin/python benchmarks/apdu.py            # all figures (the pcscd part needs pcscd serving vpcd)
    .venv/bin/python benchmarks/apdu.py --quick    # shorter windows (noisier)
    .venv/bin/python benchmarks/apdu.py --no-pcsc  # in-process figures only

1. Encode + decode: ``Command.encode``, ``Command.decode``, ``Response.decode`` for a case-4 short APDU
   (16 data bytes, Le) and the full round trip.
2. Channel overhead: ``Channel.transmit(command)`` against ``transport.transmit(pre-encoded bytes)`` on the same
   in-process echo card (:class:`~apdu.inprocess.InProcessTransport`). The difference is what the channel adds
   per APDU (encode, SW inspection, Response object); target ≤ 10 µs. Measured in alternating rounds, best
   round of each, so both sides see the same machine load. Also with a tracer recording every exchange.
3. Round trip through pyscard → pcscd → vpcd → :class:`~apdu.vpcd.VpcdCardServer` → echo card, raw
   ``SCardTransmit`` and the Channel over :class:`~apdu.pcsc.PcscTransport` (sources.md F7: the floor is
   about 0.16 ms on these machines; a card side without TCP_QUICKACK pays ~40 ms). Uses vpcd slot 0 under the
   same lock as the tests (``/tmp/healthcard-vpcd.lock``).
"""

from __future__ import annotations

import argparse
import fcntl
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and "apdu" would name this file, not the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from apdu.channel import Channel
from apdu.command import Command
from apdu.inprocess import InProcessTransport
from apdu.response import Response
from apdu.trace import Tracer, TraceRecorder

ATR = bytes.fromhex("3B8880014543484F4341524430")
COMMAND = Command(0x80, 0xCA, 0x01, 0x02, bytes(range(16)), le=16)
RAW = COMMAND.encode()
RESPONSE_RAW = bytes(range(16)) + b"\x90\x00"


class EchoCard:
    """Answers a case-4 short command with its own data field and 9000."""

    @property
    def atr(self) -> bytes:
        return ATR

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def execute(self, apdu: bytes) -> bytes:
        return apdu[5:-1] + b"\x90\x00" if len(apdu) > 5 else b"\x90\x00"


def per_call_ns(fn: Callable[[], object], window: float) -> float:
    """Mean nanoseconds per call over one window of at least ``window`` seconds."""
    loops = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= window * 1e9:
            return elapsed / loops
        loops *= 2 if elapsed < window * 1e8 else 4


def best_ns(fn: Callable[[], object], window: float, repeats: int = 5) -> float:
    fn()
    return min(per_call_ns(fn, window) for _ in range(repeats))


def codec_rows(window: float) -> list[tuple[str, float]]:
    return [
        ("Command.encode (case 4, 16 B)", best_ns(COMMAND.encode, window)),
        ("Command.decode (case 4, 16 B)", best_ns(lambda: Command.decode(RAW), window)),
        ("Response.decode (16 B + SW)", best_ns(lambda: Response.decode(RESPONSE_RAW), window)),
        (
            "encode + decode round trip",
            best_ns(lambda: (Command.decode(COMMAND.encode()), Response.decode(RESPONSE_RAW)), window),
        ),
    ]


def overhead_rows(window: float, rounds: int) -> tuple[float, float, float]:
    """(raw transmit ns, channel ns, traced channel ns), best of ``rounds`` alternating rounds."""
    transport = InProcessTransport(EchoCard(), name="inprocess:echo")
    transport.connect()
    channel = Channel(transport)
    recorder = TraceRecorder(maxlen=1000)
    traced = Channel(transport, tracer=Tracer(recorder))
    xmit = transport.transmit
    assert channel.transmit(COMMAND).data == COMMAND.data
    raw_best = chan_best = traced_best = float("inf")
    for _ in range(rounds):
        raw_best = min(raw_best, per_call_ns(lambda: xmit(RAW), window))
        chan_best = min(chan_best, per_call_ns(lambda: channel.transmit(COMMAND), window))
        traced_best = min(traced_best, per_call_ns(lambda: traced.transmit(COMMAND), window))
    return raw_best, chan_best, traced_best


def _wait_present(reader: str, atr: bytes, timeout: float, what: str = "the echo card") -> None:
    from smartcard import scard  # noqa: PLC0415 - optional dependency

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        try:
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
            if hr == 0 and states[0][1] & scard.SCARD_STATE_PRESENT and bytes(states[0][2]) == atr:
                return
        finally:
            scard.SCardReleaseContext(ctx)
        time.sleep(0.02)
    raise RuntimeError(f"pcscd does not report {what} in {reader!r}")


def _vpcd_listening(slot: int = 0) -> bool:
    port = f":{35963 + slot:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            text = Path(table).read_text(encoding="ascii")
        except OSError:
            continue
        if any(f.split()[1].upper().endswith(port) and f.split()[3] == "0A" for f in text.splitlines()[1:]):
            return True
    return False


def pcsc_rows(count: int) -> list[tuple[str, list[float]]] | str:
    """Per-APDU round trips in ns through pcscd + vpcd, or the reason they could not be measured."""
    try:
        from smartcard import scard  # noqa: PLC0415 - optional dependency
    except ImportError:
        return "pyscard not installed"
    if not _vpcd_listening():
        return "pcscd is not serving the vpcd reader (start it, e.g. through scripts/test.sh, or `pcscd -f &`)"
    from apdu.pcsc import PcscTransport  # noqa: PLC0415
    from apdu.vpcd import VpcdCardServer, reader_name  # noqa: PLC0415

    reader = reader_name(0)
    with open("/tmp/healthcard-vpcd.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        handle = VpcdCardServer(EchoCard()).serve_in_thread()
        try:
            if not handle.wait_atr_served(10):
                return "vpcd did not take the card"
            _wait_present(reader, ATR, 10)
            with PcscTransport(reader) as transport:
                raw_apdu = list(RAW)
                card, pci = transport._card, transport._pci  # the raw pyscard call as a baseline
                channel = Channel(transport)

                def timed(fn: Callable[[], object]) -> list[float]:
                    for _ in range(50):
                        fn()
                    out: list[float] = []
                    for _ in range(count):
                        t0 = time.perf_counter_ns()
                        fn()
                        out.append(time.perf_counter_ns() - t0)
                    return out

                raw = timed(lambda: scard.SCardTransmit(card, pci, raw_apdu))
                chan = timed(lambda: channel.transmit(COMMAND))
                return [("pyscard SCardTransmit (raw)", raw), ("Channel over PcscTransport", chan)]
        finally:
            handle.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0.05 s windows instead of 0.2 s")
    parser.add_argument("--no-pcsc", action="store_true", help="skip the pcscd + vpcd round trip")
    parser.add_argument("--count", type=int, default=2000, help="APDUs timed through pcscd (default 2000)")
    args = parser.parse_args()
    window = 0.05 if args.quick else 0.2

    print(f"<!-- Python {platform.python_version()} on {platform.machine()}; {time.strftime('%Y-%m-%d')} -->")
    print("| operation | µs per call | calls/s |")
    print("|---|---:|---:|")
    for name, ns in codec_rows(window):
        print(f"| {name} | {ns / 1000:.2f} | {1e9 / ns:,.0f} |")

    raw, chan, traced = overhead_rows(window, rounds=3 if args.quick else 7)
    print()
    print("| in-process echo card | µs per APDU | overhead over raw transmit |")
    print("|---|---:|---:|")
    print(f"| transport.transmit(pre-encoded bytes) | {raw / 1000:.2f} | — |")
    print(f"| Channel.transmit(Command) | {chan / 1000:.2f} | {(chan - raw) / 1000:+.2f} µs |")
    print(f"| Channel.transmit with a TraceRecorder | {traced / 1000:.2f} | {(traced - raw) / 1000:+.2f} µs |")
    verdict = "meets" if chan - raw <= 10_000 else "MISSES"
    print(f"\nchannel overhead {(chan - raw) / 1000:.2f} µs per APDU: {verdict} the ≤ 10 µs target")

    if not args.no_pcsc:
        rows = pcsc_rows(args.count)
        print()
        if isinstance(rows, str):
            print(f"pcscd + vpcd round trip: not measured: {rows}")
        else:
            print(f"| echo card through pcscd + vpcd ({args.count} APDUs) | median ms | mean ms | p99 ms |")
            print("|---|---:|---:|---:|")
            for name, samples in rows:
                samples.sort()
                p99 = samples[int(len(samples) * 0.99) - 1]
                print(
                    f"| {name} | {statistics.median(samples) / 1e6:.3f} | {statistics.fmean(samples) / 1e6:.3f} "
                    f"| {p99 / 1e6:.3f} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
