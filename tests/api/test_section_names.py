"""One name per card section across the card API, the ``healthcard`` command and the daemon's proto (issue #15).

The sets compared: ``healthcard.api.Section`` values, the names ``healthcard read --section`` accepts (its help and
``Section.parse``), the ``CardSection`` enum of protos/healthcard/v1/card_data.proto without its prefix, the
section fields of its ``CardData`` message and of the card API's ``CardData``, and the table in
docs/data-elements.md "Section names".
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from apdu.errors import DataError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon.convert import CARD_SECTION, SECTIONS
from healthcard.api import CardData, Section

ROOT = Path(__file__).resolve().parents[2]
API = {s.value for s in Section}


def test_the_proto_enum_names_are_the_api_names() -> None:
    proto = {cd.CardSection.Name(v).removeprefix("CARD_SECTION_").lower() for v in cd.CardSection.values()}
    assert proto - {"unspecified"} == API
    assert set(SECTIONS) == set(cd.CardSection.values()) - {cd.CARD_SECTION_UNSPECIFIED}
    for value, section in SECTIONS.items():  # every enum value is the Section of its name, and back
        assert cd.CardSection.Name(value) == "CARD_SECTION_" + section.name and CARD_SECTION[section] == value


def test_the_card_data_message_has_one_field_per_section_named_as_the_section() -> None:
    """The proto's CardData and the card API's CardData hold the same sections under the same names."""
    message = {f.name for f in cd.CardData.DESCRIPTOR.fields}
    assert message == {"card_number"} | API
    assert {f.name for f in fields(CardData)} == message  # and CardData.to_json() keys its sections by them


def test_the_cli_offers_and_accepts_exactly_those_names() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "healthcard"), "read", "--help"], capture_output=True,
                          text=True, check=True, env={"COLUMNS": "400", "PATH": ""})  # fmt: skip
    listed = re.search(r"comma-separated or repeated: ([a-z_, ]+)", " ".join(done.stdout.split()))
    assert listed is not None and set(listed.group(1).replace(" ", "").split(",")) == API
    assert {Section.parse(name).value for name in API} == API


def test_former_proto_spellings_are_aliases_and_unknown_names_list_the_valid_ones() -> None:
    assert Section.parse("clinical_flags") is Section.CLINICAL and Section.parse("special_info") is Section.SPECIAL
    assert Section.parse("OUTPATIENT_RECORDS") is Section.OUTPATIENT
    assert Section.parse("CARD_SECTION_INPATIENT") is Section.INPATIENT
    with pytest.raises(DataError, match="one of: issuer, holder"):
        Section.parse("outpatients")


def test_the_docs_table_lists_the_same_names() -> None:
    text = (ROOT / "docs" / "data-elements.md").read_text(encoding="utf-8")
    table = text.split("## Section names", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| `(CARD_SECTION_[A-Z_]+)` \|", table, re.M)
    assert {name for name, _ in rows} == API and all(enum == "CARD_SECTION_" + n.upper() for n, enum in rows)
