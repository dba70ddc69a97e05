"""APDUs and library time per business operation, next to the reference reader-DLL flow for the same data.

Reference model (WS/T 543.3 record addressing, WS/T 543.3 access rules, WS/T 543.4 commands, 健康卡应用接口规范 §6; W1's
``WSB_RWInterface``): every DLL call selects by FID from DDF1 down to the EF, authenticates per file (GET CHALLENGE +
EXTERNAL AUTHENTICATE on the card; ``80 DE``, ``80 FA`` and GET RESPONSE on the SAM), reads one READ RECORD per item and
transparent files in 0x80-byte chunks; power-on reads YYCSDM (SELECT DDF1, SELECT EF05, READ RECORD) for the city
factor. SM writes cost GET CHALLENGE + ``04 DC`` on the card and ``80 DE`` + 2 × (``80 FA`` + GET RESPONSE) on the SAM.
The purse has no DLL function: its reference is the plain JR/T 0025.1 purse commands; JR/T 0025.2 purchase with a PSAM
flow (SELECT ADF, READ EF15, INITIALIZE, DEBIT/CREDIT, PSAM EF16, ``80 70`` + GET RESPONSE, ``80 72``).

Ours: measured on the in-process virtual card and virtual SAM with :meth:`CardSession.measure`; time = median
library time of ``--runs`` repetitions (fresh card per run where the operation changes the card).

Usage: ``python benchmarks/operations.py [--runs N] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from healthcard.api import CardSession, Section, open_virtual_session
from healthcard.api.issuing import issue_card
from healthcard.codecs import InpatientRecord
from healthcard.cos.card import VirtualCard
from healthcard.image import dumps, loads
from healthcard.issuance import card_no_for
from healthcard.virtual import blank_card, demo_issuer, demo_person, new_demo_card

AUTH_CARD, AUTH_SAM = 2, 3  # GET CHALLENGE + EXTERNAL AUTHENTICATE ; 80 DE + 80 FA + GET RESPONSE
SM_CARD, SM_SAM = 2, 5  # GET CHALLENGE + 04 DC ; 80 DE + 2 × (80 FA + GET RESPONSE)
POWER_ON = 3  # SELECT DDF1, SELECT EF05, READ RECORD YYCSDM (city factor)
CHUNK = 0x80

# (selects to reach the EF from MF: DDF1 [+ DF0x] + EF, items, needs RK authentication)
TLV_FILES = {
    "DDF1/EF05": (2, 10, False), "DDF1/EF06": (2, 5, True), "DDF1/EF08": (2, 6, True),
    "DF01/EF05": (3, 4, True), "DF01/EF06": (3, 9, True), "DF01/EF07": (3, 3, True), "DF01/EF08": (3, 4, True),
    "DF02/EF05": (3, 15, True), "DF02/EF06": (3, 1, True),
}  # fmt: skip


def ref_tlv_read(name: str) -> tuple[int, int]:
    """One ``iR_xxxInfo`` call: selects, authentication, one READ RECORD per item."""
    selects, items, auth = TLV_FILES[name]
    return selects + (AUTH_CARD if auth else 0) + items, AUTH_SAM if auth else 0


def ref_read_identity() -> tuple[int, int]:
    """Power-on + iR_DDF1EF06Info."""
    card, sam = ref_tlv_read("DDF1/EF06")
    return POWER_ON + card, sam


def ref_read_all(photo_bytes: int, valid_ee: int, valid_ed: int) -> tuple[int, int]:
    """Every health-card DLL read function once (cyclic files record by record, valid DF03 records in full)."""
    card, sam = POWER_ON, 0
    for name in TLV_FILES:
        c, s = ref_tlv_read(name)
        card, sam = card + c, sam + s
    card += 2 + AUTH_CARD + math.ceil((photo_bytes + 2) / CHUNK)  # iR_DDF1EF07Info
    sam += AUTH_SAM
    for records in (3, 10):  # iR_DF02EF07Info(n), iR_DF02EF08Info(n): one call per record
        card += records * (3 + AUTH_CARD + 1)
        sam += records * AUTH_SAM
    for slots in (3, 5):  # iR_DF03EF05Info / EF06Info
        card += 3 + AUTH_CARD + slots
        sam += AUTH_SAM
    for count, size in ((valid_ee, 1639), (valid_ed, 3013)):  # iR_DF03EEInfo(n, 0, full, NO_style)
        card += count * (3 + AUTH_CARD + math.ceil(size / CHUNK))
        sam += count * AUTH_SAM
    return card, sam


def ref_write_identity() -> tuple[int, int]:
    """iW_DDF1EF06Info: select, UK_DDF1, 5 SM UPDATE RECORDs."""
    return 2 + AUTH_CARD + 5 * SM_CARD, AUTH_SAM + 5 * SM_SAM


def ref_add_visit() -> tuple[int, int]:
    """iReader_GetLastEEIndex (index read) + iW_DF03EEInfo (1639 bytes) + iW_DF03EF05Info(n)."""
    index = 3 + AUTH_CARD + 3
    area = 3 + AUTH_CARD + math.ceil(1639 / CHUNK)
    valid = 3 + AUTH_CARD + 1
    return index + area + valid, 3 * AUTH_SAM


def ref_debit() -> tuple[int, int]:
    """JR/T 0025.2 purchase with a PSAM: SELECT ADF, READ EF15, INITIALIZE, DEBIT; PSAM SELECT MF + EF16, 80 70 + C0, 80
    72."""
    return 4, 5


def ref_load() -> tuple[int, int]:
    """JR/T 0025.1 INITIALIZE FOR LOAD, CREDIT FOR LOAD: SELECT ADF, READ EF15, VERIFY PIN, INITIALIZE, CREDIT; MAC2
    from the host; the terminal ID from the PSAM's EF16 (SELECT MF + READ BINARY)."""
    return 5, 2


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(runs: int) -> list[dict[str, object]]:
    """Run every operation ``runs`` times; return one row per operation."""
    image = dumps(new_demo_card().state)

    def fresh() -> VirtualCard:
        return VirtualCard(loads(image))

    rows: list[dict[str, object]] = []

    def op(name: str, ref: tuple[int, int], body: Callable[[CardSession], object],
           setup: Callable[[CardSession], object] | None = None) -> None:  # fmt: skip
        times, counts = [], {}
        for _ in range(runs):
            with open_virtual_session(card=fresh()) as s:
                s.verify_sam_pin("123456")  # both flows verify the SAM PIN once per session
                if setup is not None:
                    setup(s)
                t0 = time.perf_counter()
                with s.measure() as n:
                    body(s)
                times.append(time.perf_counter() - t0)
                counts = dict(n)
        rows.append({"operation": name, "ref_card": ref[0], "ref_sam": ref[1],
                     "card": counts["card"], "sam": counts["sam"], "ms": _median_ms(times)})  # fmt: skip

    op("read identity (EF06)", ref_read_identity(), lambda s: s.read({Section.HOLDER}) and None)
    op("read all (health data)", ref_read_all(0, 0, 0), lambda s: s.read(set(Section) - {Section.PURSE}) and None)

    def visits(s: CardSession) -> None:
        s.add_visit(InpatientRecord(1, items={64: "协和医院", 66: "20240101"}))

    op("read all, 1 in-patient record", ref_read_all(0, 1, 0),
       lambda s: s.read(set(Section) - {Section.PURSE}) and None, setup=visits)  # fmt: skip
    holder = demo_person().holder.replace(name="张伟伟", birth_date=None, gender="2", ethnicity="02",
                                          id_number="110105198506150014")  # fmt: skip
    op("write identity (5 items, SM)", ref_write_identity(),
       lambda s: s.write_section(Section.HOLDER, holder))  # fmt: skip
    op("write in-patient record", ref_add_visit(), visits)
    op("debit", ref_debit(), lambda s: s.debit(100) and None, setup=lambda s: s.card_number and None)
    op("load (host MAC2)", ref_load(), lambda s: s.load(100, authoriser=_host()) and None,
       setup=lambda s: s.card_number and None)  # fmt: skip
    rows.append(_issue(runs))
    return rows


