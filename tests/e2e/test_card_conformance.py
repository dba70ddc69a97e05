"""Conformance of the virtual card through pyscard → pcscd → vpcd, with plain pyscard APDUs on the client side.

Only the ``vpcd`` fixture (tests/e2e/conftest.py) serves the card; the client side is pyscard plus sam.crypto to
compute and check MACs with the demo keys (JR/T 0025.1 purse commands; JR/T 0025.2 MAC/TAC, JR/T 0025.1 secure
messaging; WS/T 543.3 file tree, WS/T 543.3 access rules, WS/T 543.4 commands).

Speed: pcscd notices a card inserted or removed only at its presence poll (about 0.4 s each way), so serving a new
card per test cost ~0.8 s of waiting per test. The module serves one :class:`CardSlot` for all tests and puts a
fresh copy of the demo card into it before each test (same ATR, so pcscd sees no change); every test still opens
its own PC/SC connection, which powers the card on.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pytest
from smartcard import scard
from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException
from smartcard.System import readers

from healthcard.cos import VirtualCard
from healthcard.issuance import DemoKeySource, card_no_for
from healthcard.virtual import DEMO_TERMINAL_ID, demo_person, new_demo_card
from sam.crypto import (
    Algorithm,
    health_auth_cryptogram,
    health_sm_wrap,
    load_mac1,
    load_mac2,
    load_session_key,
    load_tac,
    mac,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    purchase_tac,
)
from tests.e2e.conftest import VpcdFixture

KEYS = DemoKeySource()
CARD_NO = card_no_for(demo_person())
CITY = b"11000000"
TERMINAL = bytes.fromhex("1122334455667788")
WHEN = bytes.fromhex("20240115103000")
TDES = Algorithm.TDES
_BASE = new_demo_card(rng=random.Random(3).randbytes)


def _card() -> VirtualCard:
    return VirtualCard(copy.deepcopy(_BASE.state), rng=random.Random(4).randbytes)


class Pyscard:
    """Plain pyscard: transmit(hex, data) → (data, sw)."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection

    def __call__(self, hexstr: str, data: bytes = b"") -> tuple[bytes, int]:
        apdu = list(bytes.fromhex(hexstr.replace(" ", "")) + data)
        out, sw1, sw2 = self.connection.transmit(apdu)
        return bytes(out), (sw1 << 8) | sw2


