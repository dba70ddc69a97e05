"""The store of persisted virtual cards and SAMs — the one place that decides how they are kept on disk.

Two ways, for two uses:

* :func:`virtual_card` / :func:`virtual_sam` (``open_virtual_session``, the ``healthcard`` command): the whole
  card image is saved, fsynced, after every commit (:func:`healthcard.image.save_image`), the SAM image at every
  change (``VirtualSam(path=...)``), so the next command (another process) reads the files as they are;
* :func:`open_logged_card` / :func:`open_sam` (``healthcardd --simulate``): the card as a snapshot image plus an
  append-only log of commits, the SAM image with its terminal serial patched in place, no fsync (below).

Every whole-file write goes through :func:`apdu.files.write_atomically` (0600, temporary file + ``os.replace``).

The simulated card's "EEPROM" is its :class:`~healthcard.fs.state.CardState`. Rewriting the whole card image
(about 66 kB of JSON with the photo, plus an fsync) on every purse change cost ~10 ms per debit. Here:

* each atomic commit of the card (``CardState.commit``: the ops of one command, healthcard/fs/state.py) is
  appended as one JSON line to ``<image>.log`` with a single ``write`` (no fsync) *before* the card answers the
  command — so a daemon killed with SIGKILL never loses a change the card reported (the page cache survives a
  process kill; the crash tests in tests/daemon rely on exactly that). The line is the compact JSON of
  ``op_to_json`` of each op, built by hand for the purse and PIN ops (:func:`encode_commit`);
* at start-up and at a graceful close the log is replayed over the snapshot and folded into a new snapshot
  (:func:`~apdu.files.write_atomically`); ops are idempotent "set" operations (the card's own roll-forward
  recovery replays them too), so a kill between the snapshot and the log truncation is harmless, and a torn
  last log line (a kill inside ``write``) is a commit that never happened, like a tear before the COS commit
  (a line that lacks only its newline holds the whole commit and is replayed: a tear after the COS commit,
  before the card answered — settled like one by GET TRANSACTION PROVE);
* the SAM image (3 kB of compact JSON) is saved at every change before the SAM answers, i.e. the terminal
  serial before MAC1 leaves the SAM (JR/T 0025.2 purchase with a PSAM). A change of the serial alone (INITIALIZE FOR
  PURCHASE: the SAM's only change in a debit) overwrites the serial's digits in the file with one ``pwrite``
  of 10 bytes (the field is padded with spaces to 10 characters, so the file stays plain JSON that
  :func:`~sam.virtual.load_sam_image` reads as it is); any other change (PIN counter, PIN ...) rewrites the
  whole image (:func:`~apdu.files.write_atomically`). See :class:`_SamImageFile`.

No fsync anywhere: this is a demo card, and a SIGKILL (not a power cut) is the failure the demo survives.
The journal database keeps its own durability (``synchronous=FULL`` for the rows that protect money).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

from apdu.files import open_private, write_atomically
from healthcard.cos.card import VirtualCard
from healthcard.fs.journal import Op, SetKeyTries, SetPurse, SetRecords, WriteBinary
from healthcard.fs.serial import op_from_json, op_to_json
from healthcard.fs.state import CardState
from healthcard.image import dumps, load_image, save_image
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam, load_sam_image, new_sam_image, save_sam_image
from sam.virtual.image import SamImage

__all__ = ["LoggedCardState", "encode_commit", "open_logged_card", "open_sam", "virtual_card", "virtual_sam"]

COMPACT_AFTER = 500  # commits in the log before it is folded into the snapshot


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
        write_atomically(self._image, dumps(self).encode("utf-8"), durable=False)
        if self._log is not None:
            self._log.close()
        fd = open_private(_log_path(self._image), os.O_WRONLY | os.O_TRUNC)  # 0600: the log holds card keys
        self._log = open(fd, "wb", buffering=0)  # noqa: SIM115 - kept open for appends
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
        self._log.write(encode_commit(ops))  # one write(2): all of the line or none of it survives a kill
        self._entries += 1
        if self._entries >= COMPACT_AFTER:
            self.compact()


def encode_commit(ops: Sequence[Op]) -> bytes:
    """One log line: the JSON list of ``op_to_json(op)`` (compact, ASCII), built by hand for the ops of the
    purse and PIN commands.

    Same text as ``json.dumps([op_to_json(op) ...], separators=(",", ":"))`` and read back by the same
    ``json.loads`` + ``op_from_json``; about 4x cheaper for a purchase (purse + 10 detail records) since no
    intermediate dicts are built. Other ops (issuance: keys, nodes) go through ``op_to_json``.
    """
    return ("[" + ",".join([_op_text(op) for op in ops]) + "]\n").encode("ascii")


_PATH_TEXT: dict[tuple[int, ...], str] = {}  # '"3F00","DF01"' per path: a card has a few dozen files


def _path_text(path: tuple[int, ...]) -> str:
    text = _PATH_TEXT.get(path)
    if text is None:
        if len(_PATH_TEXT) >= 1024:
            _PATH_TEXT.clear()
        text = _PATH_TEXT[path] = ",".join([f'"{fid:04X}"' for fid in path])
    return text


def _op_text(op: Op) -> str:
    path = _path_text(op.path)
    if isinstance(op, SetPurse):
        last = op.last
        last_text = "null" if last is None else (
            f'{{"type":"{last.tx_type:02X}","counter_after":{last.counter_after:d},'
            f'"mac":"{last.mac.hex().upper()}","tac":"{last.tac.hex().upper()}"}}'
        )  # fmt: skip
        return (f'{{"op":"set_purse","path":[{path}],"balance":{op.balance:d},'
                f'"online_counter":{op.online_counter:d},"offline_counter":{op.offline_counter:d},'
                f'"last":{last_text}}}')  # fmt: skip
    if isinstance(op, SetRecords):
        records = '"' + '","'.join([r.hex() for r in op.records]).upper() + '"' if op.records else ""
        return f'{{"op":"set_records","path":[{path}],"records":[{records}]}}'
    if isinstance(op, WriteBinary):
        return f'{{"op":"write_binary","path":[{path}],"offset":{op.offset:d},"data":"{op.data.hex().upper()}"}}'
    if isinstance(op, SetKeyTries):
        return (f'{{"op":"set_key_tries","path":[{path}],"type":"{op.key_type:02X}","id":"{op.key_id:02X}",'
                f'"tries_left":{op.tries_left:d}}}')  # fmt: skip
    return json.dumps(op_to_json(op), separators=(",", ":"))


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


def open_logged_card(
    image: Path, new_card: Callable[[], VirtualCard] | None = None
) -> tuple[VirtualCard, LoggedCardState]:
    """The virtual card persisted at ``image`` (created from ``new_card()`` — a ``VirtualCard`` — if missing)."""
    if image.exists():
        fresh = None
    elif new_card is None:
        raise FileNotFoundError(image)
    else:
        fresh = new_card().state
    state = LoggedCardState.open(image, fresh)
    return VirtualCard(state), state


_SERIAL_KEY = b'"terminal_serial":'
_SERIAL_WIDTH = 10  # digits of 0xFFFFFFFF: the field is left-aligned and padded with spaces to this width
_PAGE = 4096
#: SamImage fields other than the terminal serial: a change to any of them rewrites the whole image. They are
#: compared by value against the tuple kept at the last full save; all are immutable (bytes, int, str, bool)
#: except ``keys``, which no SAM command changes (sam/virtual: keys are only looked up). A command that changed
#: the KeyStore in place would have to replace it instead, or this comparison would miss the change.
_OTHER_FIELDS = attrgetter(*(f.name for f in fields(SamImage) if f.name != "terminal_serial"))


class _SamImageFile:
    """The SAM image file, saved on every change; a change of the terminal serial alone patches its digits.

    A full save writes compact JSON with the serial padded to 10 characters (``"terminal_serial":42        ,``:
    whitespace is valid JSON, so the file stays a plain image for :func:`~sam.virtual.load_sam_image`) to a
    temporary file moved over the image (:func:`write_atomically`: a kill leaves the old or the new file), and
    remembers the byte offset of those digits. When only the serial changed (INITIALIZE FOR PURCHASE, the one
    SAM change of a debit) it is written over the old digits with one ``pwrite`` of 10 bytes that lies inside
    one page: the kernel copies it into the page cache in one piece, so a SIGKILL leaves the old or the new
    number, and the page cache outlives the process (no fsync: see the module docstring).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self._close_fd: weakref.finalize[[int], _SamImageFile] | None = None  # closes the descriptor with this object
        self._serial_at = -1  # byte offset of the serial digits; -1: every save is a full save
        self._saved_fields: tuple[Any, ...] | None = None

    def save(self, image: SamImage) -> None:
        """Persist ``image`` before returning (the SAM calls this before MAC1 leaves it)."""
        if self._serial_at >= 0 and _OTHER_FIELDS(image) == self._saved_fields:
            os.pwrite(self._fd, b"%-10d" % image.terminal_serial, self._serial_at)
        else:
            self._save_all(image)

    def _save_all(self, image: SamImage) -> None:
        data = json.dumps(image.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        start = data.index(_SERIAL_KEY) + len(_SERIAL_KEY)  # the first occurrence: a top-level key
        end = start
        while data[end : end + 1].isdigit():
            end += 1
        data = data[:start] + data[start:end].ljust(_SERIAL_WIDTH) + data[end:] + b"\n"
        write_atomically(self._path, data, durable=False)
        if self._close_fd is not None:
            self._close_fd()
        self._fd = os.open(self._path, os.O_WRONLY)  # the new file: the patches go to the inode just written
        self._close_fd = weakref.finalize(self, os.close, self._fd)
        one_page = start // _PAGE == (start + _SERIAL_WIDTH - 1) // _PAGE
        self._serial_at = start if one_page else -1
        self._saved_fields = _OTHER_FIELDS(image)


def open_sam(image: Path, *, terminal_id: bytes | None = None) -> VirtualSam:
    """The virtual SAM persisted at ``image`` (a new demo SAM if missing), saved on every change without fsync.

    ``terminal_id`` is the 6-byte terminal number of a new SAM (default: the demo key set's); an existing image
    keeps its own, so its terminal serials stay in one sequence.
    """
    sam_image: SamImage = load_sam_image(image) if image.exists() else new_sam_image(terminal_id=terminal_id)
    target = _SamImageFile(image)
    target.save(sam_image)
    return VirtualSam(sam_image, on_change=target.save)


def virtual_card(image: str | Path | None = None, **demo: Any) -> VirtualCard:
    """A ``VirtualCard``: from ``image`` if the file exists, else the demo card (saved to ``image`` if given);
    with an ``image``, the whole image is saved after every commit (the card's ``on_commit`` hook)."""
    if image is not None and Path(image).exists():
        card = VirtualCard(load_image(image))
    else:
        card = new_demo_card(**demo)
        if image is not None:
            save_image(card.state, image)
    if image is not None:
        path = Path(image)
        card.on_commit = lambda: save_image(card.state, path)
    return card


def virtual_sam(image: str | Path | None = None) -> VirtualSam:
    """A ``VirtualSam``: from ``image`` if the file exists, else a new demo SAM (saved to ``image`` if given);
    with an ``image``, saved at every change."""
    if image is None:
        return VirtualSam()
    path = Path(image)
    if path.exists():
        return VirtualSam(load_sam_image(path), path=path)
    img = new_sam_image()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_sam_image(img, path)
    return VirtualSam(img, path=path)
