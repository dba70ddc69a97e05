"""Issue #11 item 1: an issued card is closed. A holder with his own card and no key cannot add a load key and load
money, erase the purse application or the whole card, create a file, or rewrite an allergy record.

After personalisation every DF's CREATE FILE, ERASE DF and add-key rights need its master key 39/00 (external
authentication: FF in the MF and the health DFs, F2 in the purse ADF); the holder's PIN (state 1 in the purse
ADF) opens none of them (docs/decisions.md D10, docs/profiles.md "Rights"). Each test fails on the code before the
fix, where those rights were F0 (free). The issuer, with the master keys, still can.
"""

from __future__ import annotations

import json
import logging

import pytest

from apdu import fmcos
from healthcard.codecs import Allergy
from healthcard.cos import VirtualCard
from healthcard.fs import DF, RecordEF
from healthcard.image import dumps, loads
from healthcard.issuance import DemoKeySource, card_no_for
from healthcard.virtual import DEMO_TERMINAL_ID, blank_card, demo_person, new_demo_card
from sam.crypto import (
    Algorithm,
    external_auth_cryptogram,
    health_auth_cryptogram,
)
from tests.healthcard.vcard_tools import OK, balance, fresh_card, purse_factor, purse_master_auth, x

TDES = Algorithm.TDES
DENIED = b"\x69\x82"
MY_KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")
TERMINAL = bytes.fromhex("1122334455667788")


def _own_external_auth_key(card: VirtualCard, key_id: int, state: int) -> bytes:
    """The holder tries to add his own external-authentication key with the given follow-up state."""
    return card.execute(fmcos.write_external_auth_key(key_id, MY_KEY, follow_state=state, error_counter=0x33).encode())


def test_holder_cannot_add_his_own_load_key_and_load() -> None:
    card = fresh_card()
    purse_factor(card)
    own_load_key = fmcos.write_transaction_key(0x3F, 0x02, MY_KEY, use_right=0xF0)
    assert card.execute(own_load_key.encode()) == DENIED
    assert x(card, "0020000003 123456") == OK  # his own PIN: state 1
    assert card.execute(own_load_key.encode()) == DENIED  # still not enough (F2: the ADF master key)
    assert _own_external_auth_key(card, 0x07, 0x0F) == DENIED  # nor an authentication key to reach state F
    # the load he would have made with his key index 02 finds no key
    init = x(card, "805000020B02", (10_000_00).to_bytes(4, "big") + DEMO_TERMINAL_ID + b"\x10")
    assert init == b"\x94\x03"
    assert balance(card) == 10_000


@pytest.mark.parametrize("where", ["1001", "3F00"])
def test_holder_cannot_erase_the_purse_or_the_card(where: str) -> None:
    """The attack: add an authentication key of his own with state F, authenticate with it, ERASE DF."""
    card = fresh_card()
    assert x(card, "00A4000002" + where)[-2:] == OK
    if where == "1001":
        assert x(card, "0020000003 123456") == OK
    assert _own_external_auth_key(card, 0x07, 0x0F) == DENIED
    challenge = x(card, "0084000008")[:-2]
    assert x(card, "0082000708", external_auth_cryptogram(TDES, MY_KEY, challenge)) == b"\x6a\x88"  # no such key
    assert x(card, "800E000000") == DENIED
    assert 0x1001 in card.state.mf.children and 0xDDF1 in card.state.mf.children


@pytest.mark.parametrize("path", [["3F00"], ["DDF1"], ["DDF1", "DF02"], ["DDF1", "DF03"], ["1001"]])
def test_holder_cannot_create_files_nor_add_keys(path: list[str]) -> None:
    card = fresh_card()
    for fid in path:
        assert x(card, "00A4000002" + fid)[-2:] == OK
    before = dumps(card.state)
    assert x(card, "80E0EF1F07 28 0010 F0 F0 FFFF") == DENIED  # a binary EF he could write
    assert x(card, "80E0DF1F0D 38 0200 F0 F0 95 FFFF 4D59444621") == DENIED  # a DF of his own
    assert _own_external_auth_key(card, 0x09, 0x04) == DENIED
    assert x(card, "800E000000") == DENIED
    assert dumps(card.state) == before


def _allergies(card: VirtualCard) -> RecordEF:
    ddf1 = card.state.mf.children[0xDDF1]
    assert isinstance(ddf1, DF)
    df02 = ddf1.children[0xDF02]
    assert isinstance(df02, DF)
    ef = df02.children[0xEF07]
    assert isinstance(ef, RecordEF)
    return ef


