"""File-system model: FMCOS rights (FMCOS 2.0 access rights, sources.md V1), journaled commit and recovery, JSON round
trips."""

from __future__ import annotations

import pytest

from apdu.fmcos import FileType, Protection, Scheme
from healthcard.fs import (
    DF,
    CardState,
    Key,
    KeyFile,
    LastTransaction,
    Op,
    PurseEF,
    RecordEF,
    Torn,
    TransparentEF,
    allowed,
    default_sfi,
    describe_right,
)
from healthcard.fs.journal import PutKey, SetPurse, SetRecords, WriteBinary
from healthcard.fs.serial import node_from_json, node_to_json, op_from_json, op_to_json


@pytest.mark.parametrize(
    ("right", "states"),
    [(0xF0, range(16)), (0xF1, range(1, 16)), (0x99, [9]), (0x22, [2]), (0x32, [2, 3]), (0xEF, []), (0x0F, [])],
)
def test_rights(right: int, states: range | list[int]) -> None:
    assert [s for s in range(16) if allowed(right, s)] == list(states)


def test_describe_right() -> None:
    assert describe_right(0xEF) == "EF (never)"
    assert describe_right(0xF0) == "F0 (always)"
    assert describe_right(0xF1) == "F1 (states 1..F)"


def test_default_sfi() -> None:
    assert default_sfi(0xEF05) == 5 and default_sfi(0x0015) == 0x15 and default_sfi(0x0018) == 0x18
    assert default_sfi(0xEE01) is None and default_sfi(0xED05) is None and default_sfi(0x0020) is None


def _tree() -> DF:
    mf = DF(0x3F00, b"1PAY.SYS.DDF01")
    adf = DF(0x1001, b"HCARD.EPURSE")
    adf.key_file = KeyFile(0, 0x200, 0x95, 0xF0, 0, Scheme.FMCOS)
    adf.add(TransparentEF(0x0015, 0xF0, 0xF2, size=8))
    adf.add(RecordEF(0x0018, 0xF0, 0xEF, structure=FileType.CYCLIC, count=3, length=4))
    adf.add(PurseEF(0x0002, 0xF0, 0xEF, balance=100))
    adf.add(RecordEF(0xEF05, 0xF1, 0x22, Protection.ENC_MAC, structure=FileType.LINEAR_VARIABLE, count=2, length=9))
    mf.add(adf)
    return mf


def test_commit_applies_everything() -> None:
    state = CardState(_tree(), b"\x3b\x00")
    ops: list[Op] = [
        WriteBinary((0x1001, 0x0015), 2, b"\xaa\xbb"),
        SetRecords((0x1001, 0x0018), (b"\x01\x02\x03\x04",)),
    ]
    state.commit(ops, "t")
    adf = state.mf.children[0x1001]
    assert isinstance(adf, DF)
    ef = adf.children[0x0015]
    assert isinstance(ef, TransparentEF) and ef.data == bytes.fromhex("0000AABB00000000")
    assert not state.journal and not state.journal_valid


@pytest.mark.parametrize("point", ["t:journal", "t:commit", "t:apply-1", "t:apply-2"])
def test_tear_then_recover_is_all_or_nothing(point: str) -> None:
    state = CardState(_tree(), b"\x3b\x00", tear=lambda p: p == point)
    before = node_to_json(state.mf)
    last = LastTransaction(6, 1, b"\x01" * 4, b"\x02" * 4)
    ops: list[Op] = [SetPurse((0x1001, 0x0002), 90, 0, 1, last), SetRecords((0x1001, 0x0018), (b"\x00\x00\x00\x0a",))]
    with pytest.raises(Torn):
        state.commit(ops, "t")
    state.tear = None
    state.recover()
    adf = state.mf.children[0x1001]
    assert isinstance(adf, DF)
    purse = adf.children[0x0002]
    assert isinstance(purse, PurseEF)
    if point == "t:journal":
        assert node_to_json(state.mf) == before
    else:
        assert purse.balance == 90 and purse.offline_counter == 1 and purse.last == last
        detail = adf.children[0x0018]
        assert isinstance(detail, RecordEF) and detail.records == [b"\x00\x00\x00\x0a"]


def test_node_json_round_trip() -> None:
    mf = _tree()
    assert node_from_json(node_to_json(mf)) == mf


def test_op_json_round_trip() -> None:
    key = Key(0x39, 0x00, 0xF0, 0xEF, b"\x11" * 16, follow_state=2, max_tries=3, tries_left=3)
    ops: list[Op] = [
        PutKey((0x1001,), key),
        SetPurse((0x1001, 2), 5, 1, 2, None),
        WriteBinary((0x1001, 0x15), 0, b"\x01"),
    ]
    assert [op_from_json(op_to_json(op)) for op in ops] == ops


def test_key_value_not_in_repr() -> None:
    key = Key(0x39, 0x00, 0xF0, 0xEF, bytes.fromhex("A1B2C3D4E5F60718A1B2C3D4E5F60718"))
    assert "A1B2" not in repr(key).upper()
