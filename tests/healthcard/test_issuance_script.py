"""Issuance plan and personalise() against a scripted channel (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE, FMCOS 2.0
CREATE FILE, sources.md V1; WS/T 543.4 commands)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from apdu.command import Command, Redact
from apdu.errors import CardError
from apdu.response import Response
from healthcard.issuance import DemoKeySource, StepKind, load_issuer, personalise, plan
from healthcard.person import load_person
from healthcard.profiles import demo_card_profile

ROOT = Path(__file__).resolve().parents[2]
PERSON = load_person(ROOT / "examples" / "persons" / "zhang-wei.json")
ISSUER = load_issuer(ROOT / "examples" / "issuer.json")
KEYS = DemoKeySource()
CARD_NO = bytes.fromhex("0102030405060708")
PROFILE = demo_card_profile()
STEPS = plan(PROFILE, PERSON, ISSUER, KEYS, card_no=CARD_NO, issue_date=dt.date(2024, 1, 15))


def _by_label(label: str) -> Command:
    return next(s.command for s in STEPS if s.label == label)


def test_plan_order() -> None:
    labels = [s.label for s in STEPS]
    assert labels[:4] == ["SELECT MF", "EXTERNAL AUTHENTICATE transport key", "ERASE DF (MF)", "CREATE MF key file"]
    assert STEPS[1].kind is StepKind.AUTH_FMCOS and STEPS[2].command.encode() == bytes.fromhex("800E000000")
    assert labels.index("CREATE DDF1") < labels.index("CREATE DF01") < labels.index("EXTERNAL AUTHENTICATE UK_DDF1")
    assert labels.index("CREATE ADF1001/EP") < labels.index("UPDATE BINARY ADF1001/EF15 @0")
    assert sum(1 for lbl in labels if lbl.startswith("ERASE INDEX DF03")) == 8


def test_create_file_bytes() -> None:
    # FMCOS 2.0 CREATE FILE, sources.md V1 layouts.
    # add-key right = the DF master key's state (decisions D10): FF for DDF1 (MK_DDF1 → F), F2 for the purse
    assert _by_label("CREATE DDF1 key file").encode() == bytes.fromhex("80E00000073F020095FF0401")
    assert _by_label("CREATE ADF1001 key file").encode() == bytes.fromhex("80E00000073F020095F20000")
    assert _by_label("CREATE DDF1/EF07").encode() == bytes.fromhex("80E0EF0707280C00F122FFFF")
    assert _by_label("CREATE DF02/EF07").encode() == bytes.fromhex("80E0EF07072E0378F144FFFF")
    assert _by_label("CREATE DF02/EF05").encode() == bytes.fromhex("80E0EF0507EC0F2AF122FFFF")
    assert _by_label("CREATE ADF1001/EP").encode() == bytes.fromhex("80E00002072F0208F000FF18")
    assert _by_label("CREATE ADF1001/EF18").encode() == bytes.fromhex("80E0001807 2E0A17F0EFFFFF".replace(" ", ""))
    ddf1 = _by_label("CREATE DDF1").encode()
    assert ddf1[:5] == bytes.fromhex("80E0DDF117") and ddf1[5] == 0x38 and ddf1[13:] == b"HEALTHCARD.DDF1"
    assert ddf1[8:10] == b"\xff\xff"  # create and erase rights: the master key only
    assert _by_label("CREATE ADF1001").encode()[8:10] == b"\xf2\xf2"


def test_write_key_layouts_and_no_key_in_printable_form() -> None:
    cmd = _by_label("WRITE KEY DDF1 UK_DDF1")
    assert cmd.header == bytes.fromhex("80D40105") and cmd.data[:5] == bytes.fromhex("39F0EF0233")
    assert cmd.redact & Redact.COMMAND_DATA
    tac = _by_label("WRITE KEY ADF1001 tac")
    assert tac.data[:5] == bytes.fromhex("34F0EF0100") and len(tac.data) == 21
    pin = _by_label("WRITE KEY ADF1001 PIN")
    assert pin.data == bytes.fromhex("3AF0EF0133123456")
    secrets = {s.key.hex().upper() for s in STEPS if s.key}
    secrets |= {s.command.data[5:].hex().upper() for s in STEPS if s.command.ins == 0xD4}
    printable = "\n".join(s.describe() for s in STEPS) + repr(STEPS) + repr(KEYS)
    compact = printable.replace(" ", "").upper()
    assert all(secret not in compact for secret in secrets if len(secret) >= 16)


def test_holder_name_written_with_sm() -> None:
    step = next(s for s in STEPS if s.label == "APPEND DDF1/EF06 record 1")
    assert step.kind is StepKind.SM_WRITE and step.command.header == bytes.fromhex("04E20000")
    assert step.command.data == bytes((0x0B, 4)) + "张伟".encode("gbk")
    issuer = [s.command.data for s in STEPS if s.label.startswith("APPEND DDF1/EF05")]
    assert issuer[6][2:] == PERSON.card_number.encode() and issuer[9] == bytes.fromhex("3903110100")


class ScriptedCard:
    """Answers 9000 to everything, a fixed challenge to GET CHALLENGE; records what it got."""

    def __init__(self, fail_ins: int | None = None) -> None:
        self.sent: list[Command] = []
        self.fail_ins = fail_ins

    def transmit(self, command: Command) -> Response:
        self.sent.append(command)
        if command.ins == self.fail_ins:
            return Response.from_sw(0x6982)
        if command.ins == 0x84 and command.cla == 0x00:
            return Response(bytes.fromhex("AFE9CD6F00000000"), 0x90, 0x00)
        return Response.from_sw(0x9000)


def test_personalise_runs_every_step() -> None:
    card = ScriptedCard()
    atr = PROFILE.atr.build(CARD_NO)
    report = personalise(card, PROFILE, PERSON, ISSUER, KEYS, atr=atr, issue_date=dt.date(2024, 1, 15))
    assert report.card_no == CARD_NO and len(report.steps) == len(STEPS)
    auth = card.sent[2]
    assert auth.header == bytes.fromhex("00820000") and auth.data == bytes.fromhex("6233F9C8BFBEB899")
    health_auth = next(c for c in card.sent if c.ins == 0x82 and len(c.data) == 0x11)
    assert health_auth.data[8:] == bytes.fromhex("112233445566778801")
    sm = next(c for c in card.sent if c.cla == 0x04)
    assert (len(sm.data) - 4) % 16 == 0


def test_personalise_stops_on_error() -> None:
    with pytest.raises(CardError) as info:
        personalise(ScriptedCard(fail_ins=0x0E), PROFILE, PERSON, ISSUER, KEYS)
    assert info.value.sw == 0x6982
