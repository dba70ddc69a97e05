"""The personalisation script: profile + person + issuer + keys → ordered, labelled APDU steps.

``plan(...)`` is pure: it lists the steps. Steps that need the card's challenge (EXTERNAL AUTHENTICATE, SM
writes) carry what is needed to finish them at run time; ``personalise(channel, ...)`` sends every step,
checks the status word and returns a report. Flow (FMCOS 2.0 issuance, sources.md V1, WS/T 543.3 access rules; WS/T
543.4 commands, decisions D1-D4, D10): transport-key authentication in the MF → ERASE DF → MF key file and master key →
every DF created under the parent's master key, then its key file, its master key first (the DF's transport window),
authentication with it and the DF's other keys and EFs under the rights it gave the DF → per DF, authentication with the
update key and the data writes (TLV records appended, SM when the file requires it) → photo → DF03 index records set to
FF → purse EF15 (the purse is created with balance 0). Key material only appears in ``Redact``-flagged commands and
in fields hidden from ``repr``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from apdu.command import Command, Redact
from apdu.errors import error_for
from apdu.fmcos import Protection, Scheme
from apdu.response import Response
from apdu.status import SW
from healthcard.codecs.fixed import VisitRecord
from healthcard.codecs.purse_records import PurseApplicationData
from healthcard.codecs.tlv_records import IssuerData, TlvFile, Validity
from healthcard.issuance import commands as c
from healthcard.issuance.issuer import IssuerConfig
from healthcard.issuance.keysource import KeySource
from healthcard.person import Person
from healthcard.profiles.card import MF_FID, CardProfile
from healthcard.profiles.health import city_factor
from healthcard.profiles.model import DFSpec, EFSpec, KeySpec
from sam.crypto import Algorithm, external_auth_cryptogram, health_auth_cryptogram, health_sm_wrap

__all__ = [
    "RK_TERMINAL_DATA",
    "CommandChannel",
    "Report",
    "Step",
    "StepKind",
    "card_no_for",
    "new_chip_number",
    "personalise",
    "plan",
]

RK_TERMINAL_DATA = bytes.fromhex("1122334455667788")
CHUNK = 0x80


class StepKind(enum.Enum):
    """How a step is executed."""

    PLAIN = "plain"
    AUTH_FMCOS = "auth-fmcos"
    AUTH_HEALTH = "auth-health"
    SM_WRITE = "sm-write"


@dataclass(frozen=True)
class Step:
    """One labelled step. ``key`` (hidden from ``repr``) is the authentication or SM key of dynamic steps."""

    label: str
    kind: StepKind
    command: Command
    key: bytes = field(default=b"", repr=False)
    expect: int = SW.OK

    def describe(self) -> str:
        """Printable form; redacted data and key-dependent parts are never shown."""
        head = self.command.header.hex(" ").upper()
        if self.kind is StepKind.AUTH_FMCOS:
            return f"{self.label}: GET CHALLENGE; 00 82 00 {self.command.p2:02X} 08 <cryptogram>"
        if self.kind is StepKind.AUTH_HEALTH:
            return f"{self.label}: GET CHALLENGE; 00 82 00 {self.command.p2:02X} 11 <cryptogram ‖ terminal data ‖ 01>"
        if self.kind is StepKind.SM_WRITE:
            return f"{self.label}: GET CHALLENGE; {head} <SM: {len(self.command.data)}-byte record encrypted + MAC>"
        if self.command.redact & Redact.COMMAND_DATA and self.command.data:
            return f"{self.label}: {head} {len(self.command.data):02X} <{len(self.command.data)} bytes redacted>"
        return f"{self.label}: {self.command}"


class CommandChannel(Protocol):
    """What ``personalise`` needs: ``apdu.channel.Channel.transmit`` (61xx/6Cxx handled by the channel)."""

    def transmit(self, command: Command) -> Response:
        """Send one command and return the final response."""
        ...


@dataclass(frozen=True)
class Report:
    """What ``personalise`` did: cardNo and each step's label and status word."""

    card_no: bytes
    steps: tuple[tuple[str, int], ...]


