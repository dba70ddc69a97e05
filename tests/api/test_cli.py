"""CLI card commands through main(argv), on the demo card persisted in a temporary state directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcard.cli._card_common import display_width, table
from healthcard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "healthcard"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_display_width_aligns_chinese() -> None:
    assert display_width("张伟") == 4 and display_width("ab") == 2 and display_width("（演示）") == 8
    lines = table([["姓名", "张伟"], ["XB", "1"]], ["字段", "值"]).splitlines()
    assert [display_width(line.split("  ")[0]) for line in lines[2:]] == [4, 2]
    assert lines[2].index("张伟") == lines[3].index("1") - 2  # both value columns start at display column 6


def test_read_json_and_sections(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    code, out, _ = run(capsys, "read", "--json", "--section", "holder,allergies")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["card_number", "holder", "allergies"]
    assert doc["holder"]["name"] == "张伟" and doc["card_number"] == "110105198506150030"
    assert (state / "demo-card.json").exists() and (state / "demo-sam.json").exists()
    code, out, _ = run(capsys, "read")
    assert code == 0 and "持卡人基本信息 (holder)" in out and "电子钱包 (purse)" in out and "100.00 元" in out


def test_load_then_balance_in_a_second_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "load", "--amount", "2500", "--json")[0] == 0
    code, out, _ = run(capsys, "balance", "--json")
    assert json.loads(out) == {"card_number": "110105198506150030", "balance_fen": 12_500}
    code, out, _ = run(capsys, "debit", "--amount", "300", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["balance_fen"] == 12_200 and len(doc["tac"]) == 8 and doc["terminal_serial"] == 1
    code, out, _ = run(capsys, "debit", "--amount", "300")
    assert "终端交易序号  2" in out and "余额(分)      11900" in out


def test_unload_part_then_the_whole_balance(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "unload", "--amount", "2500", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["balance_fen"] == 7_500 and len(doc["tac"]) == 8  # tac: the card's answer MAC
    code, out, _ = run(capsys, "unload")
    assert code == 0 and "余额(分)" in out and " 0" in out
    assert json.loads(run(capsys, "balance", "--json")[1])["balance_fen"] == 0
    code, _, err = run(capsys, "unload")
    assert code == 1 and "nothing to unload" in err and "[data]" in err


def test_debit_errors_are_reported_with_their_layer(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "debit", "--amount", "99999999")
    assert code == 1 and "9401" in err and "[card]" in err


def test_write_from_json_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "read", "--json", "--section", "holder")
    doc = json.loads(out)
    doc["holder"]["name"] = "张伟伟"
    doc["allergies"] = [{"substance": "花生", "reaction": "休克"}]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(capsys, "write", "--file", str(data), "--json")
    assert code == 0 and json.loads(out) == {"written": ["holder", "allergies"]}
    code, out, _ = run(capsys, "read", "--json", "--section", "holder", "--section", "allergies")
    doc = json.loads(out)
    assert doc["holder"]["name"] == "张伟伟" and doc["allergies"][0]["substance"] == "花生"


def test_issue_person_and_batch(capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path) -> None:
    code, out, _ = run(capsys, "issue", "--person", str(ROOT / "examples/persons/li-na.json"),
                       "--issuer", str(ROOT / "examples/issuer.json"), "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = run(capsys, "read", "--json", "--section", "holder")
    assert json.loads(out)["holder"]["name"] == "李娜"
    batch = tmp_path / "batch.json"
    persons = [json.loads((ROOT / f"examples/persons/{n}.json").read_text("utf-8"))
               for n in ("li-na", "zhang-wei", "ayiguli-maimaiti")]  # fmt: skip
    batch.write_text(json.dumps(persons, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(capsys, "issue", "--batch", str(batch), "--out-dir", str(tmp_path / "cards"))
    assert code == 0 and "issued 3, failed 0" in out
    assert len(list((tmp_path / "cards").glob("*.json"))) == 3


def test_trace_shows_apdus_with_secrets_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trace", "read", "--section", "holder")
    assert code == 0 and "张伟" in out
    assert "APDUs ---" in err and "00 82 00 04 11 **" in err  # EXTERNAL AUTHENTICATE cryptogram hidden
    assert "00 20 00 00 03 ** ** **" in err  # the SAM PIN hidden


def test_readers_lists_or_explains(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "readers", "--json")
    if code == 0:
        assert isinstance(json.loads(out)["readers"], list)
    else:  # no PC/SC service: a reader-layer error, not a traceback
        assert code == 1 and "[reader]" in err
