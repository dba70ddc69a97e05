"""Issuing cards: personalise a blank card from a person record and an issuer configuration, then verify it by
reading it back; batch issuance from a CSV or JSON list with a progress bar and a per-card report.

The APDU script is :func:`healthcard.issuance.plan` / :func:`~healthcard.issuance.personalise` (pboc-purse.md §8,
health-card.md §11.1, docs/profiles.md "Personalisation flow"); the read-back goes through the normal card API
with the SAM, so an issued card is proven readable with the keys a terminal will use.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from apdu.errors import DataError, HealthCardError
from healthcard.api.sections import CardData, Section
from healthcard.api.session import CardSession, open_virtual_session
from healthcard.issuance import DemoKeySource, IssuerConfig, KeySource, card_no_for, personalise
from healthcard.person import Person
from healthcard.virtual import blank_card, save_card

__all__ = [
    "BatchReport",
    "IssueResult",
    "compare_with_person",
    "issue_batch",
    "issue_card",
    "load_batch",
]


@dataclass(frozen=True)
class IssueResult:
    """One card: its KH, cardNo, APDUs sent to the card, whether the read-back matched, and any error."""

    card_number: str
    chip_number: str
    ok: bool
    apdus: int = 0
    seconds: float = 0.0
    mismatches: tuple[str, ...] = ()
    error: str = ""
    image: str = ""

    def to_json(self) -> dict[str, Any]:
        """Stable JSON row of the report."""
        return {
            "card_number": self.card_number, "chip_number": self.chip_number, "ok": self.ok, "apdus": self.apdus,
            "seconds": round(self.seconds, 4), "mismatches": list(self.mismatches), "error": self.error,
            "image": self.image,
        }  # fmt: skip


@dataclass
class BatchReport:
    """Results of a batch, in input order."""

    results: list[IssueResult] = field(default_factory=list)

    @property
    def issued(self) -> int:
        """Cards issued and verified."""
        return sum(r.ok for r in self.results)

    @property
    def failed(self) -> int:
        """Cards that failed (personalisation error or read-back mismatch)."""
        return len(self.results) - self.issued

    def to_json(self) -> dict[str, Any]:
        """``{"total", "issued", "failed", "cards": [...]}``."""
        return {"total": len(self.results), "issued": self.issued, "failed": self.failed,
                "cards": [r.to_json() for r in self.results]}  # fmt: skip


def compare_with_person(data: CardData, person: Person) -> tuple[str, ...]:
    """Sections whose read-back differs from the person record (empty = the card holds the person)."""
    out: list[str] = []
    for section in (Section.HOLDER, Section.ADDRESSES, Section.CONTACTS, Section.OCCUPATION_MARRIAGE,
                    Section.DOCUMENTS, Section.CLINICAL, Section.SPECIAL):  # fmt: skip
        if data.get(section) != getattr(person, section.value):
            out.append(section.value)
    validity = data.validity
    if validity is None or any(
        getattr(validity, k) != getattr(person.validity, k) for k in ("phone1", "phone2", "payment_method1")
    ):
        out.append("validity")
    if (data.photo or None) != person.photo:
        out.append("photo")
    if tuple(reversed(data.allergies or ())) != person.allergies:
        out.append("allergies")
    if tuple(reversed(data.immunisations or ())) != person.immunisations:
        out.append("immunisations")
    if data.issuer is None or data.issuer.card_number != person.card_number:
        out.append("issuer")
    return tuple(out)


def issue_card(
    session: CardSession,
    person: Person,
    issuer: IssuerConfig,
    *,
    keys: KeySource | None = None,
    issue_date: _dt.date | None = None,
    verify: bool = True,
) -> IssueResult:
    """Personalise the blank card of ``session`` and (with ``verify``) read everything back and compare."""
    started = time.perf_counter()
    access = session.access
    before = session.counts["card"]
    try:
        personalise(session.card_channel, session.profile, person, issuer, keys or DemoKeySource(),
                    atr=access.atr, issue_date=issue_date)  # fmt: skip
        session.card_transport.reset()
        access.at_mf()
        mismatches: tuple[str, ...] = ()
        if verify:
            mismatches = compare_with_person(session.read(), person)
    except HealthCardError as exc:
        return IssueResult(person.card_number, access.card_no.hex().upper(), False,
                           session.counts["card"] - before, time.perf_counter() - started, error=str(exc))  # fmt: skip
    return IssueResult(person.card_number, access.card_no.hex().upper(), not mismatches,
                       session.counts["card"] - before, time.perf_counter() - started, mismatches)  # fmt: skip


# --- batch input ----------------------------------------------------------------------------------------------

_BARE_HOLDER = {"name", "gender", "ethnicity", "birth_date", "id_number"}


def _row_to_person(row: Mapping[str, str]) -> Person:
    """CSV row → person: columns ``section.field`` (``validity.phone1``) or bare holder fields (``name``)."""
    doc: dict[str, Any] = {}
    for column, value in row.items():
        if column is None or value is None or value.strip() == "":
            continue
        key = column.strip()
        section, _, name = key.rpartition(".")
        if not section:
            if key not in _BARE_HOLDER:
                raise DataError(f"CSV column {key!r}: use section.field (e.g. validity.phone1)", field=key)
            section, name = "holder", key
        if section in ("allergies", "immunisations"):
            raise DataError("allergies/immunisations are not supported in CSV: use JSON", field=key)
        raw: Any = value.strip()
        if raw.lower() in ("true", "false"):
            raw = raw.lower() == "true"
        doc.setdefault(section, {})[name] = raw
    return Person.from_json(doc)


def load_batch(path: str | Path) -> list[Person]:
    """Persons from a JSON list (person records) or a CSV file with a header row (UTF-8, BOM allowed)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    if p.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise DataError(f"{p}: a JSON list of person records is expected", field="batch")
        return [Person.from_json(item) for item in data]
    return [_row_to_person(row) for row in csv.DictReader(text.splitlines())]


# --- progress -------------------------------------------------------------------------------------------------


def _progress(items: Sequence[Person], enabled: bool, stream: TextIO) -> Iterator[Person]:
    """tqdm or rich when installed, else a plain ``n/total`` line on ``stream``."""
    if not enabled:
        yield from items
        return
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        yield from tqdm(items, desc="issuing", unit="card", file=stream)
        return
    except ImportError:
        pass
    total = len(items)
    for n, item in enumerate(items, 1):
        yield item
        stream.write(f"\rissuing {n}/{total}")
        stream.flush()
    stream.write("\n")


def issue_batch(
    persons: Iterable[Person],
    issuer: IssuerConfig,
    *,
    out_dir: str | Path | None = None,
    keys: KeySource | None = None,
    issue_date: _dt.date | None = None,
    progress: bool = False,
    stream: TextIO | None = None,
    on_result: Callable[[IssueResult], None] | None = None,
    sam_image: str | Path | None = None,
) -> BatchReport:
    """Issue one virtual blank card per person (saved as ``out_dir/<KH>.json`` when ``out_dir`` is given)."""
    items = list(persons)
    report = BatchReport()
    target = Path(out_dir) if out_dir is not None else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    for person in _progress(items, progress, stream or sys.stderr):
        card = blank_card(card_no_for(person))
        with open_virtual_session(card=card, sam_image=sam_image) as s:
            result = issue_card(s, person, issuer, keys=keys, issue_date=issue_date)
        if target is not None and result.ok:
            image = target / f"{person.card_number}.json"
            save_card(card, image)
            result = IssueResult(**{**result.__dict__, "image": str(image)})
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report
