"""SamClient over the in-process transport: every operation against sam.crypto, typed SAM-layer errors, profiles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from apdu.channel import Channel
from apdu.command import Command
from apdu.errors import (
    DataError,
    Layer,
    MacError,
    MissingInputError,
    PinBlockedError,
    PinError,
    SamError,
    SecurityStatusError,
)
from apdu.inprocess import InProcessTransport
from apdu.response_records import SamPurchaseInitResponse
from sam.client import SamClient
from sam.crypto import (
    Algorithm,
    diversify,
    diversify_path,
    encrypt_ecb,
    external_auth_cryptogram,
    health_auth_cryptogram,
    health_card_key,
    health_sm_unwrap,
    health_sm_wrap,
    load_mac1,
    load_mac2,
    load_session_key,
    mac,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    sm3,
    sm_mac_command,
)
from sam.crypto.sm2 import sm2_load_public_key, sm2_verify
from sam.keystore import load_demo_keys
from sam.profile import VIRTUAL_SAM_PROFILE, SamProfile, load_sam_profile
from sam.virtual import VirtualSam, new_sam_image
from tests.sam.sam_helpers import H, vector_store

DEMO = load_demo_keys()
CARD_NO, CITY, CHALLENGE = H("0102030405060708"), b"41000000", H("A1B2C3D4E5F60718")
WHEN = dt.datetime(2024, 3, 15, 10, 11, 12)
TERMINAL = H("000000000001")


def connect(sam: VirtualSam, profile: SamProfile = VIRTUAL_SAM_PROFILE) -> SamClient:
    transport = InProcessTransport(sam, "inprocess:sam")
    transport.connect()
    return SamClient(Channel(transport), profile)


@pytest.fixture
def sam() -> VirtualSam:
    return VirtualSam(new_sam_image())


@pytest.fixture
def client(sam: VirtualSam) -> SamClient:
    return connect(sam)


def test_public_information(client: SamClient, sam: VirtualSam) -> None:
    assert client.terminal_id() == TERMINAL
    info = client.public_info()
    assert info.serial == sam.image.sam_serial
    assert (info.version, info.key_card_type, info.command_set_version) == (1, 6, 1)
    assert client.read_file(0x001A, 25) == sam.image.health_app_info
    assert client.read_file(0x001C, 190) == sam.image.sam_certificate
    assert "inprocess:sam" in repr(client)


def test_pin(client: SamClient) -> None:
    assert client.pin_tries_left() == 3
    with pytest.raises(PinError) as info:
        client.verify_pin("111111")
    err = info.value
    assert isinstance(err, SamError) and err.layer is Layer.SAM and err.tries_left == 2 and err.sw == 0x63C2
    assert "111111" not in str(err)
    client.verify_pin("123456")
    assert client.pin_tries_left() is None
    client.change_pin("123456", "2468")
    client.channel.transport.reset()
    with pytest.raises(PinError):
        client.verify_pin("123456")
    client.verify_pin("2468")


def test_locked_pin(client: SamClient) -> None:
    for _ in range(3):
        with pytest.raises(PinError):
            client.verify_pin("000000")
    assert client.pin_tries_left() == 0
    with pytest.raises(PinBlockedError) as info:
        client.verify_pin("123456")
    assert isinstance(info.value, SamError) and info.value.tries_left == 0


def test_purchase_round_trip_with_card_side_crypto(client: SamClient) -> None:
    client.verify_pin("123456")  # every key-using SAM command needs the PIN
    factor = H("0000000000000321")
    result = client.init_for_purchase(
        icc_random=H("01020304"), card_counter=9, amount=1234, when=WHEN, key_version=1, algorithm=0, factors=[factor]
    )
    assert isinstance(result, SamPurchaseInitResponse)
    serial, mac1 = result.terminal_serial, result.mac1
    assert serial == 1
    dpk = diversify(Algorithm.TDES, DEMO.by_name("purchase").value, factor)
    sk = purchase_session_key(Algorithm.TDES, dpk, H("01020304"), 9, serial)
    assert mac1 == purchase_mac1(Algorithm.TDES, sk, 1234, 0x06, TERMINAL, H("20240315101112"))
    client.credit_for_purchase(purchase_mac2(Algorithm.TDES, sk, 1234))
    second = client.init_for_purchase(
        icc_random=H("01020304"), card_counter=10, amount=1, when=WHEN, key_version=1, algorithm=0, factors=[factor]
    )
    assert second.terminal_serial == 2
    with pytest.raises(MacError) as info:
        client.credit_for_purchase(b"\x00" * 4)
    assert isinstance(info.value, SamError) and info.value.sw == 0x9302


def test_published_purchase_vector_through_the_client() -> None:
    """pboc-purchase-v2 with the DPK held undiversified (zero levels)."""
    client = connect(VirtualSam(new_sam_image(vector_store())))
    assert client.terminal_id() == H("001122334455")
    client.verify_pin("123456")
    result = client.init_for_purchase(
        icc_random=H("11223344"),
        card_counter=0,
        amount=0x1000,
        when=dt.datetime(2012, 2, 29, 13, 51),
        key_version=1,
        algorithm=0,
        factors=[],
    )
    assert (result.terminal_serial, result.mac1) == (1, H("F15CAB75"))
    client.credit_for_purchase(H("56988A13"))


def test_unknown_purchase_key_is_9403(client: SamClient) -> None:
    client.verify_pin("123456")  # every key-using SAM command needs the PIN
    with pytest.raises(SamError) as info:
        client.init_for_purchase(
            icc_random=b"\x00" * 4,
            card_counter=0,
            amount=1,
            when=WHEN,
            key_version=7,
            algorithm=0,
            factors=[b"\x00" * 8],
        )
    assert info.value.sw == 0x9403


def test_two_level_factor_order_from_profile_and_image() -> None:
    card, issuer = H("1111111111111111"), H("2222222222222222")
    expected_dpk = diversify_path(Algorithm.TDES, DEMO.by_name("purchase").value, [issuer, card])  # D1
    sk = purchase_session_key(Algorithm.TDES, expected_dpk, b"\x00" * 4, 0, 1)
    expected = purchase_mac1(Algorithm.TDES, sk, 5, 6, TERMINAL, H("20240315101112"))
    default = connect(VirtualSam(new_sam_image()))
    image = new_sam_image()
    image.factor_order = "as_listed"
    reversed_profile = connect(VirtualSam(image), SamProfile(factors_card_first=False))
    default.verify_pin("123456")
    reversed_profile.verify_pin("123456")
    for client in (default, reversed_profile):
        got = client.init_for_purchase(
            icc_random=b"\x00" * 4,
            card_counter=0,
            amount=5,
            when=WHEN,
            key_version=1,
            algorithm=0,
            factors=[card, issuer],
        )
        assert got.mac1 == expected


def test_load_authorisation(client: SamClient) -> None:
    factor = H("0000000000000042")
    dlk = diversify(Algorithm.TDES, DEMO.by_name("load").value, factor)
    sk = load_session_key(Algorithm.TDES, dlk, H("0A0B0C0D"), 3)
    mac1 = load_mac1(Algorithm.TDES, sk, 100, 5000, 0x02, TERMINAL)
    kwargs = dict(
        icc_random=H("0A0B0C0D"),
        online_counter=3,
        balance_before=100,
        amount=5000,
        terminal_id=TERMINAL,
        when=WHEN,
        key_version=1,
        algorithm=0,
        factors=[factor],
    )
    sent = client.channel.exchanges
    with pytest.raises(MissingInputError) as missing:  # PIN-gated: refused by the client before any APDU
        client.authorise_load(mac1=mac1, **kwargs)  # type: ignore[arg-type]
    assert missing.value.needs == "sam_pin" and client.channel.exchanges == sent
    with pytest.raises(SecurityStatusError) as info:  # the SAM itself refuses 80 7C without the PIN
        client.channel.send(Command(0x80, client.profile.load_mac2_ins, 0, 0, bytes(42), 4), layer=Layer.SAM)
    assert info.value.sw == 0x6982 and info.value.layer is Layer.SAM
    client.verify_pin("123456")
    mac2 = client.authorise_load(mac1=mac1, **kwargs)  # type: ignore[arg-type]
    assert mac2 == load_mac2(Algorithm.TDES, sk, 5000, 0x02, TERMINAL, H("20240315101112"))
    with pytest.raises(MacError):
        client.authorise_load(mac1=b"\x01\x02\x03\x04", **kwargs)  # type: ignore[arg-type]


def test_external_auth_and_line_protection(client: SamClient) -> None:
    client.verify_pin("123456")  # every key-using SAM command needs the PIN
    factor = H("0000000012345678")
    key = diversify(Algorithm.TDES, DEMO.by_name("external_auth").value, factor)
    assert client.external_auth_cryptogram(H("AFE9CD6F"), [factor]) == external_auth_cryptogram(
        Algorithm.TDES, key, H("AFE9CD6F")
    )
    lp = diversify(Algorithm.TDES, DEMO.by_name("line_protection").value, factor)
    command = Command(0x00, 0xD6, 0x95, 0x00, bytes(range(30)))
    assert client.line_protection_mac(command, H("01020304"), [factor]) == sm_mac_command(
        Algorithm.TDES, lp, command, H("01020304")
    )


def test_long_encrypt_and_mac_are_chained(client: SamClient) -> None:
    client.verify_pin("123456")  # every key-using SAM command needs the PIN
    client.diversify(0x05, 0x01)  # the maintenance master key, zero levels
    key = DEMO.by_name("line_protection").value
    data = bytes(range(256)) * 3
    assert client.encrypt(data) == encrypt_ecb(Algorithm.TDES, key, data)
    assert client.mac(data, algorithm=Algorithm.TDES) == mac(Algorithm.TDES, key, data)
    assert client.mac(data[:20], algorithm=Algorithm.TDES, iv=H("01020304")) == mac(
        Algorithm.TDES, key, data[:20], H("01020304")
    )


def test_health_authentication_and_secure_messaging(client: SamClient) -> None:
    client.verify_pin("123456")
    terminal_data = H("1122334455667788")
    for name, city in (("RK_DF03", CITY), ("UK_DDF1", None)):
        key = health_card_key(DEMO.by_name(name).value, CARD_NO, city)
        assert client.health_auth_cryptogram(name, CARD_NO, CHALLENGE, terminal_data, CITY) == (
            health_auth_cryptogram(key, CHALLENGE, terminal_data)
        )
    header, plain = H("04DC0104"), "北京市海淀区".encode()
    body = client.health_sm_wrap("STK_DF02", CARD_NO, CHALLENGE, header, plain, CITY)
    card_key = health_card_key(DEMO.by_name("STK_DF02").value, CARD_NO, CITY)
    assert body == health_sm_wrap(card_key, CHALLENGE, header, plain)
    assert health_sm_unwrap(card_key, CHALLENGE, header, body) == plain  # what the card does with it


def test_health_errors(client: SamClient) -> None:
    with pytest.raises(SecurityStatusError) as info:
        client.health_session("RK_DDF1", CARD_NO, CHALLENGE, CITY)  # PIN not verified
    assert info.value.sw == 0x6982
    client.verify_pin("123456")
    with pytest.raises(DataError):
        client.health_session("RK_DDF1", CARD_NO, CHALLENGE)  # two levels without the city factor
    with pytest.raises(DataError):
        client.health_session("NO_SUCH_KEY", CARD_NO, CHALLENGE)
    with pytest.raises(DataError):
        client.health_sm_wrap("STK_DF02", CARD_NO, CHALLENGE, H("04DC0104"), bytes(240), CITY)


def test_sm3_and_sm2(client: SamClient) -> None:
    record = bytes(range(256)) * 8
    assert client.sm3(record) == sm3(record)
    assert client.sm3(b"") == sm3(b"")
    client.verify_pin("123456")
    public = sm2_load_public_key(client.sm2_public_key())
    signature = client.sm2_sign(record)
    assert sm2_verify(public, record, signature)
    assert not sm2_verify(public, record + b"x", signature)


def test_profile_files(tmp_path: Path) -> None:
    toml = tmp_path / "vendor.toml"
    toml.write_text(
        'name = "vendor-x"\nfactors_card_first = false\n[health_keys]\nRK_DDF1 = ["0x47", "41"]\n', encoding="utf-8"
    )
    profile = load_sam_profile(toml)
    assert profile.name == "vendor-x" and not profile.factors_card_first
    assert profile.health_key("RK_DDF1") == (0x47, 0x41)
    assert profile.health_key("RK_DF01") == (0x47, 0x32)  # defaults kept
    js = tmp_path / "vendor.json"
    js.write_text('{"purchase_p1p2": [1, 2], "key_refs": {"tac": ["0x04", 0]}}', encoding="utf-8")
    profile = load_sam_profile(js)
    assert profile.purchase_p1p2 == (1, 2) and profile.key_ref("tac") == (4, 0)
    assert profile.key_ref("external_auth") == (0x0E, 0x01)
    for bad in ('{"nope": 1}', '{"pin_key_id": 300}', '{"health_keys": {"RK_DDF1": [1]}}', "{"):
        js.write_text(bad, encoding="utf-8")
        with pytest.raises(DataError):
            load_sam_profile(js)


def test_profile_p1p2_reach_the_sam() -> None:
    client = connect(VirtualSam(new_sam_image()), SamProfile(purchase_p1p2=(0x01, 0x00)))
    client.verify_pin("123456")
    with pytest.raises(SamError) as info:
        client.init_for_purchase(
            icc_random=b"\x00" * 4,
            card_counter=0,
            amount=1,
            when=WHEN,
            key_version=1,
            algorithm=0,
            factors=[b"\x00" * 8],
        )
    assert info.value.sw == 0x6A86