def card_no_for(person: Person) -> bytes:
    """Deterministic demo cardNo: SHA-256(KH)[:8] — only for the default demo card, which must be the same chip in
    every run (tests, known-answer vectors, the demo). Every card of one person would get the same cardNo, hence
    the same purse serial, factor and keys: a new blank card gets :func:`new_chip_number` instead."""
    return hashlib.sha256(person.card_number.encode("ascii")).digest()[:8]


def new_chip_number() -> bytes:
    """A fresh 8-byte cardNo for a simulated blank chip, as a real chip carries its own serial from the fab.

    Random (``secrets``): two cards of one holder (a replacement, 补卡) get distinct chip numbers, hence distinct
    purse serials (EF15 = ``purse_serial_prefix`` + cardNo), purse factors and keys. 64 random bits: a collision
    among a hospital's cards is negligible, and the host's registry refuses one (its key is KH + factor).
    """
    return secrets.token_bytes(8)


class _Planner:
    def __init__(
        self, profile: CardProfile, person: Person, issuer: IssuerConfig, keys: KeySource, card_no: bytes,
        issue_date: _dt.date,
    ) -> None:  # fmt: skip
        self.p, self.person, self.issuer, self.keys = profile, person, issuer, keys
        self.card_no, self.issue_date = card_no, issue_date
        self.city = city_factor(issuer.city_code)
        self.purse_serial = issuer.purse_serial_prefix + card_no
        self.steps: list[Step] = []

    def add(self, label: str, command: Command, kind: StepKind = StepKind.PLAIN, key: bytes = b"") -> None:
        self.steps.append(Step(label, kind, command, key))

    def key_value(self, df: DFSpec, key: KeySpec) -> bytes:
        if key.key_type == 0x3A:
            return bytes.fromhex(self.issuer.purse_pin)
        if df.scheme is Scheme.FMCOS and df.fid != MF_FID:
            return self.keys.card_key(key.master, self.purse_serial[-8:], None)
        return self.keys.card_key(key.master, self.card_no, self.city if key.levels == 2 else None)

    def select(self, path: Sequence[DFSpec]) -> None:
        self.add("SELECT MF", c.select_fid(MF_FID))
        for df in path:
            self.add(f"SELECT {df.name}", c.select_fid(df.fid))

    def auth(self, df: DFSpec, name: str) -> None:
        key = df.key(name)
        value = self.key_value(df, key)
        if df.scheme is Scheme.HEALTH:
            cmd = Command(0x00, 0x82, 0x00, key.key_id, b"", redact=Redact.COMMAND_DATA)
            self.add(f"EXTERNAL AUTHENTICATE {name}", cmd, StepKind.AUTH_HEALTH, value)
        else:
            cmd = Command(0x00, 0x82, 0x00, key.key_id, b"", redact=Redact.COMMAND_DATA)
            self.add(f"EXTERNAL AUTHENTICATE {name}", cmd, StepKind.AUTH_FMCOS, value)

    def write_key(self, df: DFSpec, key: KeySpec) -> None:
        self.add(f"WRITE KEY {df.name} {key.name}", c.write_key(key, self.key_value(df, key), algorithm=df.algorithm))

    def open_df(self, df: DFSpec) -> None:
        """Key file, master key first (the DF's transport window), then authentication with it (decisions D10)."""
        self.add(f"CREATE {df.name} key file", c.create_key_file(df))
        master = df.master_key
        if master is None:
            for key in df.keys:
                self.write_key(df, key)
            return
        self.write_key(df, master)
        self.auth(df, master.name)
        for key in df.keys:
            if key is not master:
                self.write_key(df, key)

    def structure(self, df: DFSpec, path: tuple[DFSpec, ...]) -> None:
        """Create ``df`` in its parent (the caller is authenticated there), then its keys, EFs and child DFs."""
        self.add(f"CREATE {df.name}", c.create_df(df))
        self.add(f"SELECT {df.name}", c.select_fid(df.fid))
        self.open_df(df)
        for ef in df.efs:
            self.add(f"CREATE {df.name}/{ef.name}", c.create_ef(ef))
        for n, child in enumerate(df.dfs):
            if n and df.master_key is not None:
                self.auth(df, df.master_key.name)  # SELECT of the previous child reset the security state
            self.structure(child, (*path, df))
            self.select((*path, df))

    def write_records(self, df: DFSpec, ef: EFSpec, content: TlvFile) -> None:
        self.add(f"SELECT {df.name}/{ef.name}", c.select_fid(ef.fid))
        stk = next((k for k in df.keys if k.key_type == 0x36), None)
        for n, record in enumerate(content.to_records(), 1):
            label = f"APPEND {df.name}/{ef.name} record {n}"
            if ef.sm is Protection.NONE or stk is None:
                self.add(label, c.append_record(record))
            else:
                self.add(label, Command(0x04, 0xE2, 0x00, 0x00, record), StepKind.SM_WRITE, self.key_value(df, stk))

    def binary(self, df: DFSpec, ef: EFSpec, data: bytes) -> None:
        self.add(f"SELECT {df.name}/{ef.name}", c.select_fid(ef.fid))
        for off in range(0, len(data), CHUNK):
            self.add(f"UPDATE BINARY {df.name}/{ef.name} @{off}", c.update_binary(off, data[off : off + CHUNK]))

    def issuer_data(self) -> IssuerData:
        i = self.issuer
        return IssuerData(
            card_type=i.card_type, spec_version=i.spec_version, issuer_name=i.issuer_name, issuer_code=i.issuer_code,
            issuer_certificate=i.issuer_certificate, issue_date=self.issue_date, card_number=self.person.card_number,
            security_code=None, chip_serial=self.card_no.hex().upper()[:10], city_code=i.city_code,
        )  # fmt: skip

    def validity(self) -> Validity:
        v = self.person.validity
        if v.expiry_date is None:
            years = self.issuer.validity_years
            d = self.issue_date
            expiry = (
                d.replace(year=d.year + years) if not (d.month == 2 and d.day == 29) else _dt.date(d.year + years, 3, 1)
            )
            v = v.replace(expiry_date=expiry)
        return v

    def data(self) -> None:
        h, person = self.p.health, self.person
        ddf1, df01, df02, df03 = h.ddf1, h.df("DF01"), h.df("DF02"), h.df("DF03")
        self.select((ddf1,))
        self.auth(ddf1, "UK_DDF1")
        self.write_records(ddf1, ddf1.ef("EF05"), self.issuer_data())
        self.write_records(ddf1, ddf1.ef("EF06"), person.holder)
        self.write_records(ddf1, ddf1.ef("EF08"), self.validity())
        if person.photo_file is not None:
            self.binary(ddf1, ddf1.ef("EF07"), person.photo_file)
        self.add("SELECT DF01", c.select_fid(df01.fid))
        self.auth(df01, "UK_DF01")
        for name, content in (("EF05", person.addresses), ("EF06", person.contacts),
                              ("EF07", person.occupation_marriage), ("EF08", person.documents)):  # fmt: skip
            self.write_records(df01, df01.ef(name), content)
        self.select((ddf1, df02))
        self.auth(df02, "UK_DF02_1")
        self.write_records(df02, df02.ef("EF05"), person.clinical)
        self.auth(df02, "UK_DF02_2")
        self.write_records(df02, df02.ef("EF06"), person.special)
        self.auth(df02, "UK_DF02_3")
        cyclic = (("EF07", [a.to_record() for a in person.allergies]),
                  ("EF08", [i.to_record() for i in person.immunisations]))  # fmt: skip
        for ef_name, records in cyclic:
            if records:
                self.add(f"SELECT DF02/{ef_name}", c.select_fid(df02.ef(ef_name).fid))
            for n, record in enumerate(records, 1):  # oldest first: the newest ends as record 1
                self.add(f"UPDATE RECORD DF02/{ef_name} #{n}", c.update_record_cyclic(record))
        self.select((ddf1, df03))
        self.auth(df03, "UK_DF03_2")
        for ef_name, slots in (("EF05", 3), ("EF06", 5)):
            self.add(f"SELECT DF03/{ef_name}", c.select_fid(df03.ef(ef_name).fid))
            for n in range(1, slots + 1):
                self.add(f"ERASE INDEX DF03/{ef_name} #{n} (FF)", c.erase_index(n))
        visits: list[tuple[str, str, VisitRecord]] = [("EE", "EF05", r) for r in person.inpatient] + [
            ("ED", "EF06", r) for r in person.outpatient
        ]
        if visits:
            self.auth(df03, "UK_DF03_1")
        for prefix, index_ef, visit in visits:
            self.binary(df03, df03.ef(f"{prefix}{visit.slot:02d}"), visit.to_bytes())
            if visit.valid:
                self.add(f"SELECT DF03/{index_ef}", c.select_fid(df03.ef(index_ef).fid))
                self.add(f"SET INDEX DF03/{index_ef} #{visit.slot} (00)", c.write_index_valid(visit.slot))

    def purse(self) -> None:
        if self.p.purse is None:
            return
        adf = self.p.purse.adf
        self.select((adf,))
        self.auth(adf, "external_auth")
        d = self.issue_date
        ef15 = PurseApplicationData(
            issuer_id=self.issuer.purse_issuer_id, app_serial=self.purse_serial, start_date=d,
            expiry_date=d.replace(year=d.year + self.issuer.purse_validity_years, day=min(d.day, 28)),
        )  # fmt: skip
        self.binary(adf, adf.ef("EF15"), ef15.to_bytes())

    def run(self) -> list[Step]:
        mf = self.p.mf
        self.add("SELECT MF", c.select_fid(MF_FID))
        self.add(
            "EXTERNAL AUTHENTICATE transport key",
            Command(0x00, 0x82, 0x00, 0x00, b"", redact=Redact.COMMAND_DATA),
            StepKind.AUTH_FMCOS,
            self.keys.card_key("TRANSPORT", self.card_no, None),
        )
        self.add("ERASE DF (MF)", c.erase_df())
        self.open_df(mf)
        for app in self.p.applications:
            self.auth(mf, "MF_MASTER")
            self.structure(app, ())
            self.select(())
        self.data()
        self.purse()
        return self.steps


