"""Issuing cards: personalise a blank card from a person record and an issuer configuration, then verify it by
reading it back; batch issuance from a CSV or JSON list with a per-card report (``on_result`` per card).

The APDU script is :func:`healthcard.issuance.plan` / :func:`~healthcard.issuance.personalise` (FMCOS 2.0 issuance,
sources.md V1, 健康卡个人化管理办法, docs/profiles.md "Personalisation flow"); the read-back goes through the normal
card API with the SAM, so an issued card is proven readable with the keys a terminal will use.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apdu.errors import DataError, HealthCardError
from apdu.trace import Tracer
from healthcard.api.sections import CardData, Section
from healthcard.api.session import CardSession, open_virtual_session
from healthcard.issuance import DemoKeySource, IssuerConfig, KeySource, new_chip_number, personalise
from healthcard.person import Person
from healthcard.virtual import blank_card, save_card

__all__ = [
    "BatchInput",
    "BatchReport",
    "BatchRowError",
    "IssueResult",
    "compare_with_person",
    "issue_batch",
    "issue_card",
    "load_batch",
    "read_batch",
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


@dataclass(frozen=True)
class BatchRowError:
    """A batch row that is not a valid person record: where it is (``line 4`` of a CSV, ``item 3`` of a JSON
    list, both counted from 1), the data element or column at fault, and why."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + (f" (field {self.field})" if self.field else "")


@dataclass(frozen=True)
class BatchInput:
    """A batch file read row by row: the valid persons and the rows that are not."""

    persons: tuple[Person, ...]
    errors: tuple[BatchRowError, ...]


def read_batch(path: str | Path) -> BatchInput:
    """Every row of a JSON list (person records) or a CSV file with a header row (UTF-8, BOM allowed).

    A bad row does not stop the reading: it is reported in :attr:`BatchInput.errors` with its position and field,
    so a caller can name every bad row at once, or issue the valid ones and report the rest. A file that is not
    a batch at all (not a JSON list) raises :class:`DataError`.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    persons: list[Person] = []
    errors: list[BatchRowError] = []
    rows: Iterable[tuple[str, Callable[[], Person]]]
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})", field="batch") from exc
        if not isinstance(data, list):
            raise DataError(f"{p}: a JSON list of person records is expected", field="batch")
        rows = ((f"item {n}", _json_item(item)) for n, item in enumerate(data, 1))
    else:
        reader = csv.DictReader(text.splitlines())
        rows = ((f"line {reader.line_num}", _csv_row(row)) for row in reader)
    for where, make in rows:
        try:
            persons.append(make())
        except DataError as exc:
            errors.append(BatchRowError(where, exc.field, exc.message))
        except ValueError as exc:  # a value the codecs could not parse (a date, a number)
            errors.append(BatchRowError(where, "", str(exc)))
    return BatchInput(tuple(persons), tuple(errors))


def _json_item(item: Any) -> Callable[[], Person]:
    def make() -> Person:
        if not isinstance(item, dict):
            raise DataError("a person record (JSON object) is expected", field="")
        return Person.from_json(item)

    return make


def _csv_row(row: Mapping[str, str]) -> Callable[[], Person]:
    return lambda: _row_to_person(row)


def load_batch(path: str | Path) -> list[Person]:
    """Persons from a batch file (:func:`read_batch`); the first bad row raises :class:`DataError` naming it."""
    batch = read_batch(path)
    if batch.errors:
        first = batch.errors[0]
        raise DataError(f"{Path(path)} {first}", field=first.field)
    return list(batch.persons)


def issue_batch(
    persons: Iterable[Person],
    issuer: IssuerConfig,
    *,
    out_dir: str | Path | None = None,
    keys: KeySource | None = None,
    issue_date: _dt.date | None = None,
    on_result: Callable[[IssueResult], None] | None = None,
    sam_image: str | Path | None = None,
    overwrite: bool = False,
    tracer: Tracer | None = None,
) -> BatchReport:
    """Issue one virtual blank card per person (saved as ``out_dir/<KH>.json`` when ``out_dir`` is given).

    An image already in ``out_dir`` (an earlier run, or the same card number twice in the batch) is not
    overwritten unless ``overwrite``: that person's result fails with an error saying so, and no card is made.
    ``on_result`` is called after each person (a command line draws its progress from it; the library prints
    nothing).
    """
    items = list(persons)
    report = BatchReport()
    target = Path(out_dir) if out_dir is not None else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    for person in items:
        chip = new_chip_number()  # a fresh chip per card: never derived from the KH (two cards, two key sets)
        card = blank_card(chip)
        if target is not None and not overwrite and (target / f"{person.card_number}.json").exists():
            result = IssueResult(
                person.card_number,
                chip.hex().upper(),
                False,
                error=f"{target / f'{person.card_number}.json'} exists (use --force to overwrite)",
            )
            report.results.append(result)
            if on_result is not None:
                on_result(result)
            continue
        with open_virtual_session(card=card, sam_image=sam_image, tracer=tracer) as s:
            result = issue_card(s, person, issuer, keys=keys, issue_date=issue_date)
        if target is not None and result.ok:
            image = target / f"{person.card_number}.json"
            save_card(card, image)
            result = IssueResult(**{**result.__dict__, "image": str(image)})
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report
