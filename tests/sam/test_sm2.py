"""sam.crypto.sm2: the GM/T 0003.5 Annex A.2 vector, tamper detection, round trips, interop, bad input, secrecy."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from gmalglib import sm2 as gmalglib_sm2
from gmssl import sm2 as gmssl_sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from sam.crypto import CryptoError, sm3
from sam.crypto.sm2 import (
    SM2_DEFAULT_UID,
    Sm2PrivateKey,
    Sm2PublicKey,
    sm2_generate_private_key,
    sm2_load_private_key,
    sm2_load_public_key,
    sm2_sign,
    sm2_sign_digest,
    sm2_verify,
    sm2_verify_digest,
    sm2_z,
)

H = bytes.fromhex
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
VECTORS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "vectors_sm2.json").read_text("utf-8"))["vectors"]
V = VECTORS[0]
D, PUB, MSG, UID, SIG = H(V["private_key"]), H(V["public_key"]), H(V["message_hex"]), H(V["uid_hex"]), H(V["signature"])


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (0 = most significant bit of byte 0) inverted."""
    buf = bytearray(data)
    buf[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(buf)


@pytest.fixture(scope="module")
def key() -> Sm2PrivateKey:
    return sm2_load_private_key(D)


# --- the published vector -------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["id"])
def test_published_vector_verifies(vector: dict[str, Any]) -> None:
    private = sm2_load_private_key(H(vector["private_key"]))
    public = sm2_load_public_key(H(vector["public_key"]))
    assert private.public_key() == public
    assert sm2_z(public, H(vector["uid_hex"])) == H(vector["z"])
    assert sm3(H(vector["z"]) + H(vector["message_hex"])) == H(vector["e"])
    assert sm2_verify(public, H(vector["message_hex"]), H(vector["signature"]), H(vector["uid_hex"]))
    assert sm2_verify_digest(public, H(vector["e"]), H(vector["signature"]))
    assert vector["uid_hex"] == SM2_DEFAULT_UID.hex().upper()
    assert sm2_verify(public, H(vector["message_hex"]), H(vector["signature"]))  # default uid


def test_published_signature_reproduced_with_fixed_k() -> None:
    """Our Z/e path plus the backend with k pinned to the Annex A value gives the published r ‖ s."""
    private = sm2_load_private_key(D)
    k_little_endian = H(V["k"])[::-1]  # gmalglib reads its random bytes little-endian
    private._signer = gmalglib_sm2.SM2(D, rnd_fn=lambda _n: k_little_endian)
    assert sm2_sign(private, MSG, UID) == SIG
    assert sm2_sign_digest(private, H(V["e"])) == SIG


def test_public_key_loads_with_or_without_04_prefix() -> None:
    assert sm2_load_public_key(PUB) == sm2_load_public_key(b"\x04" + PUB)
    assert sm2_load_public_key(PUB).to_bytes() == PUB


# --- tampering ----------------------------------------------------------------------------------------------------


@given(bit=st.integers(0, len(MSG) * 8 - 1))
@settings(max_examples=20, deadline=None)
def test_flipped_message_bit_fails(bit: int) -> None:
    assert not sm2_verify(sm2_load_public_key(PUB), flip(MSG, bit), SIG, UID)


@given(bit=st.integers(0, 64 * 8 - 1))
@settings(max_examples=30, deadline=None)
def test_flipped_signature_bit_fails(bit: int) -> None:
    assert not sm2_verify(sm2_load_public_key(PUB), MSG, flip(SIG, bit), UID)


@given(bit=st.integers(0, len(UID) * 8 - 1))
@settings(max_examples=20, deadline=None)
def test_flipped_uid_bit_fails(bit: int) -> None:
    assert not sm2_verify(sm2_load_public_key(PUB), MSG, SIG, flip(UID, bit))


def test_other_public_key_fails() -> None:
    assert not sm2_verify(sm2_generate_private_key().public_key(), MSG, SIG, UID)


@pytest.mark.parametrize(
    "signature",
    [bytes(64), N.to_bytes(32, "big") + SIG[32:], SIG[:32] + N.to_bytes(32, "big"), SIG[:32] + bytes(32)],
    ids=["zero", "r=n", "s=n", "s=0"],
)
def test_out_of_range_r_or_s_fails(signature: bytes) -> None:
    assert not sm2_verify(sm2_load_public_key(PUB), MSG, signature, UID)


# --- round trips --------------------------------------------------------------------------------------------------


@given(message=st.binary(max_size=300), uid=st.binary(max_size=40))
@settings(max_examples=15, deadline=None)
def test_sign_verify_round_trip(message: bytes, uid: bytes) -> None:
    private = sm2_generate_private_key()
    public = sm2_load_public_key(private.public_key().to_bytes())
    signature = sm2_sign(private, message, uid)
    assert len(signature) == 64
    assert sm2_verify(public, message, signature, uid)
    assert not sm2_verify(public, message + b"\x00", signature, uid)
    assert not sm2_verify(public, message, signature, uid + b"\x00")


def test_signatures_are_randomised(key: Sm2PrivateKey) -> None:
    first, second = sm2_sign(key, MSG), sm2_sign(key, MSG)
    assert first != second
    assert sm2_verify(key.public_key(), MSG, first) and sm2_verify(key.public_key(), MSG, second)


def test_digest_api_matches_message_api(key: Sm2PrivateKey) -> None:
    e = sm3(sm2_z(key.public_key(), b"ALICE123@YAHOO.COM") + b"record")
    assert sm2_verify(key.public_key(), b"record", sm2_sign_digest(key, e), b"ALICE123@YAHOO.COM")
    assert sm2_verify_digest(key.public_key(), e, sm2_sign(key, b"record", b"ALICE123@YAHOO.COM"))


def test_generated_keys_differ_and_reload() -> None:
    a, b = sm2_generate_private_key(), sm2_generate_private_key()
    assert a != b
    assert sm2_load_private_key(a.private_bytes()) == a
    assert sm2_load_private_key(a.private_bytes()).public_key() == a.public_key()


# --- interop: Z/uid handling is the standard one -------------------------------------------------------------------


def test_interop_gmssl_default_uid(key: Sm2PrivateKey) -> None:
    """gmssl (pure Python, independent code, default ID hard-wired) verifies ours, and we verify its signatures."""
    other = gmssl_sm2.CryptSM2(private_key=D.hex(), public_key=PUB.hex())
    ours = sm2_sign(key, b"DF03 record")
    assert other.verify_with_sm3(ours.hex(), b"DF03 record")
    theirs = H(other.sign_with_sm3(b"DF03 record"))
    assert sm2_verify(key.public_key(), b"DF03 record", theirs)


def test_interop_tongsuopy_default_uid(key: Sm2PrivateKey) -> None:
    """Tongsuo (OpenSSL lineage, SM2 EVP with the default ID) verifies ours, and we verify its signatures."""
    ec = pytest.importorskip("tongsuopy.crypto.asymciphers.ec")
    hashes = pytest.importorskip("tongsuopy.crypto.hashes")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(PUB[:32], "big"), int.from_bytes(PUB[32:], "big"), ec.SM2()
    ).public_key()
    ours = sm2_sign(key, b"DF03 record")
    der = encode_dss_signature(int.from_bytes(ours[:32], "big"), int.from_bytes(ours[32:], "big"))
    public.verify(der, b"DF03 record", ec.ECDSA(hashes.SM3()))  # raises InvalidSignature on failure
    r, s = decode_dss_signature(
        ec.derive_private_key(int.from_bytes(D, "big"), ec.SM2()).sign(b"DF03 record", ec.ECDSA(hashes.SM3()))
    )
    assert sm2_verify(key.public_key(), b"DF03 record", r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_interop_gmalg_custom_uid(key: Sm2PrivateKey) -> None:
    """gmalg (pure Python) with a non-default ID agrees in both directions."""
    gmalg = pytest.importorskip("gmalg")
    uid = b"ALICE123@YAHOO.COM"
    other = gmalg.SM2(D, uid, b"\x04" + PUB)
    ours = sm2_sign(key, b"record", uid)
    assert other.verify(b"record", ours[:32], ours[32:])
    r, s = other.sign(b"record")
    assert sm2_verify(key.public_key(), b"record", r.rjust(32, b"\x00") + s.rjust(32, b"\x00"), uid)
    assert not sm2_verify(key.public_key(), b"record", r.rjust(32, b"\x00") + s.rjust(32, b"\x00"))


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [D[:31], D + b"\x00", b"", bytes(32), (N - 1).to_bytes(32, "big"), N.to_bytes(32, "big"), b"\xff" * 32],
    ids=["31B", "33B", "empty", "zero", "n-1", "n", "ff"],
)
def test_bad_private_key_raises(raw: bytes) -> None:
    with pytest.raises(CryptoError) as caught:
        sm2_load_private_key(raw)
    assert raw.hex() not in str(caught.value).lower() or not raw


