"""new_demo_card(): a blank card personalised through its own APDUs, read back with plain APDUs and the codecs."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from healthcard.codecs import Allergy, Holder, IssuerData, PurseApplicationData
from healthcard.cos import VirtualCard
from healthcard.issuance import card_no_for
from healthcard.person import load_person
from healthcard.virtual import blank_card, demo_person, load_card, new_demo_card, save_card
from sam.crypto import Algorithm, diversify, external_auth_cryptogram, health_auth_cryptogram, health_card_key

ROOT = Path(__file__).resolve().parents[2]
KEYS = json.loads((ROOT / "sam" / "data" / "demo-keys.json").read_text())
HEALTH = {k: bytes.fromhex(v) for k, v in KEYS["health_app"]["master_keys"].items()}


def _rng() -> random.Random:
    return random.Random(7)


def _x(card: VirtualCard, hexstr: str) -> bytes:
    return card.execute(bytes.fromhex(hexstr.replace(" ", "")))


def _read_records(card: VirtualCard, count: int) -> list[bytes]:
    out = []
    for n in range(1, count + 1):
        r = card.execute(bytes((0x00, 0xB2, n, 0x04, 0x00)))
        assert r[-2:] == b"\x90\x00", r.hex()
        out.append(r[:-2])
    return out


def _auth_rk_ddf1(card: VirtualCard, card_no: bytes) -> None:
    challenge = _x(card, "0084000008")[:-2]
    key = health_card_key(HEALTH["RK_DDF1"], card_no, b"11000000")
    terminal = bytes.fromhex("1122334455667788")
    crypt = health_auth_cryptogram(key, challenge, terminal)
    assert card.execute(bytes.fromhex("0082000411") + crypt + terminal + b"\x01") == b"\x90\x00"


def test_demo_card_answers_with_personalised_data() -> None:
    person = demo_person()
    card = new_demo_card(person, issue_date=dt.date(2024, 1, 15), rng=_rng().randbytes)
    card_no = card_no_for(person)
    assert card.atr == bytes.fromhex("3B6D000048") + card_no + bytes.fromhex("43484B31")
    assert _x(card, "00A4000002DDF1")[-2:] == b"\x90\x00"
    assert _x(card, "00A4000002EF05") == b"\x90\x00"
    kh = _x(card, "00B2080014")  # KH by identifier, WS/T 543.3 record addressing
    assert kh[:2] == b"\x08\x12" and kh[-2:] == b"\x90\x00"
    issuer = IssuerData.from_records(_read_records(card, 10))
    assert issuer.card_number == person.card_number and issuer.city_code == "110100"
    assert _x(card, "00A4000002EF06") == b"\x90\x00"
    assert _x(card, "00B2010400") == b"\x69\x82"  # RK_DDF1 needed
    _auth_rk_ddf1(card, card_no)
    assert Holder.from_records(_read_records(card, 5)) == person.holder


def test_cyclic_allergy_file_holds_newest_first() -> None:
    person = load_person(ROOT / "examples" / "persons" / "zhang-wei.json")
    card = new_demo_card(person, rng=_rng().randbytes)
    card_no = card_no_for(person)
    _x(card, "00A4000002DDF1")
    _x(card, "00A4000002DF02")
    challenge = _x(card, "0084000008")[:-2]
    key = health_card_key(HEALTH["RK_DF02"], card_no, b"11000000")
    terminal = bytes.fromhex("1122334455667788")
    auth = bytes.fromhex("0082008411") + health_auth_cryptogram(key, challenge, terminal) + terminal + b"\x01"
    assert card.execute(auth) == b"\x90\x00"
    _x(card, "00A4000002EF07")
    records = _read_records(card, 2)
    assert [Allergy.from_record(r) for r in records] == list(reversed(person.allergies))
    assert _x(card, "00B2030400") == b"\x6a\x83"


def test_purse_is_personalised_and_loaded() -> None:
    card = new_demo_card(balance_fen=12_345, rng=_rng().randbytes)
    assert _x(card, "00A4000002 1001")[-2:] == b"\x90\x00"
    ef15 = _x(card, "00B095001E")
    assert ef15[-2:] == b"\x90\x00"
    data = PurseApplicationData.from_bytes(ef15[:-2])
    assert data.app_serial == b"\x00\x01" + card_no_for(demo_person())
    assert _x(card, "805C000204") == (12_345).to_bytes(4, "big") + b"\x90\x00"


def test_blank_card_has_only_the_transport_key() -> None:
    card = blank_card(bytes(8))
    assert _x(card, "00A4000002DDF1") == b"\x6a\x82"
    challenge = _x(card, "0084000008")[:-2]
    crypt = external_auth_cryptogram(Algorithm.TDES, b"\xff" * 16, challenge)
    assert card.execute(bytes.fromhex("0082000008") + crypt) == b"\x90\x00"
    assert _x(card, "800E000000") == b"\x90\x00"
    assert card.state.mf.key_file is None


def test_blank_demo_card_and_image_round_trip(tmp_path: Path) -> None:
    card = new_demo_card(blank=True)
    assert card.state.mf.children == {}
    full = new_demo_card(rng=_rng().randbytes)
    path = tmp_path / "card.json"
    save_card(full, path)
    again = load_card(path)
    assert again.state == full.state
    assert diversify(Algorithm.SM4, HEALTH["RK_DDF1"], b"11000000") != HEALTH["RK_DDF1"]
