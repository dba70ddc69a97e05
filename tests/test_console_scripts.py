"""The ``healthcard`` and ``healthcardd`` console scripts as a person meets them (issue #15).

Every test runs the installed console script (``.venv/bin/healthcard``, ``.venv/bin/healthcardd``) as a
subprocess and checks the exit code and the message: a user's mistake ends in one line on stderr saying what to
do, never a traceback; no command overwrites a card image or silently makes one up.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from apdu.status import describe

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PERSONS = ROOT / "examples" / "persons"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONWARNINGS": "ignore"}


def healthcard(env: dict[str, str], cwd: Path, *argv: str, stdout: int | None = subprocess.PIPE,
               ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run([str(BIN / "healthcard"), *argv], cwd=cwd, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_version_of_both_commands() -> None:
    for command in ("healthcard", "healthcardd"):
        done = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and done.stdout.strip() == f"{command} {version('healthcard')}"


def test_a_mistyped_card_image_is_an_error_not_a_new_card(env: dict[str, str], tmp_path: Path) -> None:
    done = healthcard(env, tmp_path, "balance", "--card", "typo.json")
    assert done.returncode == 1
    assert "--card typo.json: no such image" in done.stderr and "healthcard sim new --out typo.json" in done.stderr
    assert not (tmp_path / "typo.json").exists()
    done = healthcard(env, tmp_path, "read", "--sam", "nosam.json")
    assert done.returncode == 1 and "--sam nosam.json: no such image" in done.stderr
    assert not (tmp_path / "nosam.json").exists()


def test_a_missing_or_broken_person_file_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    done = healthcard(env, tmp_path, "issue", "--person", "missing.json", "--out-dir", "cards")
    assert done.returncode == 1
    assert done.stderr.strip() == "healthcard: error: cannot open 'missing.json': No such file or directory"
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    done = healthcard(env, tmp_path, "sim", "new", "--out", "c.json", "--person", "broken.json")
    assert done.returncode == 1 and "not valid JSON" in done.stderr and not (tmp_path / "c.json").exists()


def test_issue_never_overwrites_a_card_image_without_force(env: dict[str, str], tmp_path: Path) -> None:
    person = str(PERSONS / "li-na.json")
    first = healthcard(env, tmp_path, "issue", "--person", person, "--out-dir", "cards", "--json")
    assert first.returncode == 0
    image = tmp_path / "cards" / f"{json.loads(first.stdout)['card_number']}.json"
    before = image.read_bytes()
    image.write_bytes(before + b" ")  # a marker: an overwrite would remove it
    again = healthcard(env, tmp_path, "issue", "--person", person, "--out-dir", "cards")
    assert again.returncode == 1 and "exists" in again.stderr and "--force" in again.stderr
    assert image.read_bytes() == before + b" "
    forced = healthcard(env, tmp_path, "issue", "--person", person, "--out-dir", "cards", "--force")
    assert forced.returncode == 0 and image.read_bytes() != before + b" "


def _batch_csv(path: Path) -> None:
    keys = ("name", "gender", "ethnicity", "birth_date", "id_number")
    rows = [
        dict(zip(keys, ("李娜", "2", "01", "1992-11-08", "310104199211080026"), strict=True)),
        dict(zip(keys, ("王五", "9X", "01", "1990-01-01", "110101199001010010"), strict=True)),  # bad gender code
        dict(zip(keys, ("张伟", "1", "01", "1985-06-15", "110105198506150030"), strict=True)),
    ]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def test_batch_names_the_bad_row_and_issues_the_valid_ones_on_request(env: dict[str, str], tmp_path: Path) -> None:
    _batch_csv(tmp_path / "people.csv")
    refused = healthcard(env, tmp_path, "issue", "--batch", "people.csv", "--out-dir", "cards")
    assert refused.returncode == 1
    assert "people.csv line 3:" in refused.stderr and "(field XB)" in refused.stderr  # row 2 = file line 3
    assert "--skip-invalid" in refused.stderr and "2 valid row(s)" in refused.stderr
    assert not list((tmp_path / "cards").glob("*.json"))  # nothing issued
    partial = healthcard(env, tmp_path, "issue", "--batch", "people.csv", "--out-dir", "cards", "--skip-invalid",
                         "--json")  # fmt: skip
    report = json.loads(partial.stdout)
    assert partial.returncode == 1 and (report["issued"], report["failed"]) == (2, 0)
    assert [(r["row"], r["field"]) for r in report["invalid_rows"]] == [("line 3", "XB")]
    assert sorted(p.name for p in (tmp_path / "cards").glob("*.json")) == [
        "110105198506150030.json", "310104199211080026.json",
    ]  # fmt: skip
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cards").glob("*.json")}
    rerun = healthcard(env, tmp_path, "issue", "--batch", "people.csv", "--out-dir", "cards", "--skip-invalid")
    assert rerun.returncode == 1 and rerun.stdout.count("exists (use --force to overwrite)") == 2
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_closed_stdout_is_not_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    assert healthcard(env, tmp_path, "sim", "new", "--out", "card.json").returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited: the first write gets EPIPE
    try:
        done = healthcard(env, tmp_path, "sim", "show", "card.json", stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""


def test_trace_of_issue_counts_its_apdus(env: dict[str, str], tmp_path: Path) -> None:
    done = healthcard(env, tmp_path, "trace", "issue", "--person", str(PERSONS / "li-na.json"), "--out", "x.json")
    assert done.returncode == 0
    count = int(done.stderr.split("--- ")[1].split(" APDUs")[0])
    assert count > 100 and done.stderr.count("\n") > count  # the personalisation script and the read-back


def test_pcsc_options_missing_are_named_at_once(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k not in ("HEALTHCARD_PIN", "HEALTHCARD_SAM_PIN")}
    done = healthcard(env, tmp_path, "load", "--amount", "100", "--reader", "Some Reader")
    assert done.returncode == 1
    for option in ("--sam-reader SAM_READER", "--sam-pin-prompt", "$HEALTHCARD_SAM_PIN", "--pin-prompt"):
        assert option in done.stderr


def test_one_try_left_is_singular() -> None:
    assert describe(0x63C1).english == "Verification failed, 1 try left"
    assert describe(0x63C2).english == "Verification failed, 2 tries left"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "foo"], "address 'foo' is not HOST:PORT"),
        (["--log-level", "BOGUS"], "log_level 'BOGUS': one of CRITICAL, ERROR, WARNING, INFO, DEBUG"),
        (["--config", "/nonexistent/healthcardd.toml"], "cannot read config '/nonexistent/healthcardd.toml'"),
    ],
)
def test_healthcardd_mistakes_are_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "healthcardd"), "--simulate", "--state-dir", str(tmp_path), *argv],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_prompt_without_a_terminal_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    argv = [str(BIN / "healthcard"), "balance", "--sam-pin-prompt"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "input ended where a value was asked for" in done.stderr
