"""The virtual SAM through the real stack: pyscard → pcscd → vpcd (slot 1, "Virtual PCD 00 01") → VirtualSam.

Driven by reader name with plain pyscard (raw APDUs, the GET RESPONSE done by hand, as a terminal program would)
and with :class:`sam.client.SamClient` over :class:`apdu.pcsc.PcscTransport`; the terminal serial the SAM
persists survives being served again from its image file (issue 3 "Evidence"; vsmartcard vpcd protocol, pcscd polling,
sources.md F5).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from smartcard.System import readers

from apdu.channel import Channel
from apdu.errors import MacError, PinError, SamError
from apdu.pcsc import PcscTransport
from sam.client import SamClient
from sam.crypto import (
    Algorithm,
    diversify,
    health_auth_cryptogram,
    health_card_key,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
)
from sam.crypto.sm2 import sm2_load_public_key, sm2_verify
from sam.keystore import load_demo_keys
from sam.virtual import VirtualSam, load_sam_image, new_sam_image, save_sam_image
from tests.e2e.conftest import VpcdFixture
from tests.sam.sam_helpers import vector_store

pytestmark = pytest.mark.pcsc
H = bytes.fromhex
SAM_SLOT = 1


def transmit(connection: object, hexapdu: str) -> tuple[bytes, int]:
    data, sw1, sw2 = connection.transmit(list(H(hexapdu)))  # type: ignore[attr-defined]
    return bytes(data), (sw1 << 8) | sw2


def test_plain_pyscard_by_reader_name(vpcd: VpcdFixture) -> None:
    """pboc-purchase-v2 computed by the SAM in pcscd, with the DPK as an undiversified key."""
    sam = VirtualSam(new_sam_image(vector_store()))
    with vpcd(sam, slot=SAM_SLOT) as name:
        assert name == "Virtual PCD 00 01"
        connection = next(r for r in readers() if str(r) == name).createConnection()
        connection.connect()
        try:
            assert bytes(connection.getATR()) == sam.atr
            assert transmit(connection, "00B0960006") == (H("001122334455"), 0x9000)
            data = "11223344" + "0000" + "00001000" + "06" + "20120229135100" + "01" + "00"
            assert transmit(connection, f"8070000014{data}08") == (b"", 0x6982)  # no MAC1 without the SAM PIN
            assert transmit(connection, "0020000003123456") == (b"", 0x9000)
            reply, sw = transmit(connection, f"8070000014{data}08")
            if sw >> 8 == 0x61:  # T=0 style: fetch with GET RESPONSE
                reply, sw = transmit(connection, f"00C00000{sw & 0xFF:02X}")
            assert (reply, sw) == (H("00000001F15CAB75"), 0x9000)
            assert transmit(connection, "807200000456988A13") == (b"", 0x9000)
            assert transmit(connection, "8072000004" + "00" * 4)[1] == 0x6985
            assert transmit(connection, "0020000003999999") == (b"", 0x63C2)
        finally:
            connection.disconnect()
    assert sam.image.terminal_serial == 1 and sam.image.pin_tries_left == 2


def test_sam_client_over_pcsc_and_serial_persistence(vpcd: VpcdFixture, tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    save_sam_image(new_sam_image(), path)
    demo = load_demo_keys()
    factor = H("0000000000000321")
    dpk = diversify(Algorithm.TDES, demo.by_name("purchase").value, factor)
    when = dt.datetime(2024, 3, 15, 10, 11, 12)

    def purchase(client: SamClient, amount: int) -> int:
        answer = client.init_for_purchase(
            icc_random=H("01020304"),
            card_counter=1,
            amount=amount,
            when=when,
            key_version=1,
            algorithm=0,
            factors=[factor],
        )
        serial, mac1 = answer.terminal_serial, answer.mac1
        sk = purchase_session_key(Algorithm.TDES, dpk, H("01020304"), 1, serial)
        assert mac1 == purchase_mac1(Algorithm.TDES, sk, amount, 6, H("000000000001"), H("20240315101112"))
        client.credit_for_purchase(purchase_mac2(Algorithm.TDES, sk, amount))
        return serial

    with vpcd(VirtualSam.open(path), slot=SAM_SLOT) as name, PcscTransport(name) as transport:
        client = SamClient(Channel(transport))
        assert client.terminal_id() == H("000000000001")
        client.verify_pin("123456")  # every key-using SAM command needs the PIN
        assert [purchase(client, 100), purchase(client, 200)] == [1, 2]
        with pytest.raises(MacError) as info:
            client.init_for_purchase(
                icc_random=H("01020304"),
                card_counter=1,
                amount=1,
                when=when,
                key_version=1,
                algorithm=0,
                factors=[factor],
            )
            client.credit_for_purchase(b"\x00" * 4)
        assert isinstance(info.value, SamError) and info.value.sw == 0x9302
        with pytest.raises(PinError) as pin_info:
            client.verify_pin("000000")
        assert pin_info.value.tries_left == 2
        client.verify_pin("123456")
        card_no, city, challenge = H("0102030405060708"), b"41000000", H("A1B2C3D4E5F60718")
        key = health_card_key(demo.by_name("RK_DDF1").value, card_no, city)
        assert client.health_auth_cryptogram("RK_DDF1", card_no, challenge, H("1122334455667788"), city) == (
            health_auth_cryptogram(key, challenge, H("1122334455667788"))
        )
        public = sm2_load_public_key(client.sm2_public_key())
        assert sm2_verify(public, b"DF03 record", client.sm2_sign(b"DF03 record"))
    assert load_sam_image(path).terminal_serial == 3
    # served again from the saved image: the serial continues
    with vpcd(VirtualSam.open(path), slot=SAM_SLOT) as name, PcscTransport(name) as transport:
        again = SamClient(Channel(transport))
        again.verify_pin("123456")
        assert purchase(again, 300) == 4
    assert load_sam_image(path).terminal_serial == 4
