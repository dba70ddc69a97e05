"""``healthcard trace <command ...>``: run any card command and print the APDUs it exchanged, secrets redacted.

Example: ``healthcard trace read --section holder``. The trace comes from :mod:`apdu.trace` (redaction happens
when each event is built: PINs, keys, cryptograms and SM session data are shown as ``**``, and so are card-file
contents — names, ID numbers, allergies ... — unless ``--show-personal-data`` is given). It goes to stderr
after the command's own output, one line per exchange with the reader, timing and status word.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from apdu.trace import Tracer, TraceRecorder
from healthcard.cli import _card_common
from healthcard.cli.pins import resolve_pins

__all__ = ["register"]


def _trace(args: argparse.Namespace) -> int:
    from healthcard.cli.main import build_parser  # noqa: PLC0415 - main imports this module

    if not args.argv or args.argv[0] == "trace":
        raise SystemExit("usage: healthcard trace COMMAND [options]  (e.g. healthcard trace read --section holder)")
    inner = build_parser().parse_args(args.argv)
    resolve_pins(inner)  # the traced command's PIN options (--pin-file, --pin-prompt, $HEALTHCARD_PIN ...)
    recorder = TraceRecorder()
    _card_common.TRACER = Tracer(recorder, show_personal_data=args.show_personal_data)
    try:
        code: int = inner.handler(inner)
    finally:
        _card_common.TRACER = None
        out = sys.stderr if not args.stdout else sys.stdout
        out.write(f"--- {len(recorder)} APDUs ---\n")
        for event in recorder:
            out.write(f"{event}\n")
    return code


def register(subparsers: Any) -> None:
    """Add ``trace``."""
    p = subparsers.add_parser("trace", help="run a card command and show its APDUs (secrets redacted)")
    p.add_argument("--stdout", action="store_true", help="print the trace on stdout instead of stderr")
    p.add_argument(
        "--show-personal-data", action="store_true",
        help="show card-file contents (names, ID numbers, allergies ...) in the trace; hidden as ** by default",
    )  # fmt: skip
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND ...")
    p.set_defaults(handler=_trace)