@pytest.mark.parametrize(
    "raw",
    [PUB[:63], PUB + b"\x00", b"\x05" + PUB, b"\x04" + PUB[:-1] + bytes([PUB[-1] ^ 1]), bytes(64), b"\xff" * 64],
    ids=["63B", "65B-no-04", "prefix-05", "off-curve", "zero-point", "coordinates>=p"],
)
def test_bad_public_key_raises(raw: bytes) -> None:
    with pytest.raises(CryptoError):
        sm2_load_public_key(raw)


@pytest.mark.parametrize("signature", [SIG[:63], SIG + b"\x00", b"", encode_dss_signature(1, 1)])
def test_malformed_signature_raises(signature: bytes) -> None:
    with pytest.raises(CryptoError):
        sm2_verify(sm2_load_public_key(PUB), MSG, signature, UID)


def test_bad_types_and_lengths_raise(key: Sm2PrivateKey) -> None:
    with pytest.raises(CryptoError):
        sm2_sign(key, "text")  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        sm2_sign(PUB, MSG)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        sm2_verify(PUB, MSG, SIG)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        sm2_sign(key, MSG, b"u" * 8192)  # ENTL is 16 bits
    with pytest.raises(CryptoError):
        sm2_sign_digest(key, bytes(31))
    with pytest.raises(CryptoError):
        sm2_verify_digest(key.public_key(), bytes(33), SIG)
    assert isinstance(CryptoError("x"), ValueError)


# --- secrecy ------------------------------------------------------------------------------------------------------


def test_private_key_repr_and_str_hide_the_scalar(key: Sm2PrivateKey) -> None:
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert D.hex() not in text.lower()
        assert D.hex()[:8] not in text.lower()
        assert "hidden" in text


def test_private_key_cannot_be_pickled_or_copied(key: Sm2PrivateKey) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)


def test_errors_never_carry_key_bytes() -> None:
    near_miss = N.to_bytes(32, "big")
    with pytest.raises(CryptoError) as caught:
        sm2_load_private_key(near_miss)
    message = str(caught.value)
    assert near_miss.hex() not in message.lower() and near_miss.hex()[:16] not in message.lower()
    assert caught.value.__cause__ is None
    with pytest.raises(CryptoError) as caught:
        Sm2PrivateKey(D[:31])
    assert D[:31].hex()[:16] not in str(caught.value).lower()


def test_public_key_is_hashable_and_comparable() -> None:
    a, b = sm2_load_public_key(PUB), Sm2PublicKey(PUB)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != sm2_generate_private_key().public_key()
