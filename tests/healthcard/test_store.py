"""healthcard.store: the simulated card's snapshot + op log, and the SAM image (serial patched in place)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.inprocess import InProcessTransport
from healthcard.api import CardSession
from healthcard.fs.journal import (
    EraseDF,
    Op,
    PutKey,
    PutKeyFile,
    PutNode,
    SetKeyTries,
    SetLifeCycle,
    SetPurse,
    SetRecords,
    WriteBinary,
)
from healthcard.fs.nodes import DF, LastTransaction, LifeCycle
from healthcard.fs.serial import op_from_json, op_to_json
from healthcard.image import load_image, loads
from healthcard.store import LoggedCardState, _SamImageFile, encode_commit, open_logged_card, open_sam
from healthcard.virtual import new_demo_card
from sam.virtual import load_sam_image, new_sam_image
from sam.virtual.image import MAX_SERIAL

ROOT = Path(__file__).resolve().parents[2]


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


# --- the card log's hand-built JSON lines -------------------------------------------------------------------------

_paths = st.lists(st.integers(0, 0xFFFF), max_size=3).map(tuple)
_last = st.none() | st.builds(LastTransaction, st.integers(0, 0xFF), st.integers(0, 0x10000), st.binary(min_size=4,
                              max_size=4), st.binary(min_size=4, max_size=4))  # fmt: skip
_ops: st.SearchStrategy[Op] = st.one_of(
    st.builds(WriteBinary, _paths, st.integers(0, 0xFFFF), st.binary(max_size=64)),
    st.builds(SetRecords, _paths, st.lists(st.binary(max_size=40), max_size=12).map(tuple)),
    st.builds(SetPurse, _paths, st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), _last),
    st.builds(SetKeyTries, _paths, st.integers(0, 0xFF), st.integers(0, 0xFF), st.integers(0, 15)),
    st.builds(SetLifeCycle, _paths, st.sampled_from(LifeCycle)),
    st.builds(EraseDF, _paths),
)


def _reference_line(ops: list[Op]) -> bytes:
    return (json.dumps([op_to_json(op) for op in ops], separators=(",", ":")) + "\n").encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(st.lists(_ops, min_size=1, max_size=4))
def test_encode_commit_is_the_json_of_op_to_json_and_reads_back(ops: list[Op]) -> None:
    line = encode_commit(ops)
    assert line == _reference_line(ops)
    assert [op_from_json(item) for item in json.loads(line)] == ops


def test_encode_commit_of_issuance_ops_falls_back_to_op_to_json() -> None:
    mf = new_demo_card().state.mf
    df = next(node for node in mf.children.values() if isinstance(node, DF) and node.key_file is not None)
    assert df.key_file is not None
    key = next(iter(df.key_file.keys.values()))
    ops: list[Op] = [PutKeyFile((df.fid,), df.key_file), PutKey((df.fid,), key),
                     *(PutNode((df.fid,), child) for child in df.children.values())]  # fmt: skip
    line = encode_commit(ops)
    assert line == _reference_line(ops)
    assert [op_from_json(item) for item in json.loads(line)] == ops


def test_a_log_cut_anywhere_in_the_last_line_replays_the_commits_before_it(tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    card, state = open_logged_card(image, new_demo_card)
    sam = open_sam(tmp_path / "sam.json")
    _debit(card, sam, 100)
    before = load_image(image)  # a copy of the state: replay the log over the snapshot
    for ops in json.loads("[" + ",".join((tmp_path / "card.json.log").read_text().splitlines()) + "]"):
        for item in ops:
            op_from_json(item).apply(before.mf)
    assert before.mf == state.mf
    head = (tmp_path / "card.json.log").read_bytes()
    _debit(card, sam, 23)
    last = (tmp_path / "card.json.log").read_bytes()[len(head) :]
    assert last.count(b"\n") == 1 and last.endswith(b"\n")  # one commit (SET PURSE + detail record) per purchase
    snapshot = image.read_bytes()
    for cut in (0, 1, 2, len(last) // 3, len(last) // 2, len(last) - 3, len(last) - 2, len(last) - 1, len(last)):
        trial = tmp_path / f"cut{cut}"
        trial.mkdir()
        (trial / "card.json").write_bytes(snapshot)
        (trial / "card.json.log").write_bytes(head + last[:cut])
        reopened = LoggedCardState.open(trial / "card.json")
        expected = state if cut >= len(last) - 1 else before  # only the newline missing: the commit is whole
        assert reopened.mf == expected.mf, cut


# --- the SAM image: full saves and serial patches -----------------------------------------------------------------


def test_a_purchase_patches_the_serial_digits_in_place_and_other_changes_rewrite_the_image(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    sam = open_sam(path)
    card, _ = open_logged_card(tmp_path / "card.json", new_demo_card)
    inode, text = path.stat().st_ino, path.read_bytes()
    _debit(card, sam, 1)
    _debit(card, sam, 1)
    patched = path.read_bytes()
    assert path.stat().st_ino == inode and len(patched) == len(text)  # pwrite into the same file
    assert [i for i in range(len(text)) if text[i] != patched[i]] == [patched.index(b'"terminal_serial":') + 18]
    assert b'"terminal_serial":2         ,' in patched  # "0" -> "2": the only byte that changed
    assert load_sam_image(path).to_json() == sam.image.to_json()
    assert sam.execute(bytes.fromhex("0020000003999999"))[-2:] == b"\x63\xc2"  # a wrong SAM PIN: 2 tries left
    assert path.stat().st_ino != inode  # the PIN counter: a full (atomic) rewrite
    assert load_sam_image(path).pin_tries_left == 2
    assert sam.execute(bytes.fromhex("0020000003123456"))[-2:] == b"\x90\x00"  # restores the counter: full save
    _debit(card, sam, 1)  # then a serial patch, in the new file
    assert load_sam_image(path).to_json() == sam.image.to_json()
    assert sam.image.terminal_serial == 3 and sam.image.pin_tries_left == 3


_sam_changes = st.lists(
    st.one_of(
        st.tuples(st.just("terminal_serial"), st.integers(0, MAX_SERIAL)),
        st.tuples(st.just("pin_tries_left"), st.integers(0, 3)),
        st.tuples(st.just("pin"), st.sampled_from(["1234", "123456", "9876543210"])),
        st.tuples(st.just("terminal_id"), st.binary(min_size=6, max_size=6)),
    ),
    min_size=1,
    max_size=8,
)
_SAM_TEMPLATE = new_sam_image()


@settings(max_examples=30, deadline=None)
@given(_sam_changes)
def test_every_save_leaves_a_file_that_loads_as_the_image(changes: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sam.json"
        image = _SAM_TEMPLATE.copy()
        target = _SamImageFile(path)
        target.save(image)
        for name, value in changes:
            inode, patch = path.stat().st_ino, name == "terminal_serial" or getattr(image, name) == value
            setattr(image, name, value)
            target.save(image)
            assert load_sam_image(path).to_json() == image.to_json()
            assert (path.stat().st_ino == inode) == patch  # a serial alone is patched in place, the rest rewritten


# --- SIGKILL: a real kill of a process using the store, then a reopen from the files ------------------------------

_CHILD = """
import json, os, signal, sys
from pathlib import Path
from apdu.inprocess import InProcessTransport
from healthcard import store as simstore
from healthcard.api import CardSession
from healthcard.image import dumps
from healthcard.virtual import new_demo_card

