"""A torn virtual card served over vpcd looks like power loss: no answer, card out of the reader, back unpowered.

:attr:`VirtualCard.torn` is set by a tear and cleared by power-on; :class:`apdu.vpcd.VpcdCardServer` resets the
connection instead of answering an empty response and stays away for ``removal_time`` (so pcscd's presence poll
sees the reader empty), then comes back and waits for pcscd's POWER ON, which recovers the journal
(docs/virtual-card.md "Tearing over vpcd"). The vpcd side here is a listening socket in the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from apdu.vpcd import VpcdCardServer
from healthcard.cos import TearAt
from healthcard.virtual import DEMO_TERMINAL_ID
from sam.crypto import Algorithm, purchase_mac1, purchase_mac2, purchase_session_key
from tests.apdu.fake_vpcd import FakeVpcd
from tests.healthcard.vcard_tools import KEYS, OK, WHEN, fresh_card

TDES = Algorithm.TDES
POWER_ON, GET_ATR = 1, 4


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    v = FakeVpcd()
    yield v
    v.close()


def test_torn_flag_set_by_a_tear_and_cleared_by_power_on() -> None:
    card = fresh_card()
    assert not card.torn
    card.tear = lambda point: point == "apdu:done"
    assert card.execute(bytes.fromhex("00A40000021001")) == b""
    assert card.torn and not card.powered
    assert card.execute(bytes.fromhex("00A40000021001")) == b""
    card.power_off()
    assert card.torn  # still: only power-on brings it back
    card.tear = None
    card.power_on()
    assert not card.torn and card.powered
    assert card.execute(bytes.fromhex("00A40000021001"))[-2:] == OK


def _purchase_debit(v: FakeVpcd, amount: int) -> tuple[bytes, bytes]:
    """INITIALIZE FOR PURCHASE through vpcd; return the DEBIT command and the expected MAC2."""
    assert v.apdu("00A40000021001")[-2:] == OK
    factor = v.apdu("00B095001E")[12:20]
    init = v.apdu("805001020B01", amount.to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x0f")
    assert init[-2:] == OK
    ctr, rnd = int.from_bytes(init[4:6], "big"), init[11:15]
    sk = purchase_session_key(TDES, KEYS.card_key("purchase", factor, None), rnd, ctr, 1)
    mac1 = purchase_mac1(TDES, sk, amount, 0x06, DEMO_TERMINAL_ID, WHEN)
    return bytes.fromhex("805401000F00000001") + WHEN + mac1 + b"\x08", purchase_mac2(TDES, sk, amount)


def test_torn_card_is_pulled_from_the_reader_and_recovers_at_power_on(vpcd: FakeVpcd) -> None:
    card = fresh_card()
    server = VpcdCardServer(card, port=vpcd.port, retry_delay=0.02, removal_time=0.6)
    with server.serve_in_thread():
        conn = vpcd.accept(5)
        vpcd.control(POWER_ON)
        debit, mac2 = _purchase_debit(vpcd, 500)
        tear = TearAt(None)
        card.tear = lambda point: tear(point) or point == "purchase:commit"
        conn.sendall(len(debit).to_bytes(2, "big") + debit)
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            vpcd.read_frame()  # no answer: the connection is reset
        torn_at = time.monotonic()
        assert card.torn and "purchase:journal" in tear.points
        card.tear = None
        with pytest.raises(TimeoutError):
            vpcd.accept(0.3)  # the card stays out of the reader ...
        vpcd.accept(5)  # ... then comes back
        assert time.monotonic() - torn_at >= 0.55
        vpcd.control(GET_ATR)
        assert vpcd.read_frame() == card.atr
        assert server.connections == 2  # counted once the server thread serves the new connection (after accept)
        assert card.torn  # GET ATR does not power it on
        vpcd.control(POWER_ON)
        assert vpcd.apdu("00A40000021001")[-2:] == OK
        assert not card.torn
        assert vpcd.apdu("805C000204") == (9_500).to_bytes(4, "big") + OK  # committed before the tear: kept
        prove = vpcd.apdu("805A000602 0001 08")
        assert prove[:4] == mac2 and prove[-2:] == OK


def test_torn_before_the_commit_point_keeps_the_old_balance(vpcd: FakeVpcd) -> None:
    card = fresh_card()
    with VpcdCardServer(card, port=vpcd.port, retry_delay=0.02, removal_time=0.2).serve_in_thread():
        conn = vpcd.accept(5)
        vpcd.control(POWER_ON)
        debit, _ = _purchase_debit(vpcd, 500)
        card.tear = lambda point: point == "purchase:journal"
        conn.sendall(len(debit).to_bytes(2, "big") + debit)
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            vpcd.read_frame()
        card.tear = None
        vpcd.accept(5)
        vpcd.control(POWER_ON)
        assert vpcd.apdu("00A40000021001")[-2:] == OK
        assert vpcd.apdu("805C000204") == (10_000).to_bytes(4, "big") + OK
        assert vpcd.apdu("805A000602 0001 08") == b"\x94\x06"
