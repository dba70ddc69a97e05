"""稽核: the host's automatic audit (clearing practice, sources.md H7; issue #12).

Findings, each naming the card or terminal concerned:

* ``TAC_FAILED`` — a recorded transaction whose TAC did not verify (forged or corrupted; not booked);
* ``COUNTER_GAP`` — counters between two received ones that never arrived (a transaction the host never saw);
* ``SHADOW_MISMATCH`` — the shadow balance of an ISSUED or LOST card differs from the balance after its newest
  recorded transaction (what a terminal last read);
* ``LISTED_ACTIVITY`` — a transaction made after the card was listed (挂失/补卡/注销);
* ``SILENT_TERMINAL`` — a daemon that uploaded before but nothing for ``silent_hours``;
* ``DEAD_ACCOUNT`` — an ISSUED card registered, and without a transaction, for ``unused_months``.

:class:`AuditRunner` runs it on a timer (``audit_interval_s``) and exports the counts per kind as the gauge
``healthcard_host_audit_findings{kind=...}``; ``GetAuditReport`` runs it on demand.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections import Counter
from dataclasses import dataclass

from daemon.host.clearing import gaps_of
from daemon.host.db import LedgerDb
from daemon.host.metrics import HostMetrics

__all__ = ["KINDS", "AuditRunner", "Finding", "run_audit"]

log = logging.getLogger("healthcard-host.audit")
KINDS = ("TAC_FAILED", "COUNTER_GAP", "SHADOW_MISMATCH", "LISTED_ACTIVITY", "SILENT_TERMINAL", "DEAD_ACCOUNT")


@dataclass(frozen=True)
class Finding:
    """One finding."""

    kind: str
    card_number: str = ""
    node_id: str = ""
    detail: str = ""
    purse_factor: str = ""


def _iso(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).isoformat(timespec="microseconds")


def run_audit(
    db: LedgerDb, *, silent_hours: int = 24, unused_months: int = 12, now: _dt.datetime | None = None
) -> list[Finding]:
    """Every finding now (module docstring)."""
    now = now or _dt.datetime.now(_dt.UTC)
    findings: list[Finding] = []
    for r in db.query("SELECT card_number, purse_factor, node_id, transaction_id FROM ledger WHERE tac_status ="
                      " 'FAILED' ORDER BY entry_id"):  # fmt: skip
        findings.append(Finding("TAC_FAILED", r["card_number"], r["node_id"],
                                f"transaction {r['transaction_id']}: the TAC does not verify",
                                r["purse_factor"]))  # fmt: skip
    rows = db.query("SELECT DISTINCT card_number, purse_factor, kind, card_counter FROM ledger ORDER BY card_number,"
                    " purse_factor, kind, card_counter")  # fmt: skip
    by_card: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for r in rows:
        by_card.setdefault((r["card_number"], r["purse_factor"]), []).append((r["kind"], int(r["card_counter"])))
    for (card, factor), counters in by_card.items():
        for gap in gaps_of(counters):
            findings.append(Finding("COUNTER_GAP", card, "", f"{gap.kind} counters {gap.first_missing}.."
                                    f"{gap.last_missing} never received", factor))  # fmt: skip
    for r in db.query(
        "SELECT c.card_number, c.purse_factor, c.shadow_balance_fen AS shadow, (SELECT l.balance_after_fen FROM"
        " ledger l WHERE l.card_number = c.card_number AND l.purse_factor = c.purse_factor ORDER BY"
        " l.transaction_time DESC, l.entry_id DESC LIMIT 1) AS seen FROM cards c WHERE c.status IN ('ISSUED', 'LOST')"
    ):
        if r["seen"] is not None and int(r["seen"]) != int(r["shadow"]):
            detail = f"shadow balance {r['shadow']} fen, last seen on the card {r['seen']} fen"
            findings.append(Finding("SHADOW_MISMATCH", r["card_number"], "", detail, r["purse_factor"]))
    for r in db.query(
        "SELECT l.card_number, l.purse_factor, l.node_id, l.transaction_id, l.transaction_time FROM ledger l JOIN"
        " cards c ON c.card_number = l.card_number AND c.purse_factor = l.purse_factor WHERE c.status <> 'ISSUED'"
        " AND l.transaction_time > (SELECT MAX(e.changed_at) FROM card_events e WHERE e.card_number = l.card_number"
        " AND e.purse_factor = l.purse_factor AND e.to_status <> 'ISSUED') ORDER BY l.entry_id"
    ):
        detail = f"transaction {r['transaction_id']} at {r['transaction_time']} after the listing"
        findings.append(Finding("LISTED_ACTIVITY", r["card_number"], r["node_id"], detail, r["purse_factor"]))
    silent_since = _iso(now - _dt.timedelta(hours=silent_hours))
    for r in db.query("SELECT node_id, MAX(received_at) AS last FROM ledger GROUP BY node_id ORDER BY node_id"):
        if r["last"] < silent_since:
            findings.append(Finding("SILENT_TERMINAL", "", r["node_id"], f"last upload {r['last']}"))
    unused_since = _iso(now - _dt.timedelta(days=30 * unused_months))
    for r in db.query(
        "SELECT c.card_number, c.purse_factor FROM cards c WHERE c.status = 'ISSUED' AND c.registered_at < ? AND NOT"
        " EXISTS (SELECT 1 FROM ledger l WHERE l.card_number = c.card_number AND l.purse_factor = c.purse_factor"
        " AND l.transaction_time >= ?) ORDER BY c.card_number, c.purse_factor",
        (unused_since, unused_since),
    ):
        detail = f"no transaction for {unused_months} months"
        findings.append(Finding("DEAD_ACCOUNT", r["card_number"], "", detail, r["purse_factor"]))
    return findings


class AuditRunner:
    """Runs the audit every ``interval_s`` and exports the counts (module docstring)."""

    def __init__(self, db: LedgerDb, metrics: HostMetrics, interval_s: float) -> None:
        self._db = db
        self._metrics = metrics
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="host-audit", daemon=True)
        self.last: list[Finding] = []

    def run_once(self) -> list[Finding]:
        """Audit now, update the gauges, log a summary."""
        findings = run_audit(self._db)
        counts = Counter(f.kind for f in findings)
        for kind in KINDS:
            self._metrics.audit_findings.labels(kind=kind).set(counts.get(kind, 0))
        self.last = findings
        if findings:
            log.warning("audit: %d finding(s)", len(findings), extra={"counts": dict(counts)})
        return findings

    def start(self) -> None:
        """Start the timer thread (first run right away)."""
        if self._interval > 0:
            self._thread.start()

    def stop(self) -> None:
        """Stop the timer thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("audit run failed")
            self._stop.wait(self._interval)
