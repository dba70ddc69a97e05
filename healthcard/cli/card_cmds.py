"""Card commands for testers and counter staff: readers, read, write, issue, balance, load, debit, unload.

Each works on a PC/SC reader (``--reader``, SAM in ``--sam-reader``) or, by default, on the in-process demo
card and virtual SAM persisted in the state directory (see :mod:`healthcard.cli._card_common`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apdu.errors import DataError
from apdu.pcsc import list_readers
from healthcard.api import CardData, CardUpdate, Section, open_virtual_session
from healthcard.api.issuing import IssueResult, issue_batch, issue_card, read_batch
from healthcard.cli import _card_common
from healthcard.cli._card_common import (
    add_session_options,
    emit_json,
    existing_image,
    open_session,
    require_pcsc_options,
    state_dir,
    table,
)
from healthcard.cli.pins import PURSE_PIN, add_pin_options
from healthcard.codecs import TlvFile, element
from healthcard.issuance import load_issuer, new_chip_number
from healthcard.person import load_person
from healthcard.virtual import blank_card, demo_issuer, save_card

__all__ = ["register"]


def _money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _value_text(value: Any) -> str:
    if isinstance(value, dict) and "code" in value:
        return f"{value['code']} {value['meaning']}"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _section_rows(section: Section, value: Any) -> list[list[str]]:
    if isinstance(value, TlvFile):
        rows = []
        for spec in value.FIELDS:
            v = getattr(value, spec.attr)
            if v is not None:
                el = element(spec.item)
                rows.append([el.pinyin, el.chinese, _value_text(spec.to_json(v))])
        return rows
    if section is Section.PHOTO:
        return [["ZHAOPIAN", "照片", f"{len(value)} 字节" if value else "无"]]
    if section is Section.ALLERGIES:
        return [[str(n), a.substance, a.reaction] for n, a in enumerate(value, 1)]
    if section is Section.IMMUNISATIONS:
        return [[str(n), i.name, "" if i.date is None else i.date.isoformat()] for n, i in enumerate(value, 1)]
    if section in (Section.INPATIENT, Section.OUTPATIENT):
        return [[str(r.slot), "有效" if r.valid else "空闲",
                 f"{len(r.raw)} 字节原始数据" if r.raw else f"{len(r.items)} 项", _signature_text(r.signature)]
                for r in value]  # fmt: skip
    if section is Section.PURSE:
        rows = [["余额", _money(value.balance_fen) + " 元"]]
        if value.application is not None:
            rows.append(["应用序列号", value.application.app_serial.hex().upper()])
            rows.append(["有效期", value.application.expiry_date.isoformat()])
        return rows
    return []


_SIGNATURE_TEXT = {"valid": "签名有效", "untrusted": "签名者不受信任", "invalid": "签名无效", "unsigned": "未签名",
                   "unbound": "签名未绑定本卡", "unreadable": "记录无法解析"}  # fmt: skip


def _signature_text(signature: Any) -> str:
    if signature is None:
        return ""
    text = f"{_SIGNATURE_TEXT[signature.status.value]} ({signature.status.value})"
    return f"{text} {signature.signer}" if signature.signer else text


def print_card_data(data: CardData) -> None:
    """Human output: one titled table per section."""
    print(f"卡号 KH: {data.card_number}")
    for section in data.sections:
        print(f"\n{section.chinese} ({section.value})")
        rows = _section_rows(section, data.get(section))
        print(table(rows) if rows else "  (空)")


# --- handlers -------------------------------------------------------------------------------------------------


def _readers(args: argparse.Namespace) -> int:
    names = list_readers()
    if args.json:
        emit_json({"readers": names})
    else:
        print(
            table([[n] for n in names], ["reader"])
            if names
            else "no PC/SC reader (without --reader the commands use the in-process demo card)"
        )
    return 0


def _read(args: argparse.Namespace) -> int:
    sections = {Section.parse(s) for part in args.section or () for s in part.split(",")} or None
    with open_session(args) as s:
        data = s.read(sections)
        if not data.card_number:
            data = CardData(card_number=s.card_number).merged(data)
        if args.photo is not None and data.photo:
            Path(args.photo).write_bytes(data.photo)
    if args.json:
        emit_json(data.to_json())
    else:
        print_card_data(data)
    return 0


def _write(args: argparse.Namespace) -> int:
    doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise DataError(f"{args.file}: a JSON object of sections is expected", field="file")
    doc.pop("card_number", None)
    doc.pop("purse", None)
    update = CardUpdate.from_json(doc)  # partial sections merge into the card; "clear" erases fields
    with open_session(args) as s:
        previous = s.read({x for x in update.sections if x.tlv_type is not None})
        written = s.update(update, previous)
    names = [w.value for w in written]
    if args.json:
        emit_json({"written": names})
    else:
        print("written: " + (", ".join(names) or "nothing"))
    return 0


def _progress_line(total: int) -> Callable[[IssueResult], None]:
    """An ``issuing n/total`` line on stderr, redrawn after each card (ended by a newline after the last)."""
    done = 0

    def draw(_result: IssueResult) -> None:
        nonlocal done
        done += 1
        sys.stderr.write(f"\rissuing {done}/{total}" + ("\n" if done == total else ""))
        sys.stderr.flush()

    return draw


def _issue_batch(args: argparse.Namespace) -> int:
    """``issue --batch``: every bad row named (position and field); valid rows issued with ``--skip-invalid``."""
    issuer = load_issuer(args.issuer) if args.issuer else demo_issuer()
    batch = read_batch(args.batch)
    for error in batch.errors:
        print(f"healthcard: {args.batch} {error}", file=sys.stderr)
    if batch.errors and not args.skip_invalid:
        raise DataError(
            f"{args.batch}: {len(batch.errors)} invalid row(s), nothing issued; fix them, or add --skip-invalid "
            f"to issue the {len(batch.persons)} valid row(s) and report the rest", field="batch",
        )  # fmt: skip
    sam = existing_image(args.sam, "--sam", "healthcard sam new")
    report = issue_batch(batch.persons, issuer, out_dir=args.out_dir, sam_image=sam, overwrite=args.force,
                         tracer=_card_common.TRACER,
                         on_result=None if args.json else _progress_line(len(batch.persons)))  # fmt: skip
    invalid = [{"row": e.where, "field": e.field, "error": e.message} for e in batch.errors]
    if args.json:
        emit_json({**report.to_json(), "invalid_rows": invalid})
    else:
        rows = [[r.card_number, "OK" if r.ok else "FAILED", str(r.apdus), r.error or ", ".join(r.mismatches)]
                for r in report.results]  # fmt: skip
        rows += [[e.where, "INVALID", "0", f"{e.field}: {e.message}" if e.field else e.message] for e in batch.errors]
        print(table(rows, ["card_number", "result", "APDUs", "detail"]))
        print(f"\nissued {report.issued}, failed {report.failed}, invalid rows {len(batch.errors)}")
    return 0 if report.failed == 0 and not batch.errors else 1


def _issue(args: argparse.Namespace) -> int:
    if args.batch:
        return _issue_batch(args)
    if not args.person:
        raise DataError("give --person PERSON.json or --batch FILE", field="person")
    issuer = load_issuer(args.issuer) if args.issuer else demo_issuer()
    person = load_person(args.person)
    target = args.out or (Path(args.out_dir) / f"{person.card_number}.json" if args.out_dir else
                          state_dir() / "demo-card.json")  # fmt: skip
    if Path(target).exists() and not args.force:
        raise DataError(f"{target} exists: the card image is not overwritten (use --force to replace it)",
                        field="out")  # fmt: skip
    sam = existing_image(args.sam, "--sam", "healthcard sam new") or state_dir() / "demo-sam.json"
    card = blank_card(new_chip_number())  # a fresh chip: a second card of the person gets its own keys
    with open_virtual_session(card=card, sam_image=sam, tracer=_card_common.TRACER) as s:
        result = issue_card(s, person, issuer)
    if result.ok:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        save_card(card, target)
    doc = {**result.to_json(), "image": str(target) if result.ok else ""}
    if args.json:
        emit_json(doc)
    else:
        print(table([[k, str(v)] for k, v in doc.items() if v not in ("", [], None)]))
    return 0 if result.ok else 1


def _balance(args: argparse.Namespace) -> int:
    with open_session(args) as s:
        fen = s.balance()
        number = s.card_number
    if args.json:
        emit_json({"card_number": number, "balance_fen": fen})
    else:
        print(table([["卡号", number], ["余额", _money(fen) + " 元"]]))
    return 0


def _print_result(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(doc)
        return
    labels = {"balance_fen": "余额(分)", "card_counter": "脱机交易序号", "online_counter": "联机交易序号",
              "terminal_id": "终端机编号", "terminal_serial": "终端交易序号", "tac": "TAC", "mac2": "MAC2",
              "when": "交易时间"}  # fmt: skip
    print(table([[labels.get(k, k), str(v)] for k, v in doc.items()]))


def _load(args: argparse.Namespace) -> int:
    require_pcsc_options(args, purse_pin=True)  # the purse PIN and the SAM's: all missing ones named at once
    with open_session(args) as s:
        result = s.load(args.amount, pin=args.pin)
    _print_result(result.to_json(), args.json)
    return 0


def _unload(args: argparse.Namespace) -> int:
    require_pcsc_options(args, purse_pin=True)
    with open_session(args) as s:
        result = s.unload(args.amount, pin=args.pin)  # MAC2 from the session's SAM (the virtual SAM's extension)
    _print_result(result.to_json(), args.json)
    return 0


def _debit(args: argparse.Namespace) -> int:
    with open_session(args) as s:
        result = s.debit(args.amount)
    _print_result(result.to_json(), args.json)
    return 0


def _amount(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError("the amount is a positive whole number of fen (分)")
    return int(text)


def register(subparsers: Any) -> None:
    """Add the card commands."""
    p = subparsers.add_parser("readers", help="list PC/SC readers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_readers)

    p = subparsers.add_parser("read", help="read the card (all sections, or --section ...)")
    add_session_options(p)
    p.add_argument(
        "--section",
        action="append",
        metavar="NAME",
        help="section(s) to read, comma-separated or repeated: " + ", ".join(s.value for s in Section),
    )
    p.add_argument("--photo", metavar="FILE", help="also save the photo to FILE")  # fmt: skip
    p.set_defaults(handler=_read)

    p = subparsers.add_parser(
        "write",
        help="write fields from a JSON file (the shape 'read --json' prints); fields not given keep their value, "
        '"clear": ["validity.phone1", ...] erases fields',
    )
    add_session_options(p)
    p.add_argument("--file", required=True, metavar="DATA.json")
    p.set_defaults(handler=_write)

    p = subparsers.add_parser("issue", help="personalise a blank virtual card from a person record (or a batch)")
    p.add_argument("--person", metavar="PERSON.json")
    p.add_argument("--batch", metavar="FILE", help="CSV or JSON list of persons")
    p.add_argument("--issuer", metavar="ISSUER.json", help="issuer configuration (default: the demo issuer)")
    p.add_argument(
        "--out",
        type=Path,
        help="card image to write (default: the demo card in the state dir); never overwritten without --force",
    )
    p.add_argument("--out-dir", type=Path, help="directory for the card images (<KH>.json)")
    p.add_argument("--sam", type=Path, help="virtual SAM image used for the read-back")
    p.add_argument("--force", action="store_true", help="replace card images that exist already")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="--batch: issue the valid rows and report the invalid ones (default: issue nothing)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_issue)

    p = subparsers.add_parser("balance", help="purse balance")
    add_session_options(p)
    p.set_defaults(handler=_balance)

    p = subparsers.add_parser("load", help="load (top up) the purse")
    add_session_options(p)
    p.add_argument("--amount", type=_amount, required=True, metavar="FEN")
    add_pin_options(p, PURSE_PIN, default="123456 for the demo card")
    p.set_defaults(handler=_load)

    p = subparsers.add_parser(
        "unload",
        help="unload (圈提): pay the balance out on the card (default the whole balance); MAC2 from the SAM's unload"
        " key (the virtual SAM's demo extension; at a hospital counter the daemon's Unload asks the host)",
    )
    add_session_options(p)
    p.add_argument("--amount", type=_amount, metavar="FEN", help="unload only this much (default: the whole balance)")
    add_pin_options(p, PURSE_PIN, default="123456 for the demo card")
    p.set_defaults(handler=_unload)

    p = subparsers.add_parser("debit", help="purchase with the PSAM: prints balance, counter, serial and TAC")
    add_session_options(p)
    p.add_argument("--amount", type=_amount, required=True, metavar="FEN")
    p.set_defaults(handler=_debit)
