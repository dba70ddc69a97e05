"""``healthcard sam new`` and ``healthcard sam info`` (serve is covered by the vpcd e2e tests' server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcard.cli.main import main
from sam.keystore import load_demo_keys, save_keystore
from sam.virtual import load_sam_image
from tests.sam.sam_helpers import vector_store


def test_new_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sam.json"
    assert main(["sam", "new", "--out", str(out), "--terminal-id", "015300029D95", "--pin", "2468"]) == 0
    image = load_sam_image(out)
    assert image.terminal_id == bytes.fromhex("015300029D95") and image.pin == "2468"
    assert image.keys == load_demo_keys()
    capsys.readouterr()
    assert main(["sam", "info", "--sam", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    data = json.loads(text)
    assert data["terminal_id"] == "015300029D95" and data["terminal_serial"] == 0 and data["pin_tries_left"] == 3
    assert len(data["keys"]) == 25
    for entry in image.keys:
        assert entry.value.hex().upper() not in text
    assert image.sm2_private_key.hex().upper() not in text and "2468" not in text
    assert main(["sam", "info", "--sam", str(out)]) == 0
    human = capsys.readouterr().out
    assert "015300029D95" in human and "PIN tries left    3 of 3" in human
    for entry in image.keys:
        assert entry.value.hex().upper() not in human


def test_new_with_keys_and_refusal_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    save_keystore(vector_store(), keys)
    out = tmp_path / "sam.json"
    assert main(["sam", "new", "--out", str(out), "--keys", str(keys)]) == 0
    assert load_sam_image(out).terminal_id == bytes.fromhex("001122334455")
    assert main(["sam", "new", "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["sam", "new", "--out", str(out), "--force", "--terminal-id", "0011"]) == 1
    assert main(["sam", "new", "--out", str(out), "--force"]) == 0