def plan(
    profile: CardProfile,
    person: Person,
    issuer: IssuerConfig,
    keys: KeySource,
    *,
    card_no: bytes | None = None,
    issue_date: _dt.date | None = None,
) -> list[Step]:
    """The ordered personalisation steps for a blank card (pure; no card access)."""
    number = card_no if card_no is not None else card_no_for(person)
    if len(number) != 8:
        raise ValueError("cardNo must be 8 bytes")
    when = issue_date or issuer.issue_date or _dt.date.today()
    return _Planner(profile, person, issuer, keys, number, when).run()


def _execute(channel: CommandChannel, step: Step) -> Response:
    if step.kind is StepKind.PLAIN:
        return channel.transmit(step.command)
    challenge = channel.transmit(c.get_challenge(8))
    if not challenge.ok:
        return challenge
    ch = challenge.data[:8]
    cmd = step.command
    if step.kind is StepKind.AUTH_FMCOS:
        data = external_auth_cryptogram(Algorithm.TDES, step.key, ch)
    elif step.kind is StepKind.AUTH_HEALTH:
        data = health_auth_cryptogram(step.key, ch, RK_TERMINAL_DATA) + RK_TERMINAL_DATA + b"\x01"
    else:
        data = health_sm_wrap(step.key, ch, cmd.header, cmd.data)
    return channel.transmit(Command(cmd.cla, cmd.ins, cmd.p1, cmd.p2, data, redact=Redact.COMMAND_DATA))


def _run(channel: CommandChannel, steps: Sequence[Step]) -> Iterator[tuple[str, int]]:
    for step in steps:
        response = _execute(channel, step)
        if response.sw != step.expect:
            raise error_for(response.sw, step.command)
        yield step.label, response.sw


def personalise(
    channel: CommandChannel,
    profile: CardProfile,
    person: Person,
    issuer: IssuerConfig,
    keys: KeySource,
    *,
    atr: bytes | None = None,
    issue_date: _dt.date | None = None,
) -> Report:
    """Personalise a blank card: cardNo from the ATR (profile layout) if given, then every step of :func:`plan`."""
    card_no = profile.atr.card_no(atr) if atr is not None else None
    steps = plan(profile, person, issuer, keys, card_no=card_no, issue_date=issue_date)
    number = card_no if card_no is not None else card_no_for(person)
    return Report(number, tuple(_run(channel, steps)))
