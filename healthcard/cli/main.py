"""The ``healthcard`` console command.

Each subcommand group lives in its own module under :mod:`healthcard.cli` and exposes
``register(subparsers)``; this module only assembles them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from apdu.errors import HealthCardError
from healthcard.cli.pins import resolve_pins

__all__ = ["build_parser", "main"]

# Modules that add subcommands, in the order they appear in --help.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "healthcard.cli.demo_cmd",
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand group not built yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the handler, print errors with their layer; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolve_pins(args)
        result: int = args.handler(args)
    except HealthCardError as exc:
        print(f"healthcard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
