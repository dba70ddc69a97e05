"""Property tests of sam.crypto: inverses, sensitivity to every bit, and errors that reveal nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.command import Command
from sam import crypto
from sam.crypto import Algorithm, CryptoError

ALGS = st.sampled_from([Algorithm.TDES, Algorithm.SM4])
KEY16 = st.binary(min_size=16, max_size=16)
FAST = settings(max_examples=60, deadline=None)


def _blocks(alg: Algorithm, n: int) -> st.SearchStrategy[bytes]:
    size = crypto.block_size(alg)
    return st.binary(min_size=size * n, max_size=size * n)


@FAST
@given(alg=ALGS, key=KEY16, n=st.integers(1, 4), data=st.data())
def test_decrypt_inverts_encrypt(alg: Algorithm, key: bytes, n: int, data: st.DataObject) -> None:
    plain = data.draw(_blocks(alg, n))
    iv = data.draw(_blocks(alg, 1))
    assert crypto.decrypt_ecb(alg, key, crypto.encrypt_ecb(alg, key, plain)) == plain
    assert crypto.decrypt_cbc(alg, key, crypto.encrypt_cbc(alg, key, plain, iv), iv) == plain


@FAST
@given(alg=ALGS, key=KEY16, message=st.binary(max_size=64), bit=st.integers(0, 10_000))
def test_mac_changes_with_any_bit(alg: Algorithm, key: bytes, message: bytes, bit: int) -> None:
    if not message:
        message = b"\x00"
    index = bit % (len(message) * 8)
    flipped = bytearray(message)
    flipped[index // 8] ^= 1 << (index % 8)
    assert crypto.mac(alg, key, message) != crypto.mac(alg, key, bytes(flipped))
    crypto.verify_mac(alg, key, message, crypto.mac(alg, key, message))
    with pytest.raises(CryptoError):
        crypto.verify_mac(alg, key, bytes(flipped), crypto.mac(alg, key, message))


@FAST
@given(alg=ALGS, key=KEY16, factor=st.binary(min_size=8, max_size=8))
def test_diversification_of_factor_and_inverse_differ(alg: Algorithm, key: bytes, factor: bytes) -> None:
    derived = crypto.diversify(alg, key, factor)
    assert len(derived) == 16
    assert derived != crypto.diversify(alg, key, crypto.invert(factor))


@FAST
@given(data=st.binary(max_size=40), block=st.sampled_from([8, 16]))
def test_pad80_round_trip(data: bytes, block: int) -> None:
    padded = crypto.pad80(data, block)
    assert len(padded) % block == 0 and len(padded) > len(data)
    assert crypto.unpad80(padded) == data


@FAST
@given(alg=ALGS, key=KEY16, data=st.binary(max_size=100), pad_always=st.booleans())
def test_line_encryption_round_trip(alg: Algorithm, key: bytes, data: bytes, pad_always: bool) -> None:
    cryptogram = crypto.sm_encrypt_data(alg, key, data, pad_always=pad_always)
    assert crypto.sm_decrypt_data(alg, key, cryptogram) == data


@FAST
@given(alg=ALGS, key=KEY16, data=st.binary(max_size=50), challenge=st.binary(min_size=4, max_size=8))
def test_sm_command_verifies_and_detects_tampering(alg: Algorithm, key: bytes, data: bytes, challenge: bytes) -> None:
    wrapped = crypto.sm_mac_command(alg, key, Command(0x00, 0xD6, 0x95, 0x00, data), challenge).encode()
    assert crypto.verify_sm_command(alg, key, wrapped, challenge) == data
    tampered = bytearray(wrapped)
    tampered[-1] ^= 0x01
    with pytest.raises(CryptoError):
        crypto.verify_sm_command(alg, key, bytes(tampered), challenge)


@FAST
@given(key=KEY16, challenge=st.binary(min_size=8, max_size=8), plain=st.binary(max_size=120))
def test_health_sm_wrap_round_trip(key: bytes, challenge: bytes, plain: bytes) -> None:
    header = bytes.fromhex("04DC0104")
    body = crypto.health_sm_wrap(key, challenge, header, plain)
    assert crypto.health_sm_unwrap(key, challenge, header, body) == plain
    with pytest.raises(CryptoError):
        crypto.health_sm_unwrap(key, challenge, bytes.fromhex("04DC0204"), body)


def test_health_keys_and_cryptogram_shape() -> None:
    master, card = bytes(range(16)), bytes.fromhex("0102030405060708")
    one = crypto.health_card_key(master, card)
    two = crypto.health_card_key(master, card, bytes.fromhex("4101000000000000"))
    assert one == crypto.diversify(Algorithm.SM4, master, card) and one != two
    challenge = bytes.fromhex("A1A2A3A4A5A6A7A8")
    assert crypto.health_session_key(one, challenge) == crypto.encrypt_ecb(
        Algorithm.SM4, one, challenge + crypto.invert(challenge)
    )
    cryptogram = crypto.health_auth_cryptogram(one, challenge, bytes.fromhex("1122334455667788"))
    assert len(cryptogram) == 8
    assert cryptogram != crypto.health_auth_cryptogram(one, bytes(8), bytes.fromhex("1122334455667788"))


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda k: crypto.encrypt_ecb(Algorithm.SM4, k[:15], bytes(16)), "key"),
        (lambda k: crypto.encrypt_ecb(Algorithm.TDES, k[:7], bytes(8)), "key"),
        (lambda k: crypto.encrypt_ecb(Algorithm.TDES, k, bytes(7)), "data"),
        (lambda k: crypto.encrypt_cbc(Algorithm.SM4, k, bytes(16), bytes(8)), "iv"),
        (lambda k: crypto.diversify(Algorithm.TDES, k, bytes(7)), "factor"),
        (lambda k: crypto.purchase_mac1(Algorithm.TDES, k[:8], -1, 6, bytes(6), bytes(7)), "amount"),
        (lambda k: crypto.purchase_mac1(Algorithm.TDES, k[:8], 1, 6, bytes(5), bytes(7)), "terminal_id"),
        (crypto.unpad80, "padding"),
    ],
)
def test_errors_name_the_field_and_hide_the_key(call: object, field: str) -> None:
    key = bytes.fromhex("C0FFEE11C0FFEE22C0FFEE33C0FFEE44")
    assert callable(call)
    with pytest.raises(CryptoError) as caught:
        call(key)
    message = str(caught.value)
    assert message.startswith("[library]") and field in message
    assert "C0FFEE" not in message.upper()


def test_equal_halves_transport_key_is_accepted() -> None:
    ff = b"\xff" * 16
    assert crypto.encrypt_ecb(Algorithm.TDES, ff, bytes(8)) == crypto.encrypt_ecb(Algorithm.TDES, ff[:8], bytes(8))
