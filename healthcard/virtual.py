"""Factories for virtual cards: a blank FMCOS card, and the demo card personalised through its own APDUs.

``new_demo_card()`` builds a blank card (MF with the transport key, ATR carrying cardNo as in
docs/profiles.md) and runs :func:`healthcard.issuance.personalise` against it — every file, key and record is
created by the same CREATE FILE / WRITE KEY / APPEND RECORD ... APDUs a real issuance would send — then loads the
purse through VERIFY / INITIALIZE FOR LOAD / CREDIT FOR LOAD with MAC2 computed from the demo load key (the
issuer host's role, JR/T 0025.2 load MAC/TAC). Keys come from the demo key set (``sam/data/demo-keys.json``) so the
default virtual SAM works with the result. Test and demo use only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from apdu.bcd import encode_datetime
from apdu.command import Command
from apdu.errors import CardError, DataError, LibraryError
from apdu.fmcos import Scheme
from apdu.response import Response
from apdu.response_records import InitForLoadResponse
from apdu.status import describe
from healthcard.cos.card import VirtualCard
from healthcard.fs.keys import Key, KeyFile
from healthcard.fs.nodes import DF, MF_FID
from healthcard.fs.state import CardState
from healthcard.image import load_image, save_image
from healthcard.issuance import DemoKeySource, IssuerConfig, KeySource, card_no_for, personalise
from healthcard.person import Person
from healthcard.profiles import CardProfile, demo_card_profile
from sam.crypto import Algorithm, load_mac1, load_mac2, load_session_key

__all__ = [
    "DEFAULT_BALANCE_FEN",
    "DEMO_PERSONS",
    "DEMO_TERMINAL_ID",
    "TRANSPORT_KEY",
    "blank_card",
    "demo_issuer",
    "demo_person",
    "load_card",
    "load_demo_person",
    "load_purse",
    "new_demo_card",
    "save_card",
]

DEFAULT_BALANCE_FEN = 10_000
TRANSPORT_KEY = b"\xff" * 16  # FMCOS default transport key (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE)
DEMO_TERMINAL_ID = bytes.fromhex("000000000001")


def demo_person() -> Person:
    """The demo person of the demo card (fictitious, 张伟): the shipped ``zhang-wei`` (:func:`load_demo_person`)."""
    return load_demo_person("zhang-wei")


#: The demo persons shipped as package data (``healthcard/data/persons``, also ``examples/persons``): fictitious.
DEMO_PERSONS = ("zhang-wei", "li-na", "ayiguli-maimaiti")


def load_demo_person(name: str) -> Person:
    """A shipped demo person by name (:data:`DEMO_PERSONS`), read from the package data, not from ``examples/``."""
    if name not in DEMO_PERSONS:
        raise DataError(f"no demo person {name!r}: one of {', '.join(DEMO_PERSONS)}", field="person")
    text = resources.files("healthcard").joinpath("data", "persons", f"{name}.json").read_text(encoding="utf-8")
    return Person.from_json(json.loads(text))


def demo_issuer() -> IssuerConfig:
    """The demo issuer (fictitious): the package data ``healthcard/data/issuer.json`` (``examples/issuer.json`` is a
    link to it, so the CLI's ``--issuer examples/issuer.json`` and the built-in demo issuer cannot drift apart)."""
    text = resources.files("healthcard").joinpath("data", "issuer.json").read_text(encoding="utf-8")
    return IssuerConfig.from_json(json.loads(text))


def blank_card(
    card_no: bytes, *, profile: CardProfile | None = None, transport_key: bytes = TRANSPORT_KEY,
    rng: Callable[[int], bytes] = os.urandom,
) -> VirtualCard:  # fmt: skip
    """An unpersonalised card: MF (create, erase and add-key rights ``FF``) whose key file holds the transport key
    39/00.

    The transport key sets state F, which the MF's rights require (FMCOS 2.0 base commands, sources.md V1): the blank
    (transport) state is open to whoever knows the transport key, and issuance replaces that key by the MF master key,
    so the same rights then need the MF master key (issue #11 item 1; docs/decisions.md D10).
    """
    prof = profile or demo_card_profile()
    mf = DF(MF_FID, prof.mf.df_name, create_right=0xFF, erase_right=0xFF, app_sfi=0x95)
    kf = KeyFile(0x0000, 0x0200, 0x95, 0xFF, 0x00, Scheme.FMCOS)
    kf.keys[(0x39, 0x00)] = Key(0x39, 0x00, 0xF0, 0xFF, transport_key, follow_state=0x0F, max_tries=15, tries_left=15)
    mf.key_file = kf
    return VirtualCard(CardState(mf=mf, atr=prof.atr.build(card_no)), rng=rng)


class _CardChannel:
    """Minimal channel for issuance: commands straight into the card (the COS never answers 61xx/6Cxx)."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card

    def transmit(self, command: Command) -> Response:
        raw = self.card.execute(command.encode())
        if len(raw) < 2:
            raise LibraryError("the virtual card did not answer")
        return Response.decode(raw)

    def send(self, command: Command) -> Response:
        response = self.transmit(command)
        if not response.ok:
            raise CardError(response.sw, describe(response.sw), command)
        return response


def load_purse(
    card: VirtualCard, amount_fen: int, *, keys: KeySource | None = None, pin: bytes = b"\x12\x34\x56",
    terminal_id: bytes = DEMO_TERMINAL_ID, when: _dt.datetime | None = None,
) -> int:  # fmt: skip
    """Load the EP through APDUs as an issuer host would (PIN, INITIALIZE FOR LOAD, CREDIT FOR LOAD).

    Returns the new balance in fen. MAC1 from the card is verified and MAC2 computed with the demo load key
    diversified by the rightmost 8 bytes of the application serial (EF15).
    """
    source = keys or DemoKeySource()
    ch = _CardChannel(card)
    ch.send(Command(0x00, 0xA4, 0x00, 0x00, b"\x10\x01"))
    ef15 = ch.send(Command(0x00, 0xB0, 0x95, 0x00, le=0x1E)).data
    load_key = source.card_key("load", ef15[12:20], None)
    ch.send(Command(0x00, 0x20, 0x00, 0x00, pin))
    init = ch.send(Command(0x80, 0x50, 0x00, 0x02, b"\x01" + amount_fen.to_bytes(4, "big") + terminal_id, le=0x10))
    answer = InitForLoadResponse.parse(init.data)
    sk = load_session_key(Algorithm.TDES, load_key, answer.icc_random, answer.online_counter)
    if load_mac1(Algorithm.TDES, sk, answer.balance, amount_fen, 0x02, terminal_id) != answer.mac1:
        raise LibraryError("the card's load MAC1 does not verify")
    stamp = encode_datetime(when or _dt.datetime.now())
    mac2 = load_mac2(Algorithm.TDES, sk, amount_fen, 0x02, terminal_id, stamp)
    ch.send(Command(0x80, 0x52, 0x00, 0x00, stamp + mac2, le=4))
    return answer.balance + amount_fen


def new_demo_card(
    person: Person | None = None,
    balance_fen: int = DEFAULT_BALANCE_FEN,
    blank: bool = False,
    *,
    card_no: bytes | None = None,
    issuer: IssuerConfig | None = None,
    keys: KeySource | None = None,
    profile: CardProfile | None = None,
    issue_date: _dt.date | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> VirtualCard:
    """A demo card personalised through its own APDUs (or left blank), with ``balance_fen`` loaded.

    ``card_no`` defaults to the demo derivation from the person's card number (SHA-256(KH)[:8]). ``issue_date``
    (default: today) dates the issuance (EF05 FKSJ, EF08 expiry, EF15 start/expiry) and the initial load's
    detail record (at 00:00:00 that day), so cards made on different days differ unless it is given.
    """
    who = person or demo_person()
    prof = profile or demo_card_profile()
    number = card_no if card_no is not None else card_no_for(who)
    card = blank_card(number, profile=prof, rng=rng)
    if blank:
        return card
    source = keys or DemoKeySource()
    personalise(_CardChannel(card), prof, who, issuer or demo_issuer(), source, atr=card.atr,
                issue_date=issue_date)  # fmt: skip
    card.power_on()
    if balance_fen and prof.purse is not None:
        when = None if issue_date is None else _dt.datetime.combine(issue_date, _dt.time())
        load_purse(card, balance_fen, keys=source, when=when)
        card.power_on()
    return card


def save_card(card: VirtualCard, path: str | Path) -> None:
    """Save the card's persistent state as an image (atomically)."""
    save_image(card.state, path)


def load_card(path: str | Path, *, rng: Callable[[int], bytes] = os.urandom) -> VirtualCard:
    """A card from an image file (an interrupted commit in the image is recovered at power-on)."""
    return VirtualCard(load_image(path), rng=rng)
