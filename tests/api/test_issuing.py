"""Issuance: a blank card becomes a readable card; batch issuance of 100 cards with a report."""

from __future__ import annotations

import json
from pathlib import Path

from healthcard.api import Section, open_virtual_session
from healthcard.api.issuing import compare_with_person, issue_batch, issue_card, load_batch
from healthcard.issuance import card_no_for, load_issuer
from healthcard.person import Person, load_person
from healthcard.virtual import blank_card, demo_issuer, load_card

ROOT = Path(__file__).resolve().parents[2]


def test_blank_card_to_readable_card() -> None:
    person = load_person(ROOT / "examples/persons/li-na.json")
    card = blank_card(card_no_for(person))
    with open_virtual_session(card=card) as s:
        result = issue_card(s, person, load_issuer(ROOT / "examples/issuer.json"))
        assert result.ok and not result.mismatches and result.apdus > 100
        data = s.read_all()
    assert data.holder == person.holder and data.card_number == person.card_number
    assert data.purse is not None and data.purse.balance_fen == 0
    assert compare_with_person(data, person) == ()
    assert compare_with_person(data.merged(data.__class__(holder=person.holder.replace(name="别人"))), person) == (
        "holder",
    )


def _persons(n: int) -> list[Person]:
    out = []
    for i in range(n):
        body = f"11010519900101{i:03d}"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
        out.append(Person.from_json({"holder": {"name": f"测试{i:03d}", "gender": "1" if i % 2 else "2",
                                                "id_number": body + check, "birth_date": "1990-01-01"},
                                     "validity": {"phone1": f"1380000{i:04d}"}}))  # fmt: skip
    return out


def test_batch_of_100_cards_with_a_report(tmp_path: Path) -> None:
    persons = _persons(100)
    seen: list[str] = []
    report = issue_batch(persons, demo_issuer(), out_dir=tmp_path, on_result=lambda r: seen.append(r.card_number))
    assert report.issued == 100 and report.failed == 0
    doc = report.to_json()
    assert doc["total"] == 100 and len({c["chip_number"] for c in doc["cards"]}) == 100
    assert seen == [p.card_number for p in persons]  # told once per card, in order (the CLI's progress line)
    # every image is a readable card
    sample = load_card(tmp_path / f"{persons[42].card_number}.json")
    with open_virtual_session(card=sample) as s:
        assert s.read({Section.HOLDER}).holder == persons[42].holder


def test_batch_reports_failures_per_card(tmp_path: Path) -> None:
    good = _persons(2)
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(
        "name,gender,id_number,validity.phone1\n"
        f"{good[0].holder.name},2,{good[0].card_number},13800000000\n"
        f"{good[1].holder.name},1,{good[1].card_number},\n",
        encoding="utf-8",
    )
    persons = load_batch(csv_file)
    assert [p.card_number for p in persons] == [g.card_number for g in good]
    json_file = tmp_path / "batch.json"
    json_file.write_text(json.dumps([p.to_json() for p in persons], ensure_ascii=False), encoding="utf-8")
    assert load_batch(json_file) == persons
    report = issue_batch(persons, demo_issuer())
    assert [r.ok for r in report.results] == [True, True]
