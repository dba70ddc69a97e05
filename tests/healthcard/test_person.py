"""Person records from JSON (examples/persons) and their validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apdu.errors import DataError
from healthcard.person import Person, load_person

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "persons"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_load_and_round_trip(path: Path) -> None:
    person = load_person(path)
    assert person.holder.name
    assert len(person.card_number) == 18
    assert Person.from_json(person.to_json()) == person


def test_examples_content() -> None:
    assert len(list(EXAMPLES.glob("*.json"))) >= 3
    zw = load_person(EXAMPLES / "zhang-wei.json")
    assert zw.holder.name == "张伟" and zw.allergies[0].substance == "青霉素"
    assert zw.photo_file is not None and int.from_bytes(zw.photo_file[:2], "big") == len(zw.photo or b"")
    minimal = load_person(EXAMPLES / "ayiguli-maimaiti.json")
    assert minimal.allergies == () and minimal.addresses.address1 is None


def _base() -> dict[str, object]:
    return json.loads((EXAMPLES / "li-na.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_validation_errors() -> None:
    data = _base()
    data["holder"] = {"name": "李娜", "id_number": "310104199211080027"}
    with pytest.raises(DataError, match="check character"):
        Person.from_json(data)
    data = _base()
    data["unknown"] = 1
    with pytest.raises(DataError, match="unknown"):
        Person.from_json(data)
    data = _base()
    data["allergies"] = [{"substance": "A"}] * 4
    with pytest.raises(DataError, match="allergies"):
        Person.from_json(data)
    with pytest.raises(DataError, match="card number"):
        Person.from_json({"holder": {"name": "无证件"}})


def test_photo_limit() -> None:
    person = load_person(EXAMPLES / "li-na.json")
    Person(holder=person.holder, photo=b"\xff" * 3070)
    with pytest.raises(DataError, match="3072") as info:
        Person(holder=person.holder, photo=b"\xff" * 3071)
    assert info.value.field == "ZHAOPIAN"


def test_invalid_json_file_is_a_data_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "person.json"
    path.write_text('{\n  "XM": "张三",\n}', encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_person(path)
    assert caught.value.field == "person" and str(path) in str(caught.value) and "line 3" in str(caught.value)
