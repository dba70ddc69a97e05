"""WRITE KEY in ciphertext ``84 D4`` (JR/T 0025.1 secure messaging "FMCOS ciphertext + MAC keys", FMCOS 2.0 WRITE KEY,
sources.md V1).

The key data (same layout as the plain ``80 D4``) is line-encrypted and MAC'd with the current DF's master key
39/00 and the last challenge; a type byte with the two high bits set (``3E`` → ``FE``) makes a protected key that
a plain ``80 D4`` may neither add nor replace (6987).
"""

from __future__ import annotations

from apdu import fmcos
from apdu.command import Command
from healthcard.cos import VirtualCard
from healthcard.fs import DF, KeyFile
from healthcard.image import dumps, loads
from healthcard.virtual import TRANSPORT_KEY, blank_card
from sam.crypto import Algorithm, external_auth_cryptogram, sm_encrypt_and_mac_command
from tests.healthcard.vcard_tools import KEYS, OK, fresh_card, purse_factor, purse_master_auth, x

TDES = Algorithm.TDES
NEW_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
OTHER_KEY = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")


def _ciphered(card: VirtualCard, master: bytes, command: Command, *, corrupt: bool = False) -> bytes:
    challenge = x(card, "0084000004")[:-2]
    wrapped = sm_encrypt_and_mac_command(TDES, master, master, command, challenge).encode()
    if corrupt:
        wrapped = wrapped[:-1] + bytes((wrapped[-1] ^ 1,))
    return card.execute(wrapped)


def _kf(card: VirtualCard) -> KeyFile:
    adf = card.state.mf.children[0x1001]
    assert isinstance(adf, DF) and adf.key_file is not None
    return adf.key_file


def _purse_card() -> tuple[VirtualCard, bytes]:
    """The purse ADF selected and authenticated with its master key: adding keys needs it (decisions D10)."""
    card = fresh_card()
    factor = purse_factor(card)
    purse_master_auth(card)
    return card, KEYS.card_key("external_auth", factor, None)


def test_ciphertext_write_key_adds_a_key() -> None:
    card, master = _purse_card()
    command = fmcos.write_transaction_key(0x3C, 0x01, NEW_KEY, use_right=0xF0, change_right=0xF0, version=2)
    wrapped_head = sm_encrypt_and_mac_command(TDES, master, master, command, bytes(4)).encode()[:4]
    assert wrapped_head == bytes.fromhex("84D40101")
    assert _ciphered(card, master, command) == OK
    key = _kf(card).find(0x3C, 0x01)
    assert key is not None and key.value == NEW_KEY and key.version == 2 and not key.protected


def test_ciphertext_write_key_needs_challenge_and_right_mac() -> None:
    card, master = _purse_card()
    command = fmcos.write_transaction_key(0x3C, 0x01, NEW_KEY)
    wrapped = sm_encrypt_and_mac_command(TDES, master, master, command, bytes(4)).encode()
    assert card.execute(wrapped) == b"\x69\x84"  # no challenge
    assert _ciphered(card, master, command, corrupt=True) == b"\x69\x88"
    assert _ciphered(card, OTHER_KEY, command) == b"\x69\x88"  # encrypted and MAC'd under a wrong key
    assert _kf(card).find(0x3C, 0x01) is None
    assert x(card, "00A40000021001")[-2:] == OK  # the card goes on answering normally


def test_protected_key_only_through_ciphertext() -> None:
    card, master = _purse_card()
    add = fmcos.write_transaction_key(0x3E, 0x02, NEW_KEY, change_right=0xF0, protected=True)
    assert add.data[0] == 0xFE
    assert card.execute(add.encode()) == b"\x69\x87"  # a protected key cannot be added in plain
    assert _ciphered(card, master, add) == OK
    kf = _kf(card)
    key = kf.find(0x3E, 0x02)
    assert key is not None and key.protected and key.key_type == 0x3E and key.value == NEW_KEY
    replace = fmcos.write_transaction_key(0x3E, 0x02, OTHER_KEY, change_right=0xF0, protected=True, update=True)
    assert replace.p1 == 0xFE
    assert card.execute(replace.encode()) == b"\x69\x87"
    plain_replace = fmcos.write_transaction_key(0x3E, 0x02, OTHER_KEY, change_right=0xF0, update=True)
    assert card.execute(plain_replace.encode()) == b"\x69\x87"
    assert kf.keys[(0x3E, 0x02)].value == NEW_KEY
    assert _ciphered(card, master, replace) == OK
    assert kf.keys[(0x3E, 0x02)].value == OTHER_KEY
    text = dumps(card.state)
    assert '"protected": true' in text and loads(text) == card.state


def test_plain_write_key_still_works_and_replace_needs_change_right() -> None:
    card, master = _purse_card()
    assert card.execute(fmcos.write_transaction_key(0x3C, 0x02, NEW_KEY, change_right=0xEF).encode()) == OK
    replace = fmcos.write_transaction_key(0x3C, 0x02, OTHER_KEY, update=True)
    assert card.execute(replace.encode()) == b"\x69\x82"  # change right EF: never
    assert _ciphered(card, master, replace) == b"\x69\x82"  # ciphertext does not bypass the right
    assert _ciphered(card, master, fmcos.write_transaction_key(0x3C, 0x02, NEW_KEY)) == b"\x6a\x89"  # exists


def test_ciphertext_replacement_of_the_transport_key() -> None:
    card = blank_card(bytes(8))
    replace = fmcos.write_external_auth_key(0x00, NEW_KEY, change_right=0xF0, follow_state=0x0F, error_counter=0xFF,
                                            update=True)  # fmt: skip
    assert _ciphered(card, TRANSPORT_KEY, replace) == b"\x69\x82"  # change right FF: the transport key's state
    challenge = x(card, "0084000008")[:-2]
    assert card.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, TRANSPORT_KEY, challenge)) == OK
    assert _ciphered(card, TRANSPORT_KEY, replace) == OK
    challenge = x(card, "0084000008")[:-2]
    assert card.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, NEW_KEY, challenge)) == OK
    assert card.security == 0x0F
    challenge = x(card, "0084000008")[:-2]
    assert card.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, TRANSPORT_KEY, challenge)) \
        == b"\x63\xce"  # fmt: skip


def test_ciphertext_write_key_class_and_key_file_errors() -> None:
    card, _ = _purse_card()
    command = fmcos.write_transaction_key(0x3C, 0x01, NEW_KEY)
    assert card.execute(b"\x04" + command.encode()[1:]) == b"\x6e\x00"
    erased = blank_card(bytes(8))
    challenge = x(erased, "0084000008")[:-2]
    assert erased.execute(bytes.fromhex("0082000008") + external_auth_cryptogram(TDES, TRANSPORT_KEY, challenge)) == OK
    assert x(erased, "800E000000") == OK
    assert _ciphered(erased, TRANSPORT_KEY, command) == b"\x6a\x82"  # no key file any more
