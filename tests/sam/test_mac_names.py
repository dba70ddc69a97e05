"""One MAC function per algorithm (issue #14): none picks an algorithm from the key's length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sam.crypto import Algorithm, CryptoError, des_mac, mac, retail_mac_3des, session_mac, sm4_mac

keys8 = st.binary(min_size=8, max_size=8)
keys16 = st.binary(min_size=16, max_size=16)
data = st.binary(max_size=64)


@given(keys8, data)
def test_retail_mac_with_equal_halves_is_the_des_mac(key: bytes, message: bytes) -> None:
    """ISO/IEC 9797-1 algorithm 3 with K_R = K_L ends in D(K_L) then E(K_L): algorithm 1."""
    assert retail_mac_3des(key + key, message) == des_mac(key, message)


@given(keys8, keys8, data)
def test_retail_mac_is_not_the_des_mac_of_its_left_half(left: bytes, right: bytes, message: bytes) -> None:
    if left != right:
        assert retail_mac_3des(left + right, message) != des_mac(left, message)


@pytest.mark.parametrize(
    ("function", "key"),
    [(des_mac, bytes(16)), (retail_mac_3des, bytes(8)), (sm4_mac, bytes(8)), (sm4_mac, bytes(24))],
)
def test_a_key_of_the_wrong_length_is_refused(function: object, key: bytes) -> None:
    with pytest.raises(CryptoError, match="-byte key"):
        function(key, b"abc")  # type: ignore[operator]


def test_card_key_and_session_key_macs_refuse_each_others_keys() -> None:
    """Before, mac(TDES, 8-byte key) silently became single DES; now the caller names the session MAC."""
    with pytest.raises(CryptoError):
        mac(Algorithm.TDES, bytes(8), b"abc")
    with pytest.raises(CryptoError):
        session_mac(Algorithm.TDES, bytes(16), b"abc")
    assert session_mac(Algorithm.TDES, bytes(range(8)), b"abc") == des_mac(bytes(range(8)), b"abc")[:4]
    assert mac(Algorithm.SM4, bytes(16), b"abc") == session_mac(Algorithm.SM4, bytes(16), b"abc")
