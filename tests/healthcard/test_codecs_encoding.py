"""an / cn / b encodings, dates, ID numbers, code tables (WS/T 543.3 record addressing, WS/T 543.3 data items)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.errors import DataError
from healthcard.codecs import TABLES, check_character, table, validate_id_number
from healthcard.codecs.encoding import (
    Encoding,
    decode_an,
    decode_cn,
    decode_date,
    decode_value,
    encode_an,
    encode_cn,
    encode_date,
    encode_value,
)

GBK_TEXT = st.text(alphabet=st.sampled_from("张伟李娜王芳阿依古丽·买提北京市朝阳区路号ABCxyz0123-（）"), max_size=15)


@given(GBK_TEXT)
def test_an_round_trip(text: str) -> None:
    raw = encode_an(text, 30, field="XM")
    assert decode_an(raw, field="XM") == text
    padded = encode_an(text, 30, field="XM", pad=True)
    assert len(padded) == 30 and decode_an(padded, field="XM") == text


@given(st.text(alphabet="0123456789", max_size=8), st.integers(min_value=4, max_value=6))
def test_cn_round_trip(digits: str, length: int) -> None:
    raw = encode_cn(digits, length, field="X")
    assert len(raw) == length
    assert decode_cn(raw, field="X") == digits


@given(st.binary(max_size=20))
def test_b_round_trip(data: bytes) -> None:
    assert decode_value(encode_value(data, Encoding.B, 20, field="b", pad=False), Encoding.B, field="b") == data


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_date_round_trip(value: dt.date) -> None:
    raw = encode_date(value, field="CSRQ")
    assert len(raw) == 4 and raw.hex() == value.strftime("%Y%m%d")
    assert decode_date(raw, field="CSRQ") == value


def test_cn_known_values() -> None:
    assert encode_cn("123123", 3, field="YYCSDM") == bytes.fromhex("123123")
    assert encode_cn("01", 1, field="MZ") == b"\x01"
    assert encode_cn("123", 3, field="x") == bytes.fromhex("123FFF")
    with pytest.raises(DataError):
        encode_cn("12a", 2, field="x")
    with pytest.raises(DataError):
        decode_cn(bytes.fromhex("1F2F"), field="x")


def test_gbk_overflow_and_unencodable() -> None:
    assert encode_an("张三", 30, field="XM") == "张三".encode("gbk")
    with pytest.raises(DataError, match="at most 30"):
        encode_an("张" * 16, 30, field="XM")
    with pytest.raises(DataError, match="GBK") as info:
        encode_an("emoji 😀", 30, field="XM")
    assert info.value.field == "XM"


def test_invalid_date() -> None:
    with pytest.raises(DataError, match="not a valid date"):
        decode_date(bytes.fromhex("20230230"), field="CSRQ")
    assert decode_date(b"\xff" * 4, field="CSRQ") is None


def test_id_check_digit() -> None:
    # GB 11643-1999 example number; check character X.
    assert check_character("11010519491231002") == "X"
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    assert validate_id_number("440524188001010014") == "440524188001010014"
    with pytest.raises(DataError, match="check character"):
        validate_id_number("110105194912310021")
    with pytest.raises(DataError, match="18 characters"):
        validate_id_number("1101051949123100")
    with pytest.raises(DataError, match="birth date"):
        validate_id_number("11010519491331" + "002" + check_character("11010519491331002"))


def test_code_tables() -> None:
    assert len([c for c in TABLES["ethnicity"].entries if int(c) <= 56]) == 56
    assert table("ethnicity").meaning("01") == "汉族"
    assert table("gender").meaning("2") == "女性"
    assert table("abo").meaning("4") == "AB型"
    assert table("marital").meaning("20") == "已婚"
    with pytest.raises(DataError):
        table("abo").validate("7", field="ABOXX")
