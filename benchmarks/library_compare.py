"""Library time of read-all and Debit, and the simulators' time per APDU, in this checkout against another one,
alternately in the same minutes.

Each round runs a fresh interpreter per checkout (this one's venv, the checkout as the working directory and
first on ``sys.path``) that opens one in-process virtual session and times ``--calls`` ``read_all()`` and
``--calls`` ``debit(1)`` back to back after a warm-up, then ``VirtualCard.execute`` of the demo card for the
APDUs of benchmarks/simulator.py and ``VirtualSam.execute`` for two SAM APDUs (best of 5 loops of 5,000 calls
each, in CPU time of the process: on shared CPUs the wall clock of so short a loop mostly measures the other
jobs); the checkouts alternate for ``--rounds`` rounds and the table gives the median of the rounds' medians
(the APDUs: of the rounds' bests) and the ratio. The demo card's in-patient slots are free, so read-all also
builds their empty records (issue #13: each built its DF03 area through a new ``construct`` Struct).

    git archive <commit> | tar -x -C /tmp/before
    .venv/bin/python -m benchmarks.library_compare /tmp/before [--rounds 7] [--calls 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

#: (row, simulator, APDU): the virtual card's as in benchmarks/simulator.py (EF15 of the purse ADF current), and
#: two of the virtual SAM's.
APDUS = (
    ("card READ BINARY 16 B (00 B0 00 00 10), µs/APDU", "card", "00B0000010"),
    ("card GET BALANCE (80 5C 00 02 04), µs/APDU", "card", "805C000204"),
    ("card READ RECORD by SFI (00 B2 01 C4 00), µs/APDU", "card", "00B201C400"),
    ("card SELECT EF by FID (00 A4 00 00 02 00 15), µs/APDU", "card", "00A40000020015"),
    ("SAM GET CHALLENGE (00 84 00 00 08), µs/APDU", "sam", "0084000008"),
    ("SAM SELECT MF (00 A4 00 00 02 3F 00), µs/APDU", "sam", "00A40000023F00"),
)

_PROBE = (
    f"APDUS = {APDUS!r}\n"
    + """
import json, statistics, sys, time
from healthcard.api import open_virtual_session
n = int(sys.argv[1])
out = {}
with open_virtual_session() as s:
    for name, call in (("read all", s.read_all), ("debit 1 fen", lambda: s.debit(1))):
        call()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times) * 1000
    before = s.counts
    s.read_all()
    out["read all APDUs (card, SAM)"] = [s.counts["card"] - before["card"], s.counts["sam"] - before["sam"]]
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam
simulators = {"card": new_demo_card(), "sam": VirtualSam()}
for setup in ("00A40000021001", "00B0950010"):
    assert simulators["card"].execute(bytes.fromhex(setup))[-2:] == b"\\x90\\x00"
for name, target, apdu in APDUS:
    raw, execute = bytes.fromhex(apdu), simulators[target].execute
    assert execute(raw)[-2:] == b"\\x90\\x00"
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(5000):
            execute(raw)
        best = min(best, time.process_time() - t)
    out[name] = best / 5000 * 1e6
print(json.dumps(out))
"""
)


def _probe(tree: Path, calls: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PROBE, str(calls)], cwd=tree, check=True, capture_output=True,
                          text=True)  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("other", type=Path, help="the other checkout (e.g. the commit before a change)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=40)
    args = ap.parse_args()
    trees = {"this": Path(__file__).resolve().parents[1], "other": args.other.resolve()}
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_probe(tree, args.calls))
    print(f"{args.rounds} alternating rounds of {args.calls} calls; median of the rounds' medians, ms")
    print(f"| operation | this ({trees['this']}) | other ({trees['other']}) | this / other |\n|---|---:|---:|---:|")
    for op in ("read all", "debit 1 fen", *(name for name, _, _ in APDUS)):
        this = statistics.median(float(r[op]) for r in runs["this"])  # type: ignore[arg-type]
        other = statistics.median(float(r[op]) for r in runs["other"])  # type: ignore[arg-type]
        print(f"| {op} | {this:.3f} | {other:.3f} | {this / other:.2f} |")
    print(f"| read all APDUs (card, SAM) | {runs['this'][0]['read all APDUs (card, SAM)']} "
          f"| {runs['other'][0]['read all APDUs (card, SAM)']} | |")  # fmt: skip


if __name__ == "__main__":
    main()
