"""PINs for the ``healthcard`` commands without putting them in the process list (issue #11 item 10).

Every PIN option ``--X`` (``--pin``, ``--sam-pin``) comes with ``--X-file FILE`` (first line of a file readable
by its owner only) and ``--X-prompt`` (asked on the terminal without echo, ``getpass``), and an environment
variable (``HEALTHCARD_PIN``, ``HEALTHCARD_SAM_PIN``). Precedence: one explicit source (``--X``, ``--X-file`` or
``--X-prompt``; giving two is an error), else the environment variable, else the command's default (the demo
PIN for the virtual card and SAM). ``--X`` on the command line still works but every local user can read it
(``ps``); the other three do not show the PIN to anyone.
"""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from apdu.errors import DataError
from apdu.files import read_private_line

__all__ = ["PURSE_PIN", "SAM_PIN", "PinOption", "add_pin_options", "resolve_pin", "resolve_pins"]


@dataclass(frozen=True)
class PinOption:
    """One PIN a command takes: its option, the ``args`` attribute, the environment variable, what it is."""

    flag: str
    dest: str
    env: str
    what: str


PURSE_PIN = PinOption("--pin", "pin", "HEALTHCARD_PIN", "cardholder purse PIN")
SAM_PIN = PinOption("--sam-pin", "sam_pin", "HEALTHCARD_SAM_PIN", "SAM PIN")
_REGISTRY = "_pin_options"


def add_pin_options(parser: argparse.ArgumentParser, option: PinOption, default: str = "") -> None:
    """Add ``--X``, ``--X-file`` and ``--X-prompt`` for ``option``; :func:`resolve_pins` fills ``args.<dest>``."""
    tail = f"; default: {default}" if default else ""
    parser.add_argument(
        option.flag, dest=option.dest, default=None, metavar="DIGITS",
        help=f"{option.what} (visible to every local user in the process list: prefer {option.flag}-file, "
        f"{option.flag}-prompt or ${option.env}{tail})",
    )  # fmt: skip
    parser.add_argument(
        f"{option.flag}-file", dest=f"{option.dest}_file", type=Path, default=None, metavar="FILE",
        help=f"read the {option.what} from the first line of FILE (mode 0600)",
    )  # fmt: skip
    parser.add_argument(
        f"{option.flag}-prompt", dest=f"{option.dest}_prompt", action="store_true",
        help=f"ask for the {option.what} on the terminal (not echoed)",
    )  # fmt: skip
    registered = tuple(parser.get_default(_REGISTRY) or ())
    parser.set_defaults(**{_REGISTRY: (*registered, option)})


def _read_pin_file(path: Path, option: PinOption) -> str:
    try:
        return read_private_line(path)
    except DataError as exc:
        raise DataError(f"{option.flag}-file: {exc.message}", field=f"{option.dest}_file") from None


def resolve_pin(
    args: argparse.Namespace,
    option: PinOption,
    *,
    environ: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str | None:
    """The PIN from the one explicit source, else the environment variable, else ``None`` (module docstring)."""
    environ = os.environ if environ is None else environ
    given = getattr(args, option.dest, None)
    path: Path | None = getattr(args, f"{option.dest}_file", None)
    ask = bool(getattr(args, f"{option.dest}_prompt", False))
    if (given is not None) + (path is not None) + ask > 1:
        raise DataError(
            f"{option.flag}, {option.flag}-file and {option.flag}-prompt: give the {option.what} only once",
            field=option.dest,
        )
    if given is not None:
        return str(given)
    if path is not None:
        return _read_pin_file(path, option)
    if ask:
        pin = prompt(f"{option.what}: ").strip()
        if not pin:
            raise DataError(f"{option.flag}-prompt: no {option.what} entered", field=option.dest)
        return pin
    value = environ.get(option.env, "").strip()
    return value or None


def resolve_pins(args: argparse.Namespace) -> None:
    """Replace ``args.<dest>`` of every PIN option the command registered by the resolved PIN (or ``None``)."""
    for option in getattr(args, _REGISTRY, ()) or ():
        setattr(args, option.dest, resolve_pin(args, option))