state_dir, where, when = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = {"sam": 0, "card": 0}
box = {}

def kill_after(kind, inner):
    def hook(self, arg):
        inner(self, arg)  # the change is saved / logged: now the SAM or the card would answer
        calls[kind] += 1
        if kind == where and calls[kind] == when:
            expected = {"card": dumps(box["state"]), "serial": box["sam"].image.terminal_serial}
            (state_dir / "expected.json").write_text(json.dumps(expected))
            os.kill(os.getpid(), signal.SIGKILL)
    return hook

simstore._SamImageFile.save = kill_after("sam", simstore._SamImageFile.save)
simstore.LoggedCardState._append = kill_after("card", simstore.LoggedCardState._append)
card, box["state"] = simstore.open_logged_card(state_dir / "card.json", new_demo_card)
calls["sam"] = -1  # the save at open does not count
box["sam"] = simstore.open_sam(state_dir / "sam.json")
with CardSession(InProcessTransport(card), InProcessTransport(box["sam"]), sam_pin="123456",
                 purse_pin="123456") as s:
    s.debit(100)
    s.debit(23)
    s.load(500)
    s.debit(7)
expected = {"card": dumps(box["state"]), "serial": box["sam"].image.terminal_serial}
(state_dir / "expected.json").write_text(json.dumps(expected))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(("where", "when"), [("sam", 2), ("card", 2), ("card", 3), ("end", 0)])
def test_sigkill_loses_no_reported_change_of_card_or_sam(tmp_path: Path, where: str, when: int) -> None:
    """Killed right after the SAM saved its serial (before MAC1 leaves it), right after the card logged the 2nd
    purchase and the load (before it answers), or after everything: the files alone give back that state."""
    run = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), where, str(when)], cwd=ROOT, check=False,
                         capture_output=True)  # fmt: skip
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    expected = json.loads((tmp_path / "expected.json").read_text())
    card, state = open_logged_card(tmp_path / "card.json")
    assert state.mf == loads(expected["card"]).mf
    sam = open_sam(tmp_path / "sam.json")
    assert sam.image.terminal_serial == expected["serial"] > 0
    with CardSession(InProcessTransport(card), InProcessTransport(sam), sam_pin="123456") as s:
        assert s.debit(1).terminal_serial == expected["serial"] + 1  # a serial is never used twice


def _fds_on(path: Path) -> int:
    """How many of this process's descriptors refer to ``path``, or to a file since replaced there (Linux /proc)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used is gone
            count += os.readlink(f"/proc/self/fd/{fd}") in (str(path), f"{path} (deleted)")
    return count


def test_the_sam_file_keeps_one_descriptor_and_closes_it_with_the_object(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    image, target = _SAM_TEMPLATE.copy(), _SamImageFile(path)
    for tries in (2, 1, 3):  # three full saves, each to a new file: the old descriptors are closed
        image.pin_tries_left = tries
        target.save(image)
    assert _fds_on(path) == 1
    del target
    gc.collect()
    assert _fds_on(path) == 0
