"""Demo persons are package data: an installed ``healthcardd --simulate`` reads nothing of ``examples/`` (issue #14)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apdu.errors import DataError
from healthcard.api import DEMO_PERSONS, Person, load_demo_person
from healthcard.issuance import IssuerConfig
from healthcard.virtual import demo_issuer, demo_person

ROOT = Path(__file__).resolve().parents[2]


def test_the_examples_link_to_the_package_data_instead_of_copying_it() -> None:
    """``examples/persons`` and ``examples/issuer.json`` are links into ``healthcard/data``: one copy of each fact."""
    data = ROOT / "healthcard" / "data"
    assert (ROOT / "examples" / "persons").is_symlink()
    assert (ROOT / "examples" / "persons").resolve() == (data / "persons").resolve()
    assert (ROOT / "examples" / "issuer.json").is_symlink()
    assert (ROOT / "examples" / "issuer.json").resolve() == (data / "issuer.json").resolve()
    assert sorted(p.stem for p in (data / "persons").glob("*.json")) == sorted(DEMO_PERSONS)
    with pytest.raises(DataError, match="one of zhang-wei"):
        load_demo_person("nobody")


def test_the_demo_issuer_is_the_shipped_file() -> None:
    shipped = json.loads((ROOT / "healthcard" / "data" / "issuer.json").read_text(encoding="utf-8"))
    issuer = demo_issuer()
    assert issuer == IssuerConfig.from_json(shipped)
    assert (issuer.issuer_name, issuer.city_code) == (shipped["issuer_name"], shipped["city_code"])
    assert issuer.purse_serial_prefix.hex() == shipped["purse_serial_prefix"]


def test_simulated_reader_cards_without_the_source_tree(tmp_path: Path) -> None:
    """The packages copied without ``examples/`` (as installed): virtual-1 still holds 李娜's card."""
    for package in ("apdu", "sam", "healthcard", "daemon"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    probe = ("import daemon, sys; assert daemon.__file__.startswith(sys.argv[1]), daemon.__file__; "
             "from healthcard.api import open_virtual_session; from daemon.cardops import _new_card\n"
             "with open_virtual_session(card=_new_card('virtual-1', False)) as s: print(s.card_number)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""}, check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == load_demo_person("li-na").to_json()["holder"]["id_number"]


def test_the_demo_card_holder_is_the_shipped_zhang_wei_file() -> None:
    """``demo_person()`` (the holder of every demo card) is healthcard/data/persons/zhang-wei.json, not a copy."""
    path = ROOT / "healthcard" / "data" / "persons" / "zhang-wei.json"
    shipped = Person.from_json(json.loads(path.read_text(encoding="utf-8")))
    assert demo_person() == shipped
    assert shipped.photo and shipped.validity is not None and shipped.validity.phone2  # the full data set
