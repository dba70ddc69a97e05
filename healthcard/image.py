"""Card images: the persistent state of a virtual card as human-readable JSON (hex for bytes), versioned.

Layout (``version`` 2)::

    {"format": "healthcard-card-image", "version": 2, "atr": "3B6D…",
     "journal": {"valid": false, "ops": [...]},      # non-empty only when saved mid-commit (after a tear)
     "mf": {"kind": "DF", "fid": "3F00", "key_file": {...}, "children": [...]}}

Saving is atomic: the JSON is written to a temporary file in the same directory, flushed and fsynced, then
moved over the target with ``os.replace``. Loading validates the structure (:class:`ImageError` names what is
wrong) and gives back a state equal to the saved one; ``save(load(f))`` reproduces ``f`` byte for byte.
Images hold demo key values: they are test artefacts, never for real cards.

Version 1 images (before issue #11 item 1) were issued with free CREATE FILE / ERASE DF / add-key rights. They
still load, with those rights closed (:func:`close_open_rights`, logged as a warning): a right that state 0
satisfies becomes the DF master key's (39/00) state, or ``EF`` (never) in a DF without a master key, such as
the health DFs of those cards. Record writes with the update keys keep working; the next save writes version 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apdu.errors import DataError
from apdu.files import open_private, private_dir, write_atomically
from apdu.fmcos import NEVER, KeyType
from healthcard.fs.nodes import DF, MF_FID
from healthcard.fs.serial import node_from_json, node_to_json, op_from_json, op_to_json
from healthcard.fs.state import CardState

__all__ = ["FORMAT", "VERSION", "ImageError", "close_open_rights", "dumps", "load_image", "loads", "open_private",
           "private_dir", "save_image", "state_from_json", "state_to_json"]  # fmt: skip

log = logging.getLogger(__name__)

FORMAT = "healthcard-card-image"
VERSION = 2
_OPEN_RIGHTS_VERSION = 1  # images of this version were issued with open rights (issue #11 item 1)


class ImageError(DataError):
    """A card image file is malformed, of another format or of an unsupported version."""


def state_to_json(state: CardState) -> dict[str, Any]:
    """The image document of ``state``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "atr": state.atr.hex().upper(),
        "journal": {"valid": state.journal_valid, "ops": [op_to_json(op) for op in state.journal]},
        "mf": node_to_json(state.mf),
    }


def state_from_json(doc: Mapping[str, Any]) -> CardState:
    """Parse and validate an image document (the journal is kept: power-on recovers it)."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ImageError(f"not a card image (format must be {FORMAT!r})", field="format")
    version = doc.get("version")
    if version not in (VERSION, _OPEN_RIGHTS_VERSION):
        raise ImageError(f"unsupported card image version {version!r} (this library reads 1 and {VERSION})",
                         field="version")  # fmt: skip
    try:
        atr = bytes.fromhex(str(doc["atr"]))
        mf = node_from_json(doc["mf"])
        journal = doc.get("journal") or {"valid": False, "ops": []}
        ops = [op_from_json(op) for op in journal["ops"]]
        valid = journal["valid"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ImageError(f"malformed card image: {exc}", field="image") from exc
    if not isinstance(mf, DF) or mf.fid != MF_FID:
        raise ImageError("the image root must be the MF (3F00)", field="mf")
    if not 2 <= len(atr) <= 33:
        raise ImageError("ATR must be 2..33 bytes", field="atr")
    if not isinstance(valid, bool):
        raise ImageError("journal.valid must be true or false", field="journal")
    if version == _OPEN_RIGHTS_VERSION:
        closed = close_open_rights(mf)
        if closed:
            log.warning("card image version 1: closed the open create/erase/add-key rights of %d DFs (%s); "
                        "see docs/virtual-card.md \"Images\"", len(closed), ", ".join(closed))  # fmt: skip
    return CardState(mf=mf, atr=atr, journal=ops, journal_valid=valid)


def _open(right: int) -> bool:
    return right & 0x0F == 0  # Y = 0: state 0 satisfies it (FMCOS 2.0 access rights, sources.md V1)


def close_open_rights(df: DF) -> list[str]:
    """Close every create / erase / add-key right that state 0 satisfies, in ``df`` and below (in place).

    The closed right is ``FX`` (states X..F) for a DF whose master key 39/00 has follow-up state ``X``, or ``EF``
    (never) when the DF has no master key. Returns the FIDs (hex) of the DFs
    changed. Used for version-1 images (module docstring).
    """
    changed: list[str] = []
    master = df.key_file.find(KeyType.EXTERNAL_AUTH, 0x00) if df.key_file is not None else None
    closed = NEVER if master is None or master.follow_state is None else 0xF0 | master.follow_state
    if _open(df.create_right) or _open(df.erase_right) or (df.key_file is not None and _open(df.key_file.add_right)):
        df.create_right = closed if _open(df.create_right) else df.create_right
        df.erase_right = closed if _open(df.erase_right) else df.erase_right
        if df.key_file is not None and _open(df.key_file.add_right):
            df.key_file.add_right = closed
        changed.append(f"{df.fid:04X}")
    for child in df.children.values():
        if isinstance(child, DF):
            changed.extend(close_open_rights(child))
    return changed


def dumps(state: CardState) -> str:
    """The image as text (stable key order, indented, UTF-8 friendly)."""
    return json.dumps(state_to_json(state), indent=1, ensure_ascii=False) + "\n"


def loads(text: str) -> CardState:
    """Parse image text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImageError(f"card image is not valid JSON ({exc.msg} at line {exc.lineno})", field="image") from exc
    return state_from_json(doc)


def save_image(state: CardState, path: str | Path) -> None:
    """Write the image atomically, 0600 and fsynced (:func:`apdu.files.write_atomically`)."""
    write_atomically(path, dumps(state).encode("utf-8"))


def load_image(path: str | Path) -> CardState:
    """Read and validate an image file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ImageError(f"cannot read card image {path}: {exc.strerror}", field="image") from exc
    return loads(text)
