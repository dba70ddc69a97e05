"""Shared parts of the card commands: reader/SAM options, the persisted demo card and SAM, table output.

Without ``--reader`` the commands use the in-process demo card and virtual SAM, kept as image files in the
user state directory (``$XDG_STATE_HOME/healthcard`` or ``~/.local/state/healthcard``; ``--card`` / ``--sam``
choose other files), so a load followed by a balance in a second command shows the new balance. Human output
aligns Chinese text by display width (``unicodedata.east_asian_width``: wide and full-width characters take two
columns); ``--json`` prints stable JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apdu.errors import DataError
from apdu.trace import Tracer
from healthcard.api import CardSession, open_pcsc_session, open_virtual_session
from healthcard.cli.pins import SAM_PIN, add_pin_options
from healthcard.image import private_dir

__all__ = [
    "add_session_options",
    "display_width",
    "emit_json",
    "existing_image",
    "missing_pcsc_options",
    "open_session",
    "pad",
    "require_pcsc_options",
    "state_dir",
    "table",
]

#: Set by ``healthcard trace``: every session opened by a command gets this tracer.
TRACER: Tracer | None = None


def state_dir() -> Path:
    """``$XDG_STATE_HOME/healthcard`` or ``~/.local/state/healthcard``, created 0700 (the demo images in it hold
    card keys and personal data; issue #11 item 9)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return private_dir(Path(base) / "healthcard")


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """``--reader``, ``--sam-reader``, ``--card``, ``--sam``, the SAM PIN options (:mod:`.pins`), ``--json``."""
    parser.add_argument("--reader", help="PC/SC reader of the card (default: the in-process demo card)")
    parser.add_argument("--sam-reader", help="PC/SC reader of the SAM (with --reader)")
    parser.add_argument("--card", type=Path, help="virtual card image (default: the demo card in the state dir)")
    parser.add_argument("--sam", type=Path, help="virtual SAM image (default: the demo SAM in the state dir)")
    add_pin_options(parser, SAM_PIN, default="123456 for the virtual SAM")
    parser.add_argument("--json", action="store_true", help="print stable JSON instead of tables")


def missing_pcsc_options(args: argparse.Namespace, *, purse_pin: bool = False) -> list[str]:
    """With ``--reader``: the options a SAM-backed operation needs that the command line lacks, each explained."""
    if not getattr(args, "reader", None):
        return []
    missing = []
    if not getattr(args, "sam_reader", None):
        missing.append("--sam-reader SAM_READER (the PC/SC reader holding the SAM; 'healthcard readers' lists them)")
    if not getattr(args, "sam_pin", None):
        missing.append("the SAM's PIN: --sam-pin-prompt (or --sam-pin-file FILE, $HEALTHCARD_SAM_PIN)")
    if purse_pin and not getattr(args, "pin", None):
        missing.append("the cardholder's purse PIN: --pin-prompt (or --pin-file FILE, $HEALTHCARD_PIN)")
    return missing


def require_pcsc_options(args: argparse.Namespace, *, purse_pin: bool = False) -> None:
    """Raise one :class:`DataError` naming everything :func:`missing_pcsc_options` finds (before any APDU)."""
    missing = missing_pcsc_options(args, purse_pin=purse_pin)
    if missing:
        raise DataError("this command on a PC/SC card also needs: " + "; ".join(missing), field="options")


def existing_image(path: Path | None, option: str, make: str) -> Path | None:
    """``path`` when it is None or an existing file; a :class:`DataError` saying how to make it otherwise.

    A typo in ``--card`` / ``--sam`` must not create a fresh demo card or SAM at the mistyped path.
    """
    if path is None or path.is_file():
        return path
    raise DataError(f"{option} {path}: no such image (make one with: {make} --out {path})", field=option)


def open_session(args: argparse.Namespace) -> CardSession:
    """The session the options ask for.

    Without ``--reader``: the demo card and SAM in the state directory (made on first use), or the images
    ``--card`` / ``--sam`` name, which must exist.
    """
    if args.reader:
        return open_pcsc_session(args.reader, args.sam_reader, tracer=TRACER, sam_pin=args.sam_pin,
                                 purse_pin=getattr(args, "pin", None))  # fmt: skip
    card = existing_image(args.card, "--card", "healthcard sim new") or state_dir() / "demo-card.json"
    sam = existing_image(args.sam, "--sam", "healthcard sam new") or state_dir() / "demo-sam.json"
    Path(card).parent.mkdir(parents=True, exist_ok=True)
    return open_virtual_session(card, sam, tracer=TRACER, sam_pin=args.sam_pin or "123456",
                                purse_pin=getattr(args, "pin", None) or "123456")  # fmt: skip


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 for wide (W) and full-width (F) characters, else 1."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """``text`` left-justified to ``width`` display columns."""
    return text + " " * max(0, width - display_width(text))


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> str:
    """A plain-text table whose columns line up also with Chinese text."""
    body = [list(map(str, r)) for r in rows]
    all_rows = ([list(header)] if header else []) + body
    if not all_rows:
        return ""
    widths = [max(display_width(r[i]) for r in all_rows if i < len(r)) for i in range(max(map(len, all_rows)))]
    lines = []
    for n, row in enumerate(all_rows):
        lines.append("  ".join(pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip())
        if header and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit_json(doc: Any) -> None:
    """Stable JSON on stdout (UTF-8, sorted nothing: key order is part of the format)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
