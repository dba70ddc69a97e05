"""``healthcard sim``: make, show and serve virtual card images (docs/virtual-card.md).

* ``healthcard sim new --out CARD.json [--person PERSON.json | --blank] [--balance FEN] [--issue-date YYYY-MM-DD]
  [--force]`` — a card personalised through its own APDUs (built-in demo person unless ``--person``); ``--blank``
  leaves an unpersonalised card (MF + transport key) for issuance tests. ``--issue-date`` (default today) dates
  the issuance data and the initial load.
* ``healthcard sim show CARD.json`` — the file tree with rights, and the data decoded with the codecs.
* ``healthcard sim serve --card CARD.json [--host 127.0.0.1] [--port 35963]`` — serve the card into pcscd
  through vpcd (slot 0 = TCP 35963, reader "Virtual PCD 00 00"; vsmartcard vpcd docs) until Ctrl-C; the image is saved
  after every committed change.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apdu.errors import DataError
from apdu.vpcd import VpcdCardServer
from healthcard.cli._serve import add_vpcd_options, serve_until_signalled
from healthcard.codecs import (
    Addresses,
    Allergy,
    ClinicalFlags,
    Contacts,
    Documents,
    Holder,
    Immunisation,
    IssuerData,
    OccupationMarriage,
    PurseApplicationData,
    PurseDetail,
    SpecialInfo,
    Validity,
)
from healthcard.fs.access import describe_right
from healthcard.fs.nodes import DF, EF, PurseEF, RecordEF, TransparentEF
from healthcard.person import load_person
from healthcard.virtual import DEFAULT_BALANCE_FEN, load_card, new_demo_card, save_card

__all__ = ["register", "render_tree"]


_TLV: dict[tuple[int, ...], Any] = {
    (0xDDF1, 0xEF05): IssuerData, (0xDDF1, 0xEF06): Holder, (0xDDF1, 0xEF08): Validity,
    (0xDDF1, 0xDF01, 0xEF05): Addresses, (0xDDF1, 0xDF01, 0xEF06): Contacts,
    (0xDDF1, 0xDF01, 0xEF07): OccupationMarriage, (0xDDF1, 0xDF01, 0xEF08): Documents,
    (0xDDF1, 0xDF02, 0xEF05): ClinicalFlags, (0xDDF1, 0xDF02, 0xEF06): SpecialInfo,
}  # fmt: skip
_FIXED: dict[tuple[int, ...], Callable[[bytes], object]] = {
    (0xDDF1, 0xDF02, 0xEF07): Allergy.from_record, (0xDDF1, 0xDF02, 0xEF08): Immunisation.from_record,
    (0x1001, 0x0018): PurseDetail.from_bytes,
}  # fmt: skip


def register(subparsers: Any) -> None:
    """Add the ``sim`` command group."""
    sim = subparsers.add_parser("sim", help="virtual cards: new, show, serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    sub.required = True

    new = sub.add_parser("new", help="make a virtual card image personalised through its own APDUs")
    new.add_argument("--out", required=True, type=Path, help="image file to write")
    who = new.add_mutually_exclusive_group()
    who.add_argument("--person", type=Path, help="person record JSON (default: the built-in demo person)")
    who.add_argument("--blank", action="store_true", help="leave the card unpersonalised")
    new.add_argument("--balance", type=int, default=DEFAULT_BALANCE_FEN,
                     help=f"purse balance to load, in fen (default {DEFAULT_BALANCE_FEN})")  # fmt: skip
    new.add_argument("--issue-date", type=_date, metavar="YYYY-MM-DD",
                     help="issue date written to the card and used for the initial load (default: today)")  # fmt: skip
    new.add_argument("--force", action="store_true", help="overwrite an existing image")
    new.set_defaults(handler=_new)

    show = sub.add_parser("show", help="print the file tree and the decoded data")
    show.add_argument("card", type=Path, help="image file")
    show.set_defaults(handler=_show)

    serve = sub.add_parser("serve", help="serve the card into pcscd through vpcd until Ctrl-C")
    serve.add_argument("--card", required=True, type=Path, help="image file (kept up to date)")
    add_vpcd_options(serve, slot=0)
    serve.set_defaults(handler=_serve)


def _date(text: str) -> _dt.date:
    """``YYYY-MM-DD`` for ``--issue-date`` (argparse reports the error)."""
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _new(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        raise DataError(f"{out} exists (use --force to overwrite)", field="out")
    if args.balance < 0:
        raise DataError("--balance must be a non-negative number of fen", field="balance")
    person = load_person(args.person) if args.person else None
    card = new_demo_card(person, balance_fen=args.balance, blank=args.blank, issue_date=args.issue_date)
    save_card(card, out)
    kind = "blank card" if args.blank else f"card, balance {args.balance} fen"
    print(f"wrote {out}: {kind}, ATR {card.atr.hex().upper()}")
    return 0


def _decoded(path: tuple[int, ...], ef: EF) -> list[str]:
    try:
        if isinstance(ef, RecordEF) and path in _TLV and ef.records:
            return [f"{k} = {v}" for k, v in _TLV[path].from_records(ef.records).to_json().items()]
        if isinstance(ef, RecordEF) and path in _FIXED:
            return [str(_FIXED[path](r)) for r in ef.records]
        if isinstance(ef, TransparentEF) and path == (0x1001, 0x0015) and any(ef.data):
            return [f"{k} = {v}" for k, v in PurseApplicationData.from_bytes(ef.data).to_json().items()]
        if isinstance(ef, TransparentEF) and path == (0xDDF1, 0xEF07):
            size = int.from_bytes(ef.data[:2], "big")
            return [f"photo: {size} bytes" if size else "photo: none"]
    except (DataError, ValueError) as exc:
        return [f"(not decodable: {exc})"]
    return []


def _ef_line(ef: EF) -> str:
    rights = f"read {describe_right(ef.read)}, write {describe_right(ef.write)}"
    sm = ("" if not ef.sm else f", SM {ef.sm.name.lower()}") + (
        "" if not ef.read_sm else f", read SM {ef.read_sm.name.lower()}"
    )
    if isinstance(ef, TransparentEF):
        used = len(ef.data.rstrip(b"\x00"))
        return f"EF {ef.fid:04X} binary {ef.size} B ({used} used); {rights}{sm}"
    if isinstance(ef, RecordEF):
        return (f"EF {ef.fid:04X} {ef.structure.name.lower()} {len(ef.records)}/{ef.count} × {ef.length}; "
                f"{rights}{sm}")  # fmt: skip
    assert isinstance(ef, PurseEF)
    return (f"EF {ef.fid:04X} purse ({'EP' if ef.is_ep else 'ED'}) balance {ef.balance} fen, online "
            f"{ef.online_counter}, offline {ef.offline_counter}, overdraft {ef.overdraft_limit}")  # fmt: skip


def render_tree(df: DF, path: tuple[int, ...] = (), indent: str = "") -> list[str]:
    """The tree below ``df`` as text lines (keys are listed by type/id, never their values)."""
    name = df.name.decode("latin-1") if df.name else ""
    lines = [f"{indent}DF {df.fid:04X} {name!r} [{df.life_cycle.name.lower()}]"]
    inner = indent + "  "
    if df.key_file is not None:
        kf = df.key_file
        keys = ", ".join(
            f"{k.key_type:02X}/{k.key_id:02X}"
            + (f" tries {k.tries_left}/{k.max_tries}" if k.counted else "")
            + (" protected" if k.protected else "")
            for k in kf.keys.values()
        )
        lines.append(f"{inner}key file: algorithm {kf.algorithm:02X}, scheme {kf.scheme.name.lower()}; {keys}")
    for child in df.children.values():
        here = (*path, child.fid)
        if isinstance(child, DF):
            lines.extend(render_tree(child, here, inner))
        else:
            lines.append(inner + _ef_line(child))
            lines.extend(f"{inner}    {line}" for line in _decoded(here, child))
    return lines


def _show(args: argparse.Namespace) -> int:
    card = load_card(args.card)
    print(f"ATR {card.atr.hex().upper()}")
    for line in render_tree(card.state.mf):
        print(line)
    return 0


def _serve(args: argparse.Namespace) -> int:
    path: Path = args.card
    card = load_card(path)
    lock = threading.Lock()

    def persist() -> None:
        with lock:
            save_card(card, path)

    card.on_commit = persist
    server = VpcdCardServer(card, args.host, args.port)
    print(f"serving {path} on vpcd {args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    serve_until_signalled(server)
    persist()
    return 0
