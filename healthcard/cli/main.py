"""The ``healthcard`` console command.

Each subcommand group lives in its own module under :mod:`healthcard.cli` and exposes
``register(subparsers)``; this module only assembles them and maps errors to exit codes.

Exit codes: 0 done; 1 the operation failed (the message names the layer: reader, card, SAM, library, data, or
the file that could not be read or written); 2 a usage error (argparse); 130 interrupted; 141 the reader of
stdout went away (``healthcard sim show card.json | head``). A user's mistake never ends in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from apdu.errors import DataError, HealthCardError, MissingInputError
from healthcard.cli.pins import resolve_pins

__all__ = ["build_parser", "main", "package_version"]

# Modules that add subcommands, in the order they appear in --help.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "healthcard.cli.sam_cmd",
    "healthcard.cli.sim_cmd",
    "healthcard.cli.card_cmds",
    "healthcard.cli.trace_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="healthcard",
        description=(
            "Resident Health Card (居民健康卡) and CPU-card purse tools: virtual cards and SAMs, "
            "reading, writing, issuance and purse transactions."
        ),
        epilog="Run 'healthcard COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMAND_MODULES:  # a module that fails to import is a bug to see, never a silently lost group
        importlib.import_module(name).register(sub)
    return parser


def package_version() -> str:
    """The installed distribution's version (``pyproject.toml``), ``unknown`` when run from an uninstalled tree."""
    try:
        return version("healthcard")
    except PackageNotFoundError:
        return "unknown"


def _os_error_text(exc: OSError) -> str:
    """``cannot open 'x.json': No such file or directory`` (the file and the reason, no errno noise)."""
    reason = exc.strerror or str(exc)
    return f"cannot open {str(exc.filename)!r}: {reason}" if exc.filename else reason


def _fail(message: str) -> int:
    print(f"healthcard: error: {message}", file=sys.stderr)
    return 1


def _stdout_gone() -> int:
    """stdout's reader closed the pipe: drop what is still buffered and end quietly (exit 128 + SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


def _missing_input_text(exc: MissingInputError, args: argparse.Namespace) -> str:
    """The library's "needs a SAM / the SAM PIN" with every option still missing named at once."""
    from healthcard.cli._card_common import missing_pcsc_options  # noqa: PLC0415 - pulls in the card API

    missing = missing_pcsc_options(args)
    if missing:
        return f"{exc}; add " + "; ".join(missing)
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the handler, print errors with their layer; return the exit code.

    One handler for every command: the project's errors (``[layer] message``), files that cannot be read or
    written, malformed JSON, and a closed stdout all end in one line on stderr and an exit code, never a
    traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolve_pins(args)
        result: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_gone()
    except MissingInputError as exc:
        return _fail(_missing_input_text(exc, args))
    except DataError as exc:
        if exc.field == "PIN" and getattr(args, "reader", None):
            return _fail(f"{exc}; add --pin-prompt (or --pin-file FILE, $HEALTHCARD_PIN)")
        return _fail(str(exc))
    except HealthCardError as exc:
        return _fail(str(exc))
    except json.JSONDecodeError as exc:
        return _fail(f"[data] not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except OSError as exc:
        return _fail(_os_error_text(exc))
    except (ValueError, UnicodeError) as exc:
        return _fail(f"[data] {exc}")
    except EOFError:  # a prompt (--pin-prompt ...) found stdin closed
        return _fail("[data] input ended where a value was asked for (no terminal on stdin?)")
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
