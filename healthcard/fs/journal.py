"""Journaled, idempotent changes to the persistent file system (all-or-nothing writes).

A command never changes a file directly: it computes a list of operations and commits them through
:class:`~healthcard.fs.state.CardState`, which writes them to a journal, marks the journal valid (the single
commit point), applies them one by one and clears the journal, the way a COS's anti-tearing backup buffer works.
Each operation *sets* values (never increments), so replaying a valid journal after power loss is safe even
when some operations were already applied.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from healthcard.fs.keys import Key, KeyFile
from healthcard.fs.nodes import DF, LastTransaction, LifeCycle, Node, PurseEF, RecordEF, TransparentEF

__all__ = [
    "EraseDF",
    "Op",
    "PutKey",
    "PutKeyFile",
    "PutNode",
    "SetKeyTries",
    "SetLifeCycle",
    "SetPurse",
    "SetRecords",
    "WriteBinary",
    "resolve",
    "resolve_df",
]


def resolve(mf: DF, path: tuple[int, ...]) -> Node:
    """The node at ``path`` (FIDs below the MF); raises ``KeyError`` when absent."""
    node: Node = mf
    for fid in path:
        if not isinstance(node, DF):
            raise KeyError(fid)
        node = node.children[fid]
    return node


def resolve_df(mf: DF, path: tuple[int, ...]) -> DF:
    """The DF at ``path``; ``KeyError`` if it is absent or not a DF."""
    node = resolve(mf, path)
    if not isinstance(node, DF):
        raise KeyError(path)
    return node


@dataclass(frozen=True, slots=True)
class WriteBinary:
    """Write ``data`` at ``offset`` into the transparent EF at ``path``."""

    path: tuple[int, ...]
    offset: int
    data: bytes

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        ef = resolve(mf, self.path)
        assert isinstance(ef, TransparentEF)
        end = self.offset + len(self.data)
        ef.data = ef.data[: self.offset] + self.data + ef.data[end:]


@dataclass(frozen=True, slots=True)
class SetRecords:
    """Replace all records of the record EF at ``path``."""

    path: tuple[int, ...]
    records: tuple[bytes, ...]

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        ef = resolve(mf, self.path)
        assert isinstance(ef, RecordEF)
        ef.records = list(self.records)


@dataclass(frozen=True, slots=True)
class SetPurse:
    """Set balance, counters and the last transaction of the purse at ``path``."""

    path: tuple[int, ...]
    balance: int
    online_counter: int
    offline_counter: int
    last: LastTransaction | None

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        ef = resolve(mf, self.path)
        assert isinstance(ef, PurseEF)
        ef.balance, ef.online_counter, ef.offline_counter = self.balance, self.online_counter, self.offline_counter
        ef.last = self.last


@dataclass(frozen=True, slots=True)
class PutKey:
    """Add or replace a key in the key file of the DF at ``path``."""

    path: tuple[int, ...]
    key: Key

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        kf = resolve_df(mf, self.path).key_file
        assert kf is not None
        kf.keys[(self.key.key_type, self.key.key_id)] = self.key


@dataclass(frozen=True, slots=True)
class SetKeyTries:
    """Set the remaining tries of key ``(key_type, key_id)`` of the DF at ``path``."""

    path: tuple[int, ...]
    key_type: int
    key_id: int
    tries_left: int

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        kf = resolve_df(mf, self.path).key_file
        assert kf is not None
        key = kf.keys[(self.key_type, self.key_id)]
        kf.keys[(self.key_type, self.key_id)] = replace(key, tries_left=self.tries_left)


@dataclass(frozen=True, slots=True)
class PutKeyFile:
    """Create the key file of the DF at ``path``."""

    path: tuple[int, ...]
    key_file: KeyFile

    def apply(self, mf: DF) -> None:
        """Apply to the tree (a copy, so the operation stays unchanged for a replay)."""
        resolve_df(mf, self.path).key_file = copy.deepcopy(self.key_file)


@dataclass(frozen=True, slots=True)
class PutNode:
    """Create a child (EF or empty DF) in the DF at ``path``."""

    path: tuple[int, ...]
    node: Node

    def apply(self, mf: DF) -> None:
        """Apply to the tree (a copy of the node)."""
        resolve_df(mf, self.path).add(copy.deepcopy(self.node))


@dataclass(frozen=True, slots=True)
class EraseDF:
    """ERASE DF: remove every child and the key file of the DF at ``path`` (FMCOS 2.0 base commands, sources.md V1)."""

    path: tuple[int, ...]

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        df = resolve_df(mf, self.path)
        df.children = {}
        df.key_file = None


@dataclass(frozen=True, slots=True)
class SetLifeCycle:
    """Set the life-cycle state of the DF at ``path`` (the MF for CARD BLOCK)."""

    path: tuple[int, ...]
    state: LifeCycle

    def apply(self, mf: DF) -> None:
        """Apply to the tree."""
        resolve_df(mf, self.path).life_cycle = self.state


Op = WriteBinary | SetRecords | SetPurse | PutKey | SetKeyTries | PutKeyFile | PutNode | EraseDF | SetLifeCycle