class CardSlot:
    """A :class:`~apdu.card.SimulatedCard` that forwards to ``card``, which a test may exchange between sessions."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> None:
        self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> None:
        self.card.reset()

    def execute(self, apdu: bytes) -> bytes:
        return self.card.execute(apdu)


@dataclass
class Served:
    slot: CardSlot
    reader: str
    fixture: VpcdFixture


@pytest.fixture(scope="module")
def served(pcscd: None) -> Iterator[Served]:
    """One card slot served on vpcd slot 0 for the whole module (see the module docstring)."""
    fixture = VpcdFixture()
    slot = CardSlot(_card())
    with fixture(slot, slot=0) as name:
        yield Served(slot, name, fixture)


def _connect(name: str) -> CardConnection:
    reader = next(r for r in readers() if str(r) == name)
    connection = reader.createConnection()
    connection.connect()
    return connection


def _wait_for(name: str, *, present: bool, timeout: float = 10.0) -> None:
    """Wait until pcscd reports a card in reader ``name`` (``present``) or none."""
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    try:
        deadline = time.monotonic() + timeout
        while True:
            hr, states = scard.SCardGetStatusChange(context, 0, [(name, scard.SCARD_STATE_UNAWARE)])
            if hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT) == present:
                return
            assert time.monotonic() < deadline, f"pcscd never reported present={present} in {name!r}"
            time.sleep(0.02)
    finally:
        scard.SCardReleaseContext(context)


@contextmanager
def _connected(served: Served, card: VirtualCard) -> Iterator[Pyscard]:
    served.slot.card = card
    connection = _connect(served.reader)
    try:
        yield Pyscard(connection)
    finally:
        with suppress(CardConnectionException):  # already gone after a tear
            connection.disconnect()


def _health_auth(t: Pyscard, key_name: str, ref: int, *, city: bool) -> int:
    challenge, sw = t("0084000008")
    assert sw == 0x9000
    key = KEYS.card_key(key_name, CARD_NO, CITY if city else None)
    crypt = health_auth_cryptogram(key, challenge, TERMINAL)
    return t(f"008200{ref:02X}11", crypt + TERMINAL + b"\x01")[1]


def test_select_read_and_refusals(served: Served) -> None:
    with _connected(served, _card()) as t:
        data, sw = t("00A404000F", b"HEALTHCARD.DDF1")
        assert sw == 0x9000 and data[:1] == b"\x6f"
        assert t("00A4000002EF05") == (b"", 0x9000)
        kh, sw = t("00B2080014")
        assert sw == 0x9000 and kh[2:] == demo_person().card_number.encode()
        assert t("00A4000002EF06") == (b"", 0x9000)
        assert t("00B2010400")[1] == 0x6982
        assert _health_auth(t, "RK_DDF1", 0x04, city=True) == 0x9000
        t("00A4000002EF06")
        name, sw = t("00B2010400")
        assert sw == 0x9000 and name[2:] == "张伟".encode("gbk")
        assert t("00A4000002EF07") == (b"", 0x9000)
        photo, sw = t("00B0000080")
        assert sw == 0x9000 and len(photo) == 0x80
        assert t("00A4000002DF09")[1] == 0x6A82
        assert t("00A4000002EF99")[1] == 0x6A82


def test_secure_messaging_and_plain_writes(served: Served) -> None:
    with _connected(served, _card()) as t:
        t("00A4000002DDF1")
        assert _health_auth(t, "UK_DDF1", 0x05, city=False) == 0x9000
        t("00A4000002EF08")
        record = b"\x10\x0b" + b"13911112222"
        assert t("00DC02040D", record)[1] == 0x6987  # plain write to an SM file
        challenge, _ = t("0084000008")
        body = health_sm_wrap(KEYS.card_key("STK_DDF1", CARD_NO, None), challenge, bytes.fromhex("04DC0204"), record)
        assert t(f"04DC0204{len(body):02X}", body)[1] == 0x9000
        t("00A4000002EF07")
        assert t("00D6000004", b"\x00\x02\xff\xd8")[1] == 0x9000
        assert t("00B0000004") == (b"\x00\x02\xff\xd8", 0x9000)
        t("00A4000002EF08")
        assert t("00B2020400") == (record, 0x9000)


def test_pboc_purchase_and_load(served: Served) -> None:
    with _connected(served, _card()) as t:
        assert t("00A40000021001")[1] == 0x9000
        ef15, sw = t("00B095001E")
        assert sw == 0x9000
        factor = ef15[12:20]
        init, sw = t("805001020B01 000001F4 000000000001 0F")
        assert sw == 0x9000 and int.from_bytes(init[:4], "big") == 10_000
        ctr, rnd = int.from_bytes(init[4:6], "big"), init[11:15]
        sk = purchase_session_key(TDES, KEYS.card_key("purchase", factor, None), rnd, ctr, 9)
        mac1 = purchase_mac1(TDES, sk, 500, 0x06, DEMO_TERMINAL_ID, WHEN)
        answer, sw = t("805401000F 00000009", WHEN + mac1 + b"\x08")
        assert sw == 0x9000
        tac_key = KEYS.card_key("tac", factor, None)
        assert answer[4:] == purchase_mac2(TDES, sk, 500)
        assert answer[:4] == purchase_tac(TDES, tac_key, 500, 0x06, DEMO_TERMINAL_ID, 9, WHEN)
        assert t("805C000204") == ((9_500).to_bytes(4, "big"), 0x9000)
        prove, sw = t("805A000602", (ctr + 1).to_bytes(2, "big") + b"\x08")
        assert sw == 0x9000 and prove == answer[4:] + answer[:4]

        assert t("0020000003 123456")[1] == 0x9000
        init, sw = t("805000020B01 00000BB8 000000000001 10")
        assert sw == 0x9000
        bal, ctr, rnd, mac1 = int.from_bytes(init[:4], "big"), int.from_bytes(init[4:6], "big"), init[8:12], init[12:]
        sk = load_session_key(TDES, KEYS.card_key("load", factor, None), rnd, ctr)
        assert mac1 == load_mac1(TDES, sk, bal, 3_000, 0x02, DEMO_TERMINAL_ID)
        mac2 = load_mac2(TDES, sk, 3_000, 0x02, DEMO_TERMINAL_ID, WHEN)
        tac, sw = t("805200000B", WHEN + mac2 + b"\x04")
        assert sw == 0x9000
        assert tac == load_tac(TDES, tac_key, 12_500, ctr, 3_000, 0x02, DEMO_TERMINAL_ID, WHEN)
        assert t("805C000204") == ((12_500).to_bytes(4, "big"), 0x9000)


def test_wrong_mac_and_pin_lock(served: Served) -> None:
    with _connected(served, _card()) as t:
        t("00A40000021001")
        t("805001020B01 00000001 000000000001 0F")
        assert t("805401000F 00000001 20240115103000 00000000 08")[1] == 0x9302
        assert t("0020000003 000000")[1] == 0x63C2
        assert t("0020000003 000000")[1] == 0x63C1
        assert t("0020000003 000000")[1] == 0x6983
        assert t("0020000003 123456")[1] == 0x6983
        assert t("805000020B01 00000001 000000000001 10")[1] == 0x6982


def test_mac_read_through_pcscd(served: Served) -> None:
    with _connected(served, _card()) as t:
        t("00A40000021001")
        ef15, _ = t("00B095001E")
        line_key = KEYS.card_key("line_protection", ef15[12:20], None)
        challenge, sw = t("0084000004")
        assert sw == 0x9000
        answer, sw = t("04B095001E")
        assert sw == 0x9000 and answer == ef15 + mac(TDES, line_key, ef15, challenge)
        assert t("04B095001E") == (b"", 0x6984)  # the challenge was used up


def test_torn_purchase_looks_like_power_loss_to_pcscd(served: Served) -> None:
    """A tear inside DEBIT: no answer, pcscd sees the card removed; back in the reader it recovers (all or nothing)."""
    card = _card()
    connections = served.fixture.handles[0].server.connections
    with _connected(served, card) as t:
        t("00A40000021001")
        ef15, _ = t("00B095001E")
        factor = ef15[12:20]
        init, sw = t("805001020B01 000001F4 000000000001 0F")
        assert sw == 0x9000
        ctr, rnd = int.from_bytes(init[4:6], "big"), init[11:15]
        sk = purchase_session_key(TDES, KEYS.card_key("purchase", factor, None), rnd, ctr, 9)
        mac1 = purchase_mac1(TDES, sk, 500, 0x06, DEMO_TERMINAL_ID, WHEN)
        card.tear = lambda point: point == "purchase:commit"
        with pytest.raises(CardConnectionException):
            t("805401000F 00000009", WHEN + mac1 + b"\x08")
        assert card.torn
        card.tear = None
        _wait_for(served.reader, present=False)  # pcscd saw the reader empty
        with pytest.raises(CardConnectionException):
            t("805C000204")  # the old handle knows the card was removed
    _wait_for(served.reader, present=True)  # back after the server's removal time
    again = Pyscard(_connect(served.reader))
    try:
        assert not card.torn  # pcscd powered it on: journal recovered
        assert served.fixture.handles[0].server.connections == connections + 1
        again("00A40000021001")
        assert again("805C000204") == ((9_500).to_bytes(4, "big"), 0x9000)  # past the commit point: kept
        tac = purchase_tac(TDES, KEYS.card_key("tac", factor, None), 500, 0x06, DEMO_TERMINAL_ID, 9, WHEN)
        assert again("805A000602", (ctr + 1).to_bytes(2, "big") + b"\x08") == (purchase_mac2(TDES, sk, 500) + tac,
                                                                               0x9000)  # fmt: skip
    finally:
        again.connection.disconnect()
