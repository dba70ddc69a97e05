"""Conformance of the virtual card through pyscard → pcscd → vpcd, with plain pyscard APDUs on the client side.

Only the ``vpcd`` fixture (tests/e2e/conftest.py) serves the card; the client side is pyscard plus sam.crypto to
compute and check MACs with the demo keys (pboc-purse.md §2-§3, §7; health-card.md §2, §4, §6).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager

from smartcard.CardConnection import CardConnection
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


@contextmanager
def _connected(vpcd: VpcdFixture, card: VirtualCard) -> Iterator[Pyscard]:
    with vpcd(card, slot=0) as name:
        reader = next(r for r in readers() if str(r) == name)
        connection = reader.createConnection()
        connection.connect()
        try:
            yield Pyscard(connection)
        finally:
            connection.disconnect()


def _health_auth(t: Pyscard, key_name: str, ref: int, *, city: bool) -> int:
    challenge, sw = t("0084000008")
    assert sw == 0x9000
    key = KEYS.card_key(key_name, CARD_NO, CITY if city else None)
    crypt = health_auth_cryptogram(key, challenge, TERMINAL)
    return t(f"008200{ref:02X}11", crypt + TERMINAL + b"\x01")[1]


def test_select_read_and_refusals(vpcd: VpcdFixture) -> None:
    with _connected(vpcd, _card()) as t:
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


def test_secure_messaging_and_plain_writes(vpcd: VpcdFixture) -> None:
    with _connected(vpcd, _card()) as t:
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


def test_pboc_purchase_and_load(vpcd: VpcdFixture) -> None:
    with _connected(vpcd, _card()) as t:
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


def test_wrong_mac_and_pin_lock(vpcd: VpcdFixture) -> None:
    with _connected(vpcd, _card()) as t:
        t("00A40000021001")
        t("805001020B01 00000001 000000000001 0F")
        assert t("805401000F 00000001 20240115103000 00000000 08")[1] == 0x9302
        assert t("0020000003 000000")[1] == 0x63C2
        assert t("0020000003 000000")[1] == 0x63C1
        assert t("0020000003 000000")[1] == 0x6983
        assert t("0020000003 123456")[1] == 0x6983
        assert t("805000020B01 00000001 000000000001 10")[1] == 0x6982
