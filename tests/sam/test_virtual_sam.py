"""VirtualSam: every command with its exact status words, files, PIN, serial persistence, purse vectors,
key derivation against sam.crypto, and random APDUs that never crash it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.card import SimulatedCard
from apdu.command import Command
from sam.crypto import (
    Algorithm,
    diversify,
    diversify_path,
    external_auth_cryptogram,
    health_auth_cryptogram,
    health_card_key,
    health_sm_wrap,
    load_mac1,
    load_mac2,
    load_session_key,
    mac,
    pad80,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    sm3,
    sm_mac_command,
)
from sam.crypto.sm2 import sm2_load_private_key, sm2_load_public_key, sm2_verify_digest
from sam.keystore import KeyEntry, KeyStore, KeyUsage, load_demo_keys
from sam.virtual import SamImage, SamImageError, VirtualSam, load_sam_image, new_sam_image, save_sam_image
from tests.sam.sam_helpers import VECTOR_KEY, H, run, sw_of, vector_store
from tests.vectors import by_id

DEMO = load_demo_keys()
CARD_NO = H("0102030405060708")
CITY = b"41000000"
CHALLENGE = H("A1B2C3D4E5F60718")
DATETIME = "20240315101112"


@pytest.fixture
def sam() -> VirtualSam:
    card = VirtualSam(new_sam_image())
    card.power_on()
    return card


def powered(image: SamImage, **kwargs: object) -> VirtualSam:
    card = VirtualSam(image, **kwargs)  # type: ignore[arg-type]
    card.power_on()
    return card


def verify(card: SimulatedCard) -> None:
    assert sw_of(card, "0020000003123456") == 0x9000


def fetch(card: SimulatedCard, apdu: str) -> bytes:
    """Send a computation command; it must answer 61xx; fetch the data with GET RESPONSE."""
    data, sw = run(card, apdu)
    assert data == b"" and sw >> 8 == 0x61, hex(sw)
    out, sw = run(card, f"00C00000{sw & 0xFF:02X}")
    assert sw == 0x9000
    return out


# --- ATR, files ---------------------------------------------------------------------------------------------


def test_satisfies_the_simulated_card_protocol(sam: VirtualSam) -> None:
    assert isinstance(sam, SimulatedCard)


def test_atr_is_well_formed_and_stable(sam: VirtualSam) -> None:
    atr = sam.atr
    assert atr[0] == 0x3B and atr[1] & 0x0F == len(atr) - 5
    tck = 0
    for b in atr[1:]:
        tck ^= b
    assert tck == 0
    assert atr[4:9] == b"HCSAM"
    verify(sam)
    assert sam.atr == atr and sw_of(sam, "00200000") == 0x9000  # reading the ATR changed nothing


def test_terminal_id_after_power_on(sam: VirtualSam) -> None:
    assert run(sam, "00B0960006") == (H("000000000001"), 0x9000)


def test_public_info_by_fid_and_sfi(sam: VirtualSam) -> None:
    expected = sam.image.sam_serial + H("01060100")
    assert sw_of(sam, "00A40000023F00") == 0x9000
    assert sw_of(sam, "00A40000020015") == 0x9000
    assert run(sam, "00B000000E") == (expected, 0x9000)
    assert run(sam, "00B095000A") == (expected[:10], 0x9000)
    assert run(sam, "00B0950000") == (expected, 0x9000)  # Le 00: what there is
    assert run(sam, "00B000020C") == (expected[2:], 0x9000)
    assert sw_of(sam, "00B000000F") == 0x6C0E
    assert sw_of(sam, "00B0000F01") == 0x6B00


def test_health_df_files(sam: VirtualSam) -> None:
    image = sam.image
    assert sw_of(sam, "00A4000002DF01") == 0x9000
    for fid, length, content in [
        ("001A", 0x19, image.health_app_info),
        ("001B", 0xB4, image.issuer_certificate),
        ("001C", 0xBE, image.sam_certificate),
        ("001D", 0x40, sm2_load_private_key(image.sm2_private_key).public_key().to_bytes()),
    ]:
        assert sw_of(sam, f"00A4000002{fid}") == 0x9000
        assert run(sam, f"00B00000{length:02X}") == (content, 0x9000)
    assert image.health_app_info[0] == 0x01 and len(image.health_app_info) == 25
    assert run(sam, "00B09A0019")[0] == image.health_app_info


def test_purse_df_key_index(sam: VirtualSam) -> None:
    assert sw_of(sam, "00B0970001") == 0x6A82  # EF17 lives in DF 1001, not the MF
    assert sw_of(sam, "00A40000021001") == 0x9000
    assert run(sam, "00B0970001") == (b"\x01", 0x9000)
    assert sw_of(sam, "00A4000002DF01") == 0x9000  # sibling DF
    assert sw_of(sam, "00A40000023F00") == 0x9000


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A40000021234", 0x6A82),
        ("00A400000100", 0x6700),
        ("00A40400023F00", 0x6A86),
        ("00B0000000", 0x6986),  # no current EF after power-on
        ("00B0990000", 0x6A82),
        ("00B0E60000", 0x6A86),
        ("00B000000100", 0x6700),
        ("00C0000008", 0x6985),
        ("00C0010008", 0x6A86),
        ("0084000005", 0x6700),
        ("0084000100", 0x6A86),
        ("00EE000000", 0x6D00),
        ("84B0960006", 0x6E00),
        ("8020000003123456", 0x6E00),
        ("00B096", 0x6700),
        ("", 0x6700),
        ("00B0960006FF", 0x6700),
    ],
)
def test_iso_status_words(sam: VirtualSam, apdu: str, sw: int) -> None:
    assert sw_of(sam, apdu) == sw


def test_get_challenge(sam: VirtualSam) -> None:
    first, sw = run(sam, "0084000008")
    assert sw == 0x9000 and len(first) == 8
    second, _ = run(sam, "0084000004")
    assert len(second) == 4


def test_get_response_in_parts(sam: VirtualSam) -> None:
    verify(sam)
    assert sw_of(sam, "80DE473118" + (CARD_NO + CITY + CHALLENGE).hex()) == 0x9000
    assert sw_of(sam, "80FA000010" + "11" * 8 + "00" * 8) == 0x6110
    assert sw_of(sam, "00C0000020") == 0x6C10
    head, sw = run(sam, "00C0000006")
    assert sw == 0x610A and len(head) == 6
    tail, sw = run(sam, "00C000000A")
    assert sw == 0x9000 and len(tail) == 10
    assert sw_of(sam, "00C0000001") == 0x6985


def test_without_t0_the_data_comes_directly() -> None:
    image = new_sam_image()
    image.t0_get_response = False
    card = powered(image)
    verify(card)
    assert sw_of(card, "80DE473118" + (CARD_NO + CITY + CHALLENGE).hex()) == 0x9000
    data, sw = run(card, "80FA000010" + "11" * 8 + "00" * 8)
    assert sw == 0x9000 and len(data) == 16


# --- PIN ----------------------------------------------------------------------------------------------------


def test_pin_counter_lock_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    save_sam_image(new_sam_image(), path)
    card = VirtualSam.open(path)
    card.power_on()
    assert sw_of(card, "00200000") == 0x63C3
    assert sw_of(card, "0020000003123457") == 0x63C2
    assert load_sam_image(path).pin_tries_left == 2
    assert sw_of(card, "0020000003123456") == 0x9000
    assert load_sam_image(path).pin_tries_left == 3
    assert sw_of(card, "00200000") == 0x9000
    card.power_on()
    assert sw_of(card, "00200000") == 0x63C3  # verified state is volatile
    # the attempt that uses the last try already says "blocked" (decision D11)
    assert [sw_of(card, "0020000003999999") for _ in range(3)] == [0x63C2, 0x63C1, 0x6983]
    assert sw_of(card, "0020000003123456") == 0x6983
    assert sw_of(card, "00200000") == 0x6983
    again = VirtualSam.open(path)
    again.power_on()
    assert sw_of(again, "0020000003123456") == 0x6983  # the lock survives a restart
    assert load_sam_image(path).pin_tries_left == 0


def test_change_pin(sam: VirtualSam) -> None:
    assert sw_of(sam, "805E010007123456FF654321") == 0x9000
    assert sw_of(sam, "00200000") == 0x9000  # changing also verifies
    sam.power_on()
    assert sw_of(sam, "0020000003123456") == 0x63C2
    assert sw_of(sam, "0020000003654321") == 0x9000
    assert sam.image.pin == "654321"


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("805E000007123456FF654321", 0x6A86),
        ("805E010006123456654321", 0x6A80),
        ("805E010004123456FF", 0x6700),
        ("805E010007123456FF65432A", 0x6A80),
        ("805E010007123457FF654321", 0x63C2),
        ("0020000009" + "11" * 9, 0x6700),
        ("0020010003123456", 0x6A86),
    ],
)
def test_pin_status_words(sam: VirtualSam, apdu: str, sw: int) -> None:
    assert sw_of(sam, apdu) == sw


def test_change_pin_when_locked(sam: VirtualSam) -> None:
    sam.image.pin_tries_left = 0
    assert sw_of(sam, "805E010007123456FF654321") == 0x6983
    assert sam.image.pin == "123456"


# --- purchase -----------------------------------------------------------------------------------------------

V2 = by_id("pboc_purse", "pboc-purchase-v2")


def v2_init(levels: str = "") -> str:
    ip = V2["initialize_for_purchase"]["response_fields"]
    data = (
        ip["icc_random"]
        + ip["offline_counter"]
        + V2["initialize_for_purchase"]["command_fields"]["amount"]
        + V2["transaction_type"]
        + V2["mac1"]["input_fields"]["date"]
        + V2["mac1"]["input_fields"]["time"]
        + ip["key_version"]
        + ip["algorithm_id"]
        + levels
    )
    return f"8070 0000 {len(H(data)):02X} {data} 08"


def test_published_purchase_vector_card_side_and_sam_side_agree() -> None:
    """pboc-purchase-v2: the SAM (DPK undiversified, zero levels) and the card side (sam.crypto) agree."""
    card_sam = powered(new_sam_image(vector_store()))
    verify(card_sam)
    reply = fetch(card_sam, v2_init())
    serial, mac1 = int.from_bytes(reply[:4], "big"), reply[4:]
    assert serial == 1 and mac1 == H(V2["mac1"]["value"])
    # card side: the card derives SESPK from its DPK and the serial the terminal sends, checks MAC1, makes MAC2
    dpk = H(V2["keys"]["DPK"])
    sespk = purchase_session_key(Algorithm.TDES, dpk, H("11223344"), 0, serial)
    assert sespk == H(V2["session_key"]["value"])
    assert purchase_mac1(Algorithm.TDES, sespk, 0x1000, 0x06, H("001122334455"), H("20120229135100")) == mac1
    mac2 = purchase_mac2(Algorithm.TDES, sespk, 0x1000)
    assert mac2 == H(V2["mac2"]["value"])
    assert sw_of(card_sam, "8072000004" + mac2.hex()) == 0x9000
    assert sw_of(card_sam, "8072000004" + mac2.hex()) == 0x6985  # the purchase session is over


def test_wrong_mac2_is_9302(sam: VirtualSam) -> None:
    verify(sam)
    fetch(sam, v2_init("0000000000000001"))
    assert sw_of(sam, "807200000400000000") == 0x9302
    assert sw_of(sam, "807200000400000000") == 0x6985


def test_mac1_equals_sam_crypto_over_the_demo_keys(sam: VirtualSam) -> None:
    verify(sam)
    factor = H("0000000000000099")
    reply = fetch(sam, v2_init(factor.hex()))
    serial, mac1 = int.from_bytes(reply[:4], "big"), reply[4:]
    dpk = diversify(Algorithm.TDES, DEMO.by_name("purchase").value, factor)
    sespk = purchase_session_key(Algorithm.TDES, dpk, H("11223344"), 0, serial)
    assert mac1 == purchase_mac1(Algorithm.TDES, sespk, 0x1000, 0x06, H("000000000001"), H("20120229135100"))
    assert sw_of(sam, "8072000004" + purchase_mac2(Algorithm.TDES, sespk, 0x1000).hex()) == 0x9000


@pytest.mark.parametrize("order", ["general_first", "as_listed"])
def test_two_levels_follow_the_image_factor_order(order: str) -> None:
    image = new_sam_image()
    image.factor_order = order
    card = powered(image)
    verify(card)
    serial_factor, issuer = H("1111111111111111"), H("2222222222222222")
    mac1 = fetch(card, v2_init((serial_factor + issuer).hex()))[4:]
    path = [issuer, serial_factor] if order == "general_first" else [serial_factor, issuer]
    dpk = diversify_path(Algorithm.TDES, DEMO.by_name("purchase").value, path)
    sespk = purchase_session_key(Algorithm.TDES, dpk, H("11223344"), 0, 1)
    assert mac1 == purchase_mac1(Algorithm.TDES, sespk, 0x1000, 0x06, H("000000000001"), H("20120229135100"))


def test_sm4_purchase() -> None:
    key = bytes(range(16))
    store = KeyStore([KeyEntry("purchase", "purse", Algorithm.SM4, KeyUsage.PURCHASE, 1, 1, key)])
    card = powered(new_sam_image(store))
    verify(card)
    data = "11223344" + "0005" + "00000064" + "06" + DATETIME + "01" + "04" + "0123456789ABCDEF"
    reply = fetch(card, f"807000001C{data}08")
    dpk = diversify(Algorithm.SM4, key, H("0123456789ABCDEF"))
    sk = purchase_session_key(Algorithm.SM4, dpk, H("11223344"), 5, 1)
    assert reply == (1).to_bytes(4, "big") + purchase_mac1(Algorithm.SM4, sk, 100, 6, H("000000000001"), H(DATETIME))
    assert sw_of(card, "8072000004" + purchase_mac2(Algorithm.SM4, sk, 100).hex()) == 0x9000
    assert sw_of(card, v2_init("0123456789ABCDEF")) == 0x9403  # no 3DES purchase key in this store


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        (v2_init("00" * 7), 0x6700),
        (v2_init("00" * 32), 0x6700),
        (v2_init("0000000000000001").replace("8070 0000", "8070 0100"), 0x6A86),
        ("8072000003000000", 0x6700),
        ("8072000004" + "00" * 4, 0x6985),
    ],
)
def test_purchase_status_words(sam: VirtualSam, apdu: str, sw: int) -> None:
    verify(sam)
    assert sw_of(sam, apdu) == sw


def test_unknown_key_version_and_algorithm(sam: VirtualSam) -> None:
    verify(sam)
    body = "11223344" + "0000" + "00001000" + "06" + DATETIME
    assert sw_of(sam, f"807000001C{body}0200{'00' * 8}08") == 0x9403
    assert sw_of(sam, f"807000001C{body}0104{'00' * 8}08") == 0x9403
    assert sw_of(sam, f"807000001C{body}0107{'00' * 8}08") == 0x9403
    assert sam.image.terminal_serial == 0  # refused purchases consume no serial


def test_serial_increments_and_persists_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    save_sam_image(new_sam_image(), path)
    card = VirtualSam.open(path)
    card.power_on()
    verify(card)
    serials = [int.from_bytes(fetch(card, v2_init("0000000000000001"))[:4], "big") for _ in range(3)]
    assert serials == [1, 2, 3]
    assert json.loads(path.read_text(encoding="utf-8"))["terminal_serial"] == 3
    restarted = VirtualSam.open(path)
    restarted.power_on()
    verify(restarted)
    assert fetch(restarted, v2_init("0000000000000001"))[:4] == H("00000004")
    assert [p.name for p in tmp_path.iterdir()] == ["sam.json"]


def test_no_mac1_when_the_serial_cannot_be_saved(tmp_path: Path) -> None:
    card = VirtualSam(new_sam_image(), path=tmp_path / "missing-dir" / "sam.json")
    card.power_on()
    assert sw_of(card, "0020000003123456") == 0x9000  # a right PIN changes nothing to save
    assert sw_of(card, v2_init("0000000000000001")) == 0x6F00


def test_serial_exhausted(sam: VirtualSam) -> None:
    verify(sam)
    sam.image.terminal_serial = 0xFFFFFFFF
    assert sw_of(sam, v2_init("0000000000000001")) == 0x6985


# --- load authorisation (project extension) -------------------------------------------------------------------

V1 = by_id("pboc_purse", "pboc-load-v1")


def v1_authorise(mac1: str) -> str:
    data = "11223344" + "0000" + "00000000" + "00001000" + "01" + "001122334455" + "20111221214822" + mac1 + "0200"
    return f"807C0000{len(H(data)):02X}{data}04"


def test_load_mac2_reproduces_the_published_load_vector() -> None:
    card = powered(new_sam_image(vector_store()))
    assert sw_of(card, v1_authorise(V1["initialize_for_load"]["response_fields"]["mac1"])) == 0x6982
    verify(card)
    assert fetch(card, v1_authorise(V1["initialize_for_load"]["response_fields"]["mac1"])) == H(V1["mac2"]["value"])
    assert sw_of(card, v1_authorise("00000000")) == 0x9302


def test_load_mac2_over_the_demo_keys(sam: VirtualSam) -> None:
    verify(sam)
    factor = H("0000000000000042")
    dlk = diversify(Algorithm.TDES, DEMO.by_name("load").value, factor)
    sk = load_session_key(Algorithm.TDES, dlk, H("0A0B0C0D"), 7)
    mac1 = load_mac1(Algorithm.TDES, sk, 500, 2000, 0x02, H("000000000001"))
    data = "0A0B0C0D" + "0007" + "000001F4" + "000007D0" + "02" + "000000000001" + DATETIME + mac1.hex() + "0100"
    reply = fetch(sam, f"807C00002A{data}{factor.hex()}04")
    assert reply == load_mac2(Algorithm.TDES, sk, 2000, 0x02, H("000000000001"), H(DATETIME))
    assert sw_of(sam, f"807C000029{data}{factor.hex()[:-2]}") == 0x6700
    assert sw_of(sam, f"807C00002A{data[:-4]}0300{factor.hex()}04") == 0x9403


# --- 80 1A / 80 FA ----------------------------------------------------------------------------------------------


def test_external_auth_cryptogram(sam: VirtualSam) -> None:
    verify(sam)
    factor, challenge = H("0000000012345678"), H("AFE9CD6F")
    assert sw_of(sam, f"801A2E0108{factor.hex()}") == 0x9000
    got = fetch(sam, f"80FA000008{challenge.hex()}00000000")
    key = diversify(Algorithm.TDES, DEMO.by_name("external_auth").value, factor)
    assert got == external_auth_cryptogram(Algorithm.TDES, key, challenge)


def test_line_protection_mac_matches_sm_mac_command(sam: VirtualSam) -> None:
    verify(sam)
    factor, challenge = H("0000000012345678"), H("01020304")
    assert sw_of(sam, f"801A250108{factor.hex()}") == 0x9000
    key = diversify(Algorithm.TDES, DEMO.by_name("line_protection").value, factor)
    expected = sm_mac_command(Algorithm.TDES, key, Command(0x80, 0x1E, 0, 0), challenge)
    mac_input = pad80(H("841E000004"), 8)
    got = fetch(sam, f"80FA0500{8 + len(mac_input):02X}{challenge.hex()}00000000{mac_input.hex()}")
    assert got == expected.data[-4:]


def test_chained_mac_equals_the_one_shot_mac(sam: VirtualSam) -> None:
    verify(sam)
    key = DEMO.by_name("line_protection").value
    assert sw_of(sam, "801A0501") == 0x9000  # zero levels: the master key itself
    short = bytes(range(100))
    body = pad80(short, 8)
    assert fetch(sam, f"80FA0500{8 + len(body):02X}{'00' * 8}{body.hex()}") == mac(Algorithm.TDES, key, short)
    message = bytes(range(200)) * 2
    body = pad80(message, 8)
    assert sw_of(sam, f"80FA0700F0{'00' * 8}{body[:232].hex()}") == 0x9000
    assert sw_of(sam, f"80FA030010{body[232:248].hex()}") == 0x9000
    tail = body[248:]
    assert fetch(sam, f"80FA0100{len(tail):02X}{tail.hex()}") == mac(Algorithm.TDES, key, message)
    assert sw_of(sam, f"80FA010008{'00' * 8}") == 0x6985  # no chain in progress


def test_a_tac_key_cannot_become_a_working_key(sam: VirtualSam) -> None:
    """A TAC key only verifies (80 7E): a SAM that MACed any data with it would forge uploads for its PIN holder."""
    verify(sam)
    assert sw_of(sam, "801A2C0108" + "0000000000000077") == 0x6985
    assert sw_of(sam, f"80FA050010{'00' * 16}") == 0x6985  # and so no working key to MAC with


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("801A220108" + "00" * 8, 0x6985),  # purchase key: only through 80 70
        ("801A290108" + "00" * 8, 0x6985),  # load key: only through 80 7C
        ("801A250908" + "00" * 8, 0x6A88),  # no maintenance key 09
        ("801A270108" + "00" * 8, 0x6A88),  # no purse encryption key
        ("801A210108" + "00" * 8, 0x6A86),  # attribute 01 is not defined
        ("801A250110" + "00" * 8, 0x6700),
        ("801A850120" + "00" * 32, 0x6A86),
        ("801A2F3108" + "00" * 8, 0x6A88),  # health keys are not reachable through 80 1A
        ("80FA000008" + "00" * 8, 0x6985),  # no working key
    ],
)
def test_cipher_status_words(sam: VirtualSam, apdu: str, sw: int) -> None:
    verify(sam)
    assert sw_of(sam, apdu) == sw


def test_cipher_data_status_words(sam: VirtualSam) -> None:
    verify(sam)
    assert sw_of(sam, "801A0501") == 0x9000
    assert sw_of(sam, "80FA000007" + "00" * 7) == 0x6700
    assert sw_of(sam, "80FA050008" + "00" * 8) == 0x6700  # IV alone
    assert sw_of(sam, "80FA040008" + "00" * 8) == 0x6A86
    assert sw_of(sam, "80FA000108" + "00" * 8) == 0x6A86
    assert sw_of(sam, "80FA0000") == 0x6700


def test_volatile_state_is_cleared_at_power_on_and_reset(sam: VirtualSam) -> None:
    verify(sam)
    assert sw_of(sam, "801A0501") == 0x9000
    fetch(sam, v2_init("0000000000000001"))
    sam.reset()
    assert sw_of(sam, "80FA000008" + "00" * 8) == 0x6982  # the PIN is no longer verified
    assert sw_of(sam, "00200000") == 0x63C3
    verify(sam)
    assert sw_of(sam, "80FA000008" + "00" * 8) == 0x6985  # nor is there a working key
    assert sw_of(sam, "8072000004" + "00" * 4) == 0x6985  # nor a purchase session
    assert sw_of(sam, "00B0000000") == 0x6986
    assert sw_of(sam, "801A0501") == 0x9000
    sam.power_off()
    sam.power_on()
    verify(sam)
    assert sw_of(sam, "80FA000008" + "00" * 8) == 0x6985


# --- health functions (80 DE) -----------------------------------------------------------------------------------


def test_health_auth_cryptogram_two_levels(sam: VirtualSam) -> None:
    assert sw_of(sam, "80DE473118" + (CARD_NO + CITY + CHALLENGE).hex()) == 0x6982
    verify(sam)
    assert sw_of(sam, "80DE473118" + (CARD_NO + CITY + CHALLENGE).hex()) == 0x9000
    block = fetch(sam, "80FA000010" + "1122334455667788" + "00" * 8)
    crypt = bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))
    key = health_card_key(DEMO.by_name("RK_DDF1").value, CARD_NO, CITY)
    assert crypt == health_auth_cryptogram(key, CHALLENGE, H("1122334455667788"))


def test_health_auth_cryptogram_one_level(sam: VirtualSam) -> None:
    verify(sam)
    assert sw_of(sam, "80DE272A10" + (CARD_NO + CHALLENGE).hex()) == 0x9000
    block = fetch(sam, "80FA000010" + "0102030405060708" + "00" * 8)
    crypt = bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))
    key = health_card_key(DEMO.by_name("UK_DDF1").value, CARD_NO)
    assert crypt == health_auth_cryptogram(key, CHALLENGE, H("0102030405060708"))


def test_health_secure_messaging_write(sam: VirtualSam) -> None:
    verify(sam)
    plain, header = "张三".encode() + b"\x00" * 12, H("04DC0104")
    assert sw_of(sam, "80DE480418" + (CARD_NO + CITY + CHALLENGE).hex()) == 0x9000
    padded = pad80(bytes((len(plain),)) + plain, 16)
    cipher = fetch(sam, f"80FA0000{len(padded):02X}{padded.hex()}")
    mac_in = pad80(header + bytes((len(cipher) + 4,)) + cipher, 16)
    tag = fetch(sam, f"80FA0500{16 + len(mac_in):02X}{'00' * 16}{mac_in.hex()}")
    key = health_card_key(DEMO.by_name("STK_DF02").value, CARD_NO, CITY)
    assert cipher + tag == health_sm_wrap(key, CHALLENGE, header, plain)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("80DE473110" + "00" * 16, 0x6700),  # two levels need 24 bytes
        ("80DE273118" + "00" * 24, 0x6700),
        ("80DE673120" + "00" * 32, 0x6A86),  # three levels: not a health-card form
        ("80DE073108" + "00" * 8, 0x6A86),
        ("80DE474118" + "00" * 24, 0x6A88),  # no health key 41
        ("80DE470118" + "00" * 24, 0x6A88),  # the purse purchase index is not a health key
        ("80DE423118" + "00" * 24, 0x6A88),
        ("80DE413118" + "00" * 24, 0x6A86),
    ],
)
def test_health_status_words(sam: VirtualSam, apdu: str, sw: int) -> None:
    verify(sam)
    assert sw_of(sam, apdu) == sw


# --- SM3 / SM2 ------------------------------------------------------------------------------------------------


def test_sm3_single_and_chained(sam: VirtualSam) -> None:
    assert fetch(sam, "80C8000003616263") == H("66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0")
    data = bytes(range(256)) * 2
    assert sw_of(sam, "80C80100F0" + data[:240].hex()) == 0x9000
    assert sw_of(sam, "80C80100F0" + data[240:480].hex()) == 0x9000
    assert fetch(sam, f"80C80000{len(data[480:]):02X}" + data[480:].hex()) == sm3(data)
    assert sw_of(sam, "80C8020001AA") == 0x6A86


def test_sm3_input_limit(sam: VirtualSam) -> None:
    chunk = "80C80100FF" + "00" * 255
    results = [sw_of(sam, chunk) for _ in range(65)]
    assert results[:64] == [0x9000] * 64 and results[64] == 0x6A84  # 16 KiB at most
    assert fetch(sam, "80C8000003616263")[:4] == H("66C7F0F4")  # the buffer was dropped


def test_sm2_signature_verifies_with_the_public_key_read_from_the_sam(sam: VirtualSam) -> None:
    digest = sm3(b"DF03 record")
    assert sw_of(sam, "80CE000020" + digest.hex()) == 0x6982
    verify(sam)
    signature = fetch(sam, "80CE000020" + digest.hex())
    assert sw_of(sam, "00A4000002DF01") == 0x9000
    public = sm2_load_public_key(run(sam, "00B09D0040")[0])
    assert sm2_verify_digest(public, digest, signature)
    assert not sm2_verify_digest(public, sm3(b"other"), signature)
    assert sw_of(sam, "80CE00001F" + digest.hex()[:-2]) == 0x6700


# --- image ------------------------------------------------------------------------------------------------


def test_image_round_trip_and_hidden_secrets(tmp_path: Path) -> None:
    image = new_sam_image()
    path = tmp_path / "sam.json"
    save_sam_image(image, path)
    loaded = load_sam_image(path)
    assert loaded.to_json() == image.to_json()
    text = repr(VirtualSam(loaded))
    assert image.pin not in text and image.sm2_private_key.hex() not in text.lower()
    for entry in image.keys:
        assert entry.value.hex() not in text.lower()


def test_image_errors(tmp_path: Path) -> None:
    data = new_sam_image().to_json()
    with pytest.raises(SamImageError):
        SamImage.from_json({**data, "version": 2})
    with pytest.raises(SamImageError):
        SamImage.from_json({**data, "format": "something"})
    with pytest.raises(SamImageError):
        SamImage.from_json({**data, "terminal_id": "0001"})
    with pytest.raises(SamImageError):
        SamImage.from_json({k: v for k, v in data.items() if k != "pin"})
    with pytest.raises(SamImageError):
        SamImage.from_json({**data, "factor_order": "random"})
    bad = tmp_path / "bad.json"
    bad.write_text("[", encoding="utf-8")
    with pytest.raises(SamImageError):
        load_sam_image(bad)


def test_new_image_takes_pin_and_terminal_from_the_store() -> None:
    image = new_sam_image(vector_store())
    assert image.terminal_id == H("001122334455") and image.pin == "123456"
    assert new_sam_image(terminal_id=H("0153000290DD"), pin="1234").pin == "1234"
    assert new_sam_image().sm2_private_key != new_sam_image().sm2_private_key


# --- robustness -------------------------------------------------------------------------------------------

_MASTER_KEYS = [e.value for e in DEMO] + [VECTOR_KEY]
_FUZZ_SAM = VirtualSam(new_sam_image())
_FUZZ_SAM.power_on()
_KNOWN = [0xA4, 0xB0, 0xC0, 0x84, 0x20, 0x5E, 0x70, 0x72, 0x7C, 0x1A, 0xDE, 0xFA, 0xC8, 0xCE]


def _check_answer(out: bytes) -> None:
    assert isinstance(out, bytes) and len(out) >= 2
    assert out[-2:] != b"\x6f\x00"  # no unexpected exception inside a handler
    for key in _MASTER_KEYS:
        assert key not in out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(raw: bytes) -> None:
    _check_answer(_FUZZ_SAM.execute(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([0x00, 0x80]),
    st.sampled_from(_KNOWN),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=64),
    st.booleans(),
)
def test_random_commands_never_crash(cla: int, ins: int, p1: int, p2: int, data: bytes, pin_first: bool) -> None:
    if pin_first:
        _FUZZ_SAM.execute(H("0020000003123456"))
    apdu = bytes((cla, ins, p1, p2)) + (bytes((len(data),)) + data if data else b"")
    _check_answer(_FUZZ_SAM.execute(apdu))
    _FUZZ_SAM.image.pin_tries_left = 3
