"""APPLICATION BLOCK / UNBLOCK and CARD BLOCK (JR/T 0025.1 APPLICATION/CARD BLOCK) with the status words of
docs/virtual-card.md.

A temporarily blocked application answers SELECT with FCI ‖ 6283 and only SELECT, GET CHALLENGE, EXTERNAL
AUTHENTICATE and APPLICATION UNBLOCK; everything else 6A81. A permanently blocked one answers 9303 (SELECT
included, no FCI). A blocked card answers 6A81 to everything, for good. The MAC is the FMCOS SM MAC of JR/T 0025.1
secure messaging over ``84 xx P1 P2 04`` with the purse ADF's line-protection key 36/00.
"""

from __future__ import annotations

from apdu.command import Command
from healthcard.cos import VirtualCard
from healthcard.fs import DF, LifeCycle
from healthcard.image import dumps, loads
from sam.crypto import Algorithm, external_auth_cryptogram, sm_mac_command
from tests.healthcard.vcard_tools import KEYS, OK, fresh_card, purse_factor, x

TDES = Algorithm.TDES
FCI = bytes.fromhex("6F13840C48434152442E455055525345A503880195")


class Purse:
    """The demo card with the purse ADF selected and its diversified keys."""

    def __init__(self) -> None:
        self.card = fresh_card()
        factor = purse_factor(self.card)
        self.line = KEYS.card_key("line_protection", factor, None)
        self.master = KEYS.card_key("external_auth", factor, None)

    def mac_cmd(self, ins: int, p2: int = 0, *, corrupt: bool = False) -> bytes:
        challenge = x(self.card, "0084000004")[:-2]
        raw = sm_mac_command(TDES, self.line, Command(0x84, ins, 0, p2), challenge).encode()
        return raw[:-1] + bytes((raw[-1] ^ 1,)) if corrupt else raw

    def run(self, ins: int, p2: int = 0, *, corrupt: bool = False) -> bytes:
        return self.card.execute(self.mac_cmd(ins, p2, corrupt=corrupt))

    @property
    def adf(self) -> DF:
        node = self.card.state.mf.children[0x1001]
        assert isinstance(node, DF)
        return node


def _external_auth(card: VirtualCard, key: bytes) -> bytes:
    challenge = x(card, "0084000008")[:-2]
    return card.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, key, challenge))


def test_temporary_block_answers_and_state() -> None:
    p = Purse()
    assert p.run(0x1E) == OK
    assert p.adf.life_cycle is LifeCycle.BLOCKED_TEMPORARILY
    card = p.card
    for apdu in ("805C000204", "00B095001E", "0020000003123456", "0088000004 01020304", "80E0001707 28 0010 F0F0FFFF"):
        assert x(card, apdu) == b"\x6a\x81", apdu
    assert len(x(card, "0084000004")) == 6  # GET CHALLENGE still works
    assert _external_auth(card, p.master) == OK  # EXTERNAL AUTHENTICATE still works
    assert x(card, "00A40000021001") == FCI + b"\x62\x83"
    assert x(card, "00A4000002DDF1")[-2:] == OK  # another application is unaffected
    x(card, "00A4000002EF05")
    assert x(card, "00B2080014")[-2:] == OK
    assert x(card, "00A40000021001") == FCI + b"\x62\x83"
    card.power_off()
    card.power_on()
    assert x(card, "00A40000021001") == FCI + b"\x62\x83"  # persistent
    again = loads(dumps(card.state)).mf.children[0x1001]
    assert isinstance(again, DF) and again.life_cycle is LifeCycle.BLOCKED_TEMPORARILY


def test_unblock_needs_challenge_and_mac() -> None:
    p = Purse()
    assert p.run(0x1E) == OK
    card = p.card
    assert x(card, "8418000004 00000000") == b"\x69\x84"
    assert p.run(0x18, corrupt=True) == b"\x69\x88"
    assert x(card, "805C000204") == b"\x6a\x81"
    assert p.run(0x18) == OK
    assert p.adf.life_cycle is LifeCycle.ACTIVE
    assert x(card, "805C000204") == (10_000).to_bytes(4, "big") + OK
    assert x(card, "00A40000021001") == FCI + OK


def test_permanent_block_is_9303_and_cannot_be_lifted() -> None:
    p = Purse()
    assert p.run(0x1E, 0x01) == OK
    card = p.card
    assert p.adf.life_cycle is LifeCycle.BLOCKED_PERMANENTLY
    assert x(card, "805C000204") == b"\x93\x03"
    assert x(card, "0084000004") == b"\x93\x03"
    assert x(card, "8418000004 00000000") == b"\x93\x03"
    assert x(card, "0082000008 0000000000000000") == b"\x93\x03"
    assert x(card, "00A40000021001") == b"\x93\x03"
    assert x(card, "00A4000002DDF1")[-2:] == OK
    assert x(card, "00A40000021001") == b"\x93\x03"
    card.power_on()
    assert x(card, "00A40000021001") == b"\x93\x03"


def test_block_command_format_errors() -> None:
    p = Purse()
    card = p.card
    assert x(card, "841E000204 00000000") == b"\x6a\x86"
    assert x(card, "801E000004 00000000") == b"\x6e\x00"
    assert x(card, "841E000003 000000") == b"\x67\x00"
    assert x(card, "841E000004 00000000") == b"\x69\x84"  # no challenge
    assert p.run(0x1E, corrupt=True) == b"\x69\x88"
    assert p.adf.life_cycle is LifeCycle.ACTIVE
    assert x(card, "805C000204")[-2:] == OK


def test_card_block_with_the_fmcos_mac() -> None:
    p = Purse()
    assert p.run(0x16, corrupt=True) == b"\x69\x88"
    assert p.card.state.mf.life_cycle is LifeCycle.ACTIVE
    assert p.run(0x16) == OK
    card = p.card
    assert card.state.mf.life_cycle is LifeCycle.CARD_BLOCKED
    for apdu in ("00A40000023F00", "00A40000021001", "0084000008", "805C000204", "00B095001E"):
        assert x(card, apdu) == b"\x6a\x81", apdu
    card.power_off()
    card.power_on()
    assert x(card, "00A4000002DDF1") == b"\x6a\x81"
    assert loads(dumps(card.state)).mf.life_cycle is LifeCycle.CARD_BLOCKED
