"""``healthcard sim new`` / ``sim show`` (healthcard/cli/sim_cmd.py; docs/virtual-card.md).

The cards written by ``sim new`` are read back with plain APDUs on :func:`healthcard.virtual.load_card`.
``sim serve`` is tested end to end through pcscd in tests/e2e/test_sim_serve_e2e.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from healthcard.cli.main import main
from healthcard.codecs import IssuerData, PurseApplicationData, PurseDetail
from healthcard.fs import DF, RecordEF, TransparentEF
from healthcard.image import FORMAT, VERSION
from healthcard.issuance import DemoKeySource
from healthcard.virtual import TRANSPORT_KEY, demo_person, load_card, new_demo_card, save_card

ROOT = Path(__file__).resolve().parents[2]
OK = b"\x90\x00"


def _x(card_path: Path, *apdus: str) -> list[bytes]:
    card = load_card(card_path)
    return [card.execute(bytes.fromhex(a.replace(" ", ""))) for a in apdus]


def _node(df: DF, *path: int) -> object:
    node: object = df
    for fid in path:
        assert isinstance(node, DF)
        node = node.children[fid]
    return node


def test_new_with_issue_date_and_balance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.json"
    assert main(["sim", "new", "--out", str(out), "--issue-date", "2024-01-15", "--balance", "12345"]) == 0
    assert f"wrote {out}: card, balance 12345 fen, ATR 3B6D000048" in capsys.readouterr().out
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == FORMAT and doc["version"] == VERSION and doc["journal"] == {"valid": False, "ops": []}
    select, ef15, balance = _x(out, "00A40000021001", "00B095001E", "805C000204")
    assert select[-2:] == OK and balance == (12_345).to_bytes(4, "big") + OK
    purse = PurseApplicationData.from_bytes(ef15[:-2])
    assert purse.start_date == dt.date(2024, 1, 15) and purse.expiry_date == dt.date(2034, 1, 15)
    card = load_card(out)
    ef05 = _node(card.state.mf, 0xDDF1, 0xEF05)
    assert isinstance(ef05, RecordEF) and IssuerData.from_records(ef05.records).issue_date == dt.date(2024, 1, 15)
    detail = _node(card.state.mf, 0x1001, 0x0018)
    assert isinstance(detail, RecordEF)
    record = PurseDetail.from_bytes(detail.records[0])
    assert record is not None and record.amount == 12_345 and record.when == dt.datetime(2024, 1, 15)


def test_new_without_issue_date_uses_today(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    before = dt.date.today()
    assert main(["sim", "new", "--out", str(out), "--balance", "0"]) == 0
    card = load_card(out)
    ef05 = _node(card.state.mf, 0xDDF1, 0xEF05)
    assert isinstance(ef05, RecordEF)
    assert IssuerData.from_records(ef05.records).issue_date in (before, dt.date.today())
    assert _x(out, "00A40000021001", "805C000204")[1] == bytes(4) + OK
    detail = _node(card.state.mf, 0x1001, 0x0018)
    assert isinstance(detail, RecordEF) and detail.records == []  # nothing loaded with --balance 0


def test_issue_date_makes_the_card_data_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        assert main(["sim", "new", "--out", str(path), "--issue-date", "2023-07-01"]) == 0
    card_a, card_b = load_card(a), load_card(b)
    for fids in ((0xDDF1, 0xEF05), (0xDDF1, 0xEF08), (0x1001, 0x0018)):
        node_a, node_b = _node(card_a.state.mf, *fids), _node(card_b.state.mf, *fids)
        assert isinstance(node_a, RecordEF) and isinstance(node_b, RecordEF) and node_a.records == node_b.records
    ef15_a, ef15_b = _node(card_a.state.mf, 0x1001, 0x0015), _node(card_b.state.mf, 0x1001, 0x0015)
    assert isinstance(ef15_a, TransparentEF) and isinstance(ef15_b, TransparentEF) and ef15_a.data == ef15_b.data


def test_new_blank_and_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blank = tmp_path / "blank.json"
    assert main(["sim", "new", "--out", str(blank), "--blank"]) == 0
    assert "blank card" in capsys.readouterr().out
    card = load_card(blank)
    assert card.state.mf.children == {} and card.state.mf.key_file is not None
    assert card.state.mf.key_file.keys[(0x39, 0x00)].value == TRANSPORT_KEY
    person = tmp_path / "li-na.json"
    assert main(["sim", "new", "--out", str(person), "--person", str(ROOT / "examples" / "persons" / "li-na.json"),
                 "--issue-date", "2024-02-29"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sim", "show", str(person)]) == 0
    shown = capsys.readouterr().out
    name = json.loads((ROOT / "examples" / "persons" / "li-na.json").read_text(encoding="utf-8"))["holder"]["name"]
    assert f"name = {name}" in shown and "issue_date = 2024-02-29" in shown


def test_new_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.json"
    out.write_text("keep me", encoding="utf-8")
    assert main(["sim", "new", "--out", str(out), "--blank"]) == 1
    assert "exists (use --force" in capsys.readouterr().err and out.read_text(encoding="utf-8") == "keep me"
    assert main(["sim", "new", "--out", str(out), "--blank", "--force"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["format"] == FORMAT
    assert main(["sim", "new", "--out", str(tmp_path / "x.json"), "--balance", "-1"]) == 1
    assert "--balance" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit) as exc:
        main(["sim", "new", "--out", str(tmp_path / "y.json"), "--issue-date", "2024-02-30"])
    assert exc.value.code == 2 and "not a date YYYY-MM-DD: '2024-02-30'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sim", "new", "--out", str(tmp_path / "z.json"), "--blank", "--person", "p.json"])


def test_show_prints_tree_and_decoded_data_but_no_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.json"
    card = new_demo_card(issue_date=dt.date(2024, 1, 15), balance_fen=777)
    save_card(card, out)
    assert main(["sim", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    assert lines[0] == f"ATR {card.atr.hex().upper()}"
    assert lines[1] == "DF 3F00 '1PAY.SYS.DDF01' [active]"
    assert "  DF 1001 'HCARD.EPURSE' [active]" in lines
    assert "    EF 0002 purse (EP) balance 777 fen, online 1, offline 0, overdraft 0" in lines
    assert "        name = 张伟" in lines and "        issue_date = 2024-01-15" in lines
    assert "read F1 (states 1..F), write 22 (states 2..2), SM enc_mac" in shown
    assert "3A/00 tries 3/3" in shown
    ef15 = _node(card.state.mf, 0x1001, 0x0015)
    assert isinstance(ef15, TransparentEF)
    factor = ef15.data[12:20]
    for name in ("purchase", "load", "tac", "external_auth", "line_protection"):
        assert DemoKeySource().card_key(name, factor, None).hex().upper() not in shown.upper()
    validity = demo_person().validity
    assert validity is not None and validity.phone2  # the demo phone number holds the PIN's digits: not the PIN
    assert "123456" not in shown.replace(validity.phone2, "")  # the PIN


def test_show_marks_read_sm_files_and_protected_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.healthcard.test_cos_sm_reads import _protected_files_card  # noqa: PLC0415

    card = _protected_files_card()
    assert card.state.mf.key_file is not None
    keys = card.state.mf.key_file.keys
    keys[(0x39, 0x00)] = dataclasses.replace(keys[(0x39, 0x00)], protected=True)
    out = tmp_path / "card.json"
    save_card(card, out)
    assert main(["sim", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "EF 0016 binary 288 B" in shown and "read F0 (always), write F0 (always), read SM mac" in shown
    assert "39/00 tries 15/15 protected" in shown


def test_show_of_a_bad_image_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "healthcard-card-image", "version": 99}', encoding="utf-8")
    assert main(["sim", "show", str(bad)]) == 1
    assert "unsupported card image version 99" in capsys.readouterr().err
    assert main(["sim", "show", str(tmp_path / "missing.json")]) == 1