def _host() -> Callable[..., bytes]:
    from healthcard.api import DemoLoadAuthoriser  # noqa: PLC0415

    return DemoLoadAuthoriser.from_demo_keys()


def _issue(runs: int) -> dict[str, object]:
    """Issue = the personalisation script (same APDUs in both flows) + verification by reading back."""
    person = demo_person()
    times, card, sam = [], 0, 0
    for _ in range(runs):
        with open_virtual_session(card=blank_card(card_no_for(person))) as s:
            s.verify_sam_pin("123456")
            t0 = time.perf_counter()
            with s.measure() as n:
                result = issue_card(s, person, demo_issuer(), issue_date=dt.date(2025, 1, 1))
            times.append(time.perf_counter() - t0)
            card, sam = n["card"], n["sam"]
            assert result.ok
    with open_virtual_session(card=new_demo_card(issue_date=dt.date(2025, 1, 1))) as s:
        s.verify_sam_pin("123456")
        with s.measure() as r:
            s.read()
    script = card - r["card"]
    ref_card, ref_sam = ref_read_all(0, 0, 0)
    ref_card += 4  # the purse part of the read-back: SELECT ADF, READ EF15, GET BALANCE (+ SELECT MF)
    return {"operation": "issue (personalise + read-back)", "ref_card": script + ref_card, "ref_sam": ref_sam,
            "card": card, "sam": sam, "ms": _median_ms(times)}  # fmt: skip


