"""Section model and CardData JSON: stable keys, ISO dates, codes with meaning, round trips."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from apdu.errors import DataError
from healthcard.api import CardData, Section
from healthcard.api.sections import HEALTH_SECTIONS, photo_format
from healthcard.codecs import Allergy, Holder, Immunisation, InpatientRecord


def test_section_locations_follow_the_card_tree() -> None:
    assert (Section.ISSUER.df, Section.ISSUER.ef) == ("DDF1", "EF05")
    assert (Section.ALLERGIES.df, Section.ALLERGIES.ef) == ("DF02", "EF07")
    assert Section.HOLDER.chinese == "持卡人基本信息"
    assert Section.PURSE not in HEALTH_SECTIONS and len(HEALTH_SECTIONS) == 14
    assert Section.parse("occupation-marriage") is Section.OCCUPATION_MARRIAGE
    assert Section.parse("HOLDER") is Section.HOLDER
    with pytest.raises(DataError, match="unknown section"):
        Section.parse("blood")


def test_card_data_json_is_stable_and_round_trips() -> None:
    holder = Holder(name="张伟", gender="1", ethnicity="01", birth_date=dt.date(1985, 6, 15),
                    id_number="110105198506150030")  # fmt: skip
    data = CardData(
        card_number="110105198506150030", holder=holder, photo=b"\xff\xd8\xff\xe0" + bytes(4),
        allergies=(Allergy("青霉素", "皮疹"),), immunisations=(Immunisation("乙肝疫苗", dt.date(2010, 3, 1)),),
        inpatient=(InpatientRecord(1, items={64: "协和", 66: "20240101"}), InpatientRecord(2, valid=False)),
    )  # fmt: skip
    doc = data.to_json()
    assert list(doc) == ["card_number", "holder", "photo", "allergies", "immunisations", "inpatient"]
    assert doc["holder"]["gender"] == {"code": "1", "meaning": "男性"}
    assert doc["holder"]["birth_date"] == "1985-06-15"
    assert doc["photo"]["format"] == "jpeg" and doc["photo"]["size"] == 8
    assert doc["inpatient"][0] == {"slot": 1, "valid": True, "items": {"item_064": "协和", "item_066": "20240101"}}
    again = CardData.from_json(json.loads(json.dumps(doc, ensure_ascii=False)))
    assert again == data
    assert data.valid_inpatient() == (data.inpatient[0],)  # type: ignore[index]


def test_card_data_rejects_unknown_sections_and_purse_writes() -> None:
    with pytest.raises(DataError, match="unknown section"):
        CardData.from_json({"blood": {}})
    with pytest.raises(DataError, match="purse"):
        CardData.from_json({"purse": {"balance_fen": 1}})


def test_photo_format_by_magic() -> None:
    assert photo_format(b"\x89PNG\r\n\x1a\nxx") == "png"
    assert photo_format(b"BMxx") == "bmp"
    assert photo_format(b"GIF8") == "unknown"


def test_merged_keeps_sections_of_both() -> None:
    a = CardData(card_number="1", holder=Holder(name="甲"))
    b = CardData(allergies=(Allergy("花生"),))
    m = a.merged(b)
    assert m.card_number == "1" and m.holder == a.holder and m.allergies == b.allergies
