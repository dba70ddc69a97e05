"""Issue #11 item 6 (SAM side): the virtual SAM computes nothing with a key before its PIN is verified.

Someone holding the SAM (taken from a kiosk, or reached through a served vpcd slot) must not get a TAC, a
purchase MAC1, an external-authentication cryptogram or a line-protection MAC out of it without the PIN: every
key-using command answers ``6982`` until VERIFY succeeds, and again after a wrong VERIFY, a reset or a power
cycle (docs/sam.md "PIN").
"""

from __future__ import annotations

import pytest

from apdu.channel import Channel
from apdu.errors import SecurityStatusError
from apdu.inprocess import InProcessTransport
from sam.client import SamClient
from sam.virtual import VirtualSam, new_sam_image
from tests.sam.sam_helpers import H, sw_of

PIN = "0020000003123456"
DATETIME = "20240315101112"
PURCHASE = "8070000014" + "11223344" + "0000" + "00001000" + "06" + DATETIME + "01" + "00" + "08"
LOAD = ("807C00002A" + "0A0B0C0D" + "0007" + "000001F4" + "000007D0" + "02" + "000000000001" + DATETIME
        + "00000000" + "0100" + "0000000000000042" + "04")  # fmt: skip
KEY_USING = {
    "80 1A external auth key": "801A2E0108" + "0000000012345678",
    "80 1A line protection key": "801A250108" + "0000000012345678",
    "80 1A TAC key": "801A2C0108" + "0000000000000077",
    "80 1A maintenance master, zero levels": "801A0501",
    "80 FA encrypt": "80FA000008" + "AFE9CD6F00000000",
    "80 FA MAC": "80FA050010" + "00" * 16,
    "80 70 purchase MAC1": PURCHASE,
    "80 72 purchase MAC2 check": "8072000004" + "00" * 4,
    "80 7C load MAC2": LOAD,
    "80 7E TAC check": "807E060024"
    + "000010000600112233445500000001"
    + DATETIME
    + "3DA1149C"
    + "0100"
    + "1234567890123445",
    "80 DE health session key": "80DE272A10" + "0102030405060708" + "A1B2C3D4E5F60718",
    "80 CE SM2 signature": "80CE000020" + "00" * 32,
}


def _sam() -> VirtualSam:
    sam = VirtualSam(new_sam_image())
    sam.power_on()
    return sam


@pytest.mark.parametrize("apdu", list(KEY_USING.values()), ids=list(KEY_USING))
def test_every_key_using_command_needs_the_pin(apdu: str) -> None:
    sam = _sam()
    assert sw_of(sam, apdu) == 0x6982
    assert sam.image.terminal_serial == 0  # nothing consumed


def test_the_cryptogram_chain_is_closed_without_the_pin() -> None:
    """The attack of the issue: 80 1A + 80 FA gave the purse external-authentication cryptogram without the PIN."""
    sam = _sam()
    assert sw_of(sam, KEY_USING["80 1A external auth key"]) == 0x6982
    assert sw_of(sam, KEY_USING["80 FA encrypt"]) == 0x6982
    assert sw_of(sam, PIN) == 0x9000
    assert sw_of(sam, KEY_USING["80 1A external auth key"]) == 0x9000
    assert sw_of(sam, KEY_USING["80 FA encrypt"]) >> 8 == 0x61  # the cryptogram, by GET RESPONSE


@pytest.mark.parametrize("lose_it", ["wrong VERIFY", "reset", "power cycle"])
def test_the_pin_must_be_verified_again(lose_it: str) -> None:
    sam = _sam()
    assert sw_of(sam, PIN) == 0x9000
    assert sw_of(sam, KEY_USING["80 1A line protection key"]) == 0x9000
    if lose_it == "wrong VERIFY":
        assert sw_of(sam, "0020000003999999") == 0x63C2
    elif lose_it == "reset":
        sam.reset()
    else:
        sam.power_off()
        sam.power_on()
    assert sw_of(sam, KEY_USING["80 FA MAC"]) == 0x6982
    assert sw_of(sam, KEY_USING["80 1A line protection key"]) == 0x6982


def test_the_terminal_side_reports_the_missing_pin_as_a_sam_security_error() -> None:
    transport = InProcessTransport(_sam(), "inprocess:sam")
    transport.connect()
    client = SamClient(Channel(transport))
    with pytest.raises(SecurityStatusError) as info:
        client.external_auth_cryptogram(H("AFE9CD6F"), [H("0000000012345678")])
    assert info.value.sw == 0x6982 and "SAM" in str(info.value)
    client.verify_pin("123456")
    assert len(client.external_auth_cryptogram(H("AFE9CD6F"), [H("0000000012345678")])) == 8