def test_holder_cannot_rewrite_an_allergy_record() -> None:
    card = fresh_card()
    records = list(_allergies(card).records)
    x(card, "00A4000002DDF1")
    x(card, "00A4000002DF02")
    x(card, "00A4000002EF07")
    forged = Allergy("青霉素", "无").to_record()
    assert x(card, "00DC010400", b"") in (DENIED, b"\x67\x00")
    assert card.execute(bytes.fromhex("00DC0104") + bytes((len(forged),)) + forged) == DENIED
    assert card.execute(bytes.fromhex("00DC0003") + bytes((len(forged),)) + forged) == DENIED
    # the way round the write right: a key of his own with follow-up state 4 (UK_DF02_3's)
    x(card, "00A4000002DF02")
    assert _own_external_auth_key(card, 0x88, 0x04) == DENIED
    challenge = x(card, "0084000008")[:-2]
    own = health_auth_cryptogram(MY_KEY, challenge, TERMINAL) + TERMINAL + b"\x01"
    assert x(card, "0082008811", own) == b"\x6a\x88"  # no such key
    assert _allergies(card).records == records


def test_the_issuer_with_the_master_keys_still_can() -> None:
    card = fresh_card()
    purse_master_auth(card)  # the ADF master key (state 2)
    assert card.execute(fmcos.write_transaction_key(0x3C, 0x01, MY_KEY).encode()) == OK
    assert x(card, "80E0EF1F07 28 0010 F0 F0 FFFF") == OK
    x(card, "00A40000023F00")
    keys = DemoKeySource()
    number = card_no_for(demo_person())
    x(card, "00A4000002DDF1")
    challenge = x(card, "0084000008")[:-2]
    mk = keys.card_key("MK_DDF1", number, None)
    assert x(card, "0082000011", health_auth_cryptogram(mk, challenge, TERMINAL) + TERMINAL + b"\x01") == OK
    assert card.security == 0x0F
    assert x(card, "80E0EF1F07 28 0010 F0 F0 FFFF") == OK
    challenge = x(card, "0084000008")[:-2]
    x(card, "00A40000023F00")
    challenge = x(card, "0084000008")[:-2]
    mf_master = keys.card_key("MF_MASTER", number, None)
    assert x(card, "0082000008", external_auth_cryptogram(TDES, mf_master, challenge)) == OK
    assert x(card, "800E000000") == OK  # the issuer may erase the whole card
    assert card.state.mf.children == {}


def test_a_blank_card_is_open_only_to_the_transport_key() -> None:
    card = blank_card(bytes(8))
    assert x(card, "80E0EF1F07 28 0010 F0 F0 FFFF") == DENIED
    assert x(card, "800E000000") == DENIED
    challenge = x(card, "0084000008")[:-2]
    assert x(card, "0082000008", external_auth_cryptogram(TDES, b"\xff" * 16, challenge)) == OK
    assert x(card, "80E0EF1F07 28 0010 F0 F0 FFFF") == OK


def test_every_issued_df_needs_its_master_key() -> None:
    """The rights written by issuance: no DF of an issued card has a right that state 0 or the PIN satisfies."""
    card = new_demo_card(balance_fen=0)
    todo = [card.state.mf]
    while todo:
        df = todo.pop()
        assert df.key_file is not None and df.key_file.keys, f"{df.fid:04X}"
        master = df.key_file.find(0x39, 0x00)
        assert master is not None and master.follow_state is not None, f"{df.fid:04X} has no master key"
        expected = 0xF0 | master.follow_state
        assert (df.create_right, df.erase_right, df.key_file.add_right) == (expected, expected, expected)
        assert master.follow_state >= 2  # above the PIN's state 1
        todo.extend(c for c in df.children.values() if isinstance(c, DF))


def test_a_version_1_image_loads_with_its_open_rights_closed(caplog: pytest.LogCaptureFixture) -> None:
    doc = json.loads(dumps(fresh_card().state))
    doc["version"] = 1

    def reopen(node: dict[str, object]) -> None:  # what issuance wrote before the fix
        if node.get("kind") in ("DF", "df"):
            node["create_right"] = node["erase_right"] = "F0"
            key_file = node.get("key_file")
            if isinstance(key_file, dict):
                key_file["add_right"] = "F0"
            for child in node.get("children", []):  # type: ignore[attr-defined]
                reopen(child)

    reopen(doc["mf"])
    adf = next(c for c in doc["mf"]["children"] if c["fid"] == "1001")
    assert (adf["create_right"], adf["erase_right"], adf["key_file"]["add_right"]) == ("F0", "F0", "F0")
    with caplog.at_level(logging.WARNING, logger="healthcard.image"):
        state = loads(json.dumps(doc))
    assert "version 1" in caplog.text
    card = VirtualCard(state)
    purse_factor(card)
    assert x(card, "0020000003 123456") == OK
    assert card.execute(fmcos.write_transaction_key(0x3F, 0x02, MY_KEY).encode()) == DENIED
    assert x(card, "800E000000") == DENIED
    again = loads(dumps(state))
    assert json.loads(dumps(again))["version"] == 2 and again == state
