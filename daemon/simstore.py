"""Cheap persistence for the ``--simulate`` card and SAM: a snapshot image plus an append-only log of commits.

The simulated card's "EEPROM" is its :class:`~healthcard.fs.state.CardState`. Rewriting the whole card image
(about 66 kB of JSON with the photo, plus an fsync) on every purse change cost ~10 ms per debit. Here:

* each atomic commit of the card (``CardState.commit``: the ops of one command, healthcard/fs/state.py) is
  appended as one JSON line to ``<image>.log`` with a single ``write`` (no fsync) *before* the card answers the
  command — so a daemon killed with SIGKILL never loses a change the card reported (the page cache survives a
  process kill; the crash tests in tests/daemon rely on exactly that);
* at start-up and at a graceful close the log is replayed over the snapshot and folded into a new snapshot
  (temporary file + ``os.replace``); ops are idempotent "set" operations (the card's own roll-forward
  recovery replays them too), so a kill between the snapshot and the log truncation is harmless, and a torn
  last log line (a kill inside ``write``) is a commit that never happened, like a tear before the COS commit;
* the SAM image (3 kB) is rewritten in place on every change with a single ``pwrite`` (padded, never shorter),
  without fsync.

No fsync anywhere: this is a demo card, and a SIGKILL (not a power cut) is the failure the demo survives.
The journal database keeps its own durability (``synchronous=FULL`` for the rows that protect money).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from healthcard.cos.card import VirtualCard
from healthcard.fs.journal import Op
from healthcard.fs.serial import op_from_json, op_to_json
from healthcard.fs.state import CardState
from healthcard.image import dumps, load_image
from sam.virtual import VirtualSam, load_sam_image, new_sam_image
from sam.virtual.image import SamImage

__all__ = ["LoggedCardState", "open_logged_card", "open_sam", "write_atomically"]

COMPACT_AFTER = 500  # commits in the log before it is folded into the snapshot


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary file in the same directory + ``os.replace`` (readers see the old or the new file; no fsync)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LoggedCardState(CardState):
    """A :class:`CardState` that appends every commit (and every power-on roll-forward) to an op log."""

    _image: Path
    _log: IO[bytes] | None
    _entries: int

    @classmethod
    def open(cls, image: Path, fresh: CardState | None = None) -> LoggedCardState:
        """Snapshot ``image`` (or ``fresh`` when there is none) + the log replayed, folded into a new snapshot."""
        base = fresh if fresh is not None else load_image(image)
        state = cls(mf=base.mf, atr=base.atr, journal=list(base.journal), journal_valid=base.journal_valid)
        state._image = image
        state._log = None
        state._entries = 0
        log_path = _log_path(image)
        if fresh is None and log_path.exists():
            for ops in _read_log(log_path):
                for op in ops:
                    op.apply(state.mf)
        state.compact()
        return state

    def commit(self, ops: Sequence[Op], label: str) -> None:
        """Apply ``ops`` atomically (``CardState.commit``), then log them before the card answers."""
        super().commit(ops, label)
        if ops:
            self._append(ops)

    def recover(self) -> bool:
        """Power-on roll-forward of an interrupted commit, logged like a commit."""
        ops = list(self.journal) if self.journal_valid else []
        replayed = super().recover()
        if replayed:
            self._append(ops)
        return replayed

    def compact(self) -> None:
        """Write the whole state as the snapshot image and empty the log."""
        write_atomically(self._image, dumps(self).encode("utf-8"))
        if self._log is not None:
            self._log.close()
        self._log = open(_log_path(self._image), "wb", buffering=0)  # noqa: SIM115 - kept open for appends
        self._entries = 0

    def close(self, *, compact: bool = True) -> None:
        """Fold the log into the snapshot (unless ``compact`` is false) and stop logging (graceful stop)."""
        if self._log is not None:
            if compact:
                self.compact()
            assert self._log is not None
            self._log.close()
            self._log = None

    def _append(self, ops: Sequence[Op]) -> None:
        if self._log is None:
            return
        line = json.dumps([op_to_json(op) for op in ops], separators=(",", ":")) + "\n"
        self._log.write(line.encode("utf-8"))  # one write(2): all of the line or none of it survives a kill
        self._entries += 1
        if self._entries >= COMPACT_AFTER:
            self.compact()


def _log_path(image: Path) -> Path:
    return image.with_name(image.name + ".log")


def _read_log(path: Path) -> list[list[Op]]:
    out: list[list[Op]] = []
    for raw in path.read_bytes().splitlines():
        try:
            out.append([op_from_json(item) for item in json.loads(raw)])
        except (ValueError, TypeError, KeyError):  # a torn last line: that commit never happened
            break
    return out


def open_logged_card(image: Path, new_card: Any = None) -> tuple[VirtualCard, LoggedCardState]:
    """The virtual card persisted at ``image`` (created from ``new_card()`` — a ``VirtualCard`` — if missing)."""
    fresh = None if image.exists() else new_card().state
    state = LoggedCardState.open(image, fresh)
    return VirtualCard(state), state


class _OverwrittenFile:
    """A small file rewritten in place with one ``pwrite`` (padded with spaces so it never shrinks).

    One system call per save: a SIGKILL leaves the old or the new content, never a mix (no fsync: see the module
    docstring). JSON readers ignore the trailing spaces. ~20 µs, against ~0.8 ms for temp file + rename on ext4.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        padded = data.ljust(self._size, b" ")
        os.pwrite(self._fd, padded, 0)
        self._size = len(padded)


def open_sam(image: Path) -> VirtualSam:
    """The virtual SAM persisted at ``image`` (a new demo SAM if missing), saved on every change without fsync."""
    sam_image: SamImage = load_sam_image(image) if image.exists() else new_sam_image()
    target = _OverwrittenFile(image)

    def save(img: SamImage) -> None:
        # compact JSON: 45 µs instead of 120 µs with indent=2, on every SAM change (each debit and load)
        target.write((json.dumps(img.to_json(), separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8"))

    save(sam_image)
    return VirtualSam(sam_image, on_change=save)
