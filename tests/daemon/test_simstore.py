"""daemon.simstore: the simulated card's snapshot + op log, and the SAM image rewritten in place."""

from __future__ import annotations

import json
from pathlib import Path

from apdu.inprocess import InProcessTransport
from daemon.simstore import LoggedCardState, open_logged_card, open_sam
from healthcard.api import CardSession
from healthcard.image import load_image
from healthcard.virtual import new_demo_card
from sam.virtual import load_sam_image


def _debit(card: object, sam: object, amount: int) -> int:
    with CardSession(InProcessTransport(card), InProcessTransport(sam), sam_pin="123456") as s:  # type: ignore[arg-type]
        return int(s.debit(amount).balance_fen)


def test_commits_are_logged_and_replayed_over_the_snapshot(tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    card, state = open_logged_card(image, new_demo_card)
    sam = open_sam(tmp_path / "sam.json")
    snapshot = image.read_bytes()
    balance = _debit(card, sam, 100)
    _debit(card, sam, 23)
    assert image.read_bytes() == snapshot  # no image rewrite per commit
    lines = (tmp_path / "card.json.log").read_bytes().splitlines()
    assert len(lines) >= 2 and all(isinstance(json.loads(line), list) for line in lines)
    # a "crash": reopen from snapshot + log without closing
    again = LoggedCardState.open(image)
    assert again.mf == state.mf
    assert (tmp_path / "card.json.log").read_bytes() == b""  # folded into the new snapshot
    assert load_image(image).mf == state.mf
    reopened_card, _ = open_logged_card(image)
    assert _debit(reopened_card, sam, 1) == balance - 23 - 1  # the purse continues where it was


def test_a_torn_last_line_is_a_commit_that_never_happened(tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    card, state = open_logged_card(image, new_demo_card)
    sam = open_sam(tmp_path / "sam.json")
    _debit(card, sam, 100)
    expected = load_image(image)  # what the snapshot holds before replay
    log = tmp_path / "card.json.log"
    complete = log.read_bytes()
    log.write_bytes(complete + complete[: len(complete) // 2])  # a second commit cut in the middle of write()
    reopened = LoggedCardState.open(image)
    assert reopened.mf == state.mf and reopened.mf != expected.mf


def test_close_folds_the_log_and_a_second_open_replays_nothing(tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    card, state = open_logged_card(image, new_demo_card)
    _debit(card, open_sam(tmp_path / "sam.json"), 7)
    state.close()
    assert (tmp_path / "card.json.log").read_bytes() == b""
    assert load_image(image).mf == state.mf


def test_sam_image_rewritten_in_place_stays_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    sam = open_sam(path)
    card, _ = open_logged_card(tmp_path / "card.json", new_demo_card)
    serials = []
    for _ in range(3):
        _debit(card, sam, 1)
        serials.append(load_sam_image(path).to_json())
    assert serials[0] != serials[-1]  # the terminal serial moved on and is on disk
    assert load_sam_image(path).to_json() == sam.image.to_json()
