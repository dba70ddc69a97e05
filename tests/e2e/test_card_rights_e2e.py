"""Issue #11 item 1 through pcscd + vpcd: an issued card served into pcscd refuses the holder's attacks.

Plain pyscard, as any PC/SC program on the kiosk would send them: add a load key of his own after his PIN, add an
authentication key of his own, create a file, erase the purse ADF and the MF. Every one answers 6982 and the card
is unchanged (tests/adversarial/test_card_rights.py has the in-process variants; docs/decisions.md D10).
"""

from __future__ import annotations

import random

from smartcard.System import readers

from apdu import fmcos
from healthcard.image import dumps
from healthcard.virtual import new_demo_card
from tests.e2e.conftest import VpcdFixture

MY_KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")


def test_issued_card_refuses_the_holders_attacks_through_pcscd(vpcd: VpcdFixture) -> None:
    card = new_demo_card(rng=random.Random(11).randbytes)
    before = dumps(card.state)
    with vpcd(card, slot=0) as name:
        connection = next(r for r in readers() if str(r) == name).createConnection()
        connection.connect()
        try:

            def t(apdu: bytes) -> int:
                _, sw1, sw2 = connection.transmit(list(apdu))
                return int((sw1 << 8) | sw2)

            h = bytes.fromhex
            assert t(h("00A40000021001")) == 0x9000
            assert t(h("0020000003123456")) == 0x9000  # the holder's own PIN
            assert t(fmcos.write_transaction_key(0x3F, 0x02, MY_KEY, use_right=0xF0).encode()) == 0x6982
            own_auth = fmcos.write_external_auth_key(0x07, MY_KEY, follow_state=0x0F, error_counter=0x33)
            assert t(own_auth.encode()) == 0x6982
            assert t(h("80E0EF1F07 28 0010 F0 F0 FFFF".replace(" ", ""))) == 0x6982
            assert t(h("800E000000")) == 0x6982
            assert t(h("00A40000023F00")) == 0x9000
            assert t(own_auth.encode()) == 0x6982
            assert t(h("800E000000")) == 0x6982
        finally:
            connection.disconnect()
    assert dumps(card.state) == before