def markdown(rows: list[dict[str, object]]) -> str:
    """The table for docs/performance.md."""
    lines = [
        "| operation | reference DLL flow: card / SAM APDUs | ours: card / SAM APDUs | library time (ms, median) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['operation']} | {r['ref_card']} / {r['ref_sam']} | {r['card']} / {r['sam']} | "
                     f"{float(r['ms']):.2f} |")  # type: ignore[arg-type]  # fmt: skip
    return "\n".join(lines)


SECTION_START = "## Card operations"


def write_docs(table: str, runs: int, path: Path) -> None:
    """Replace (or append) the "Card operations" section of docs/performance.md, leaving the others alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    body = (
        f"{SECTION_START}\n\n"
        "Measured by `benchmarks/operations.py` on the in-process virtual card and virtual SAM "
        f"(median of {runs} runs; APDUs include GET RESPONSE exchanges; the SAM PIN verification, once per "
        "session in both flows, is left out). The reference column models the reader-DLL flow of "
        "健康卡应用接口规范 §6 for the same data (SELECT by FID per call, one READ RECORD per item, an "
        "authentication per file, 0x80-byte binary chunks, YYCSDM read at power-on) and, for the purse, the "
        "plain PSAM purchase flow of JR/T 0025.2. Debit and load assume the card number is already known (the HIS "
        "read the card first).\n\n"
        f"{table}\n\n"
        "Where ours is smaller: SFI reads (no SELECT EF), one SELECT and one authentication per DF instead of per "
        "file, 256-byte READ BINARY / 255-byte UPDATE BINARY chunks, DF03 records of free slots skipped, "
        "unchanged records skipped on write (not used in the rows above).\n"
    )
    start = text.find(SECTION_START)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(SECTION_START))
        text = text[:start] + body + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    """Print the table; ``--write-docs`` updates docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = measure(args.runs)
    table = markdown(rows)
    print(table)
    if args.write_docs:
        write_docs(table, args.runs, Path(__file__).resolve().parents[1] / "docs" / "performance.md")


if __name__ == "__main__":
    main()
