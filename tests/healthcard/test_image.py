"""Card images: versioned JSON, atomic save, identical reload, validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcard.image import FORMAT, VERSION, ImageError, dumps, load_image, loads, save_image
from tests.healthcard.vcard_tools import fresh_card, load


def test_save_and_load_identically(tmp_path: Path) -> None:
    card = fresh_card()
    load(card, 500)
    path = tmp_path / "card.json"
    save_image(card.state, path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    assert "HEALTHCARD.DDF1" in text  # human-readable DF names
    state = load_image(path)
    assert state == card.state
    save_image(state, path)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]  # no temporary file left behind


def test_wrong_version_and_format_are_refused() -> None:
    doc = json.loads(dumps(fresh_card().state))
    with pytest.raises(ImageError, match="version"):
        loads(json.dumps({**doc, "version": 99}))
    with pytest.raises(ImageError, match="not a card image"):
        loads(json.dumps({**doc, "format": "other"}))
    with pytest.raises(ImageError, match="JSON"):
        loads("{")


def test_malformed_content_is_refused() -> None:
    doc = json.loads(dumps(fresh_card().state))
    doc["mf"]["children"][0]["kind"] = "mystery"
    with pytest.raises(ImageError, match="malformed"):
        loads(json.dumps(doc))
    doc = json.loads(dumps(fresh_card().state))
    doc["mf"]["fid"] = "1234"
    with pytest.raises(ImageError, match="MF"):
        loads(json.dumps(doc))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "absent.json")
