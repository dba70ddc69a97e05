"""The one BCD date/time codec (apdu.bcd): round trips and refusals."""

from __future__ import annotations

import datetime as dt
import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import apdu.bcd
from apdu.bcd import decode_date, decode_datetime, encode_date, encode_datetime, encode_time
from apdu.errors import ApduFormatError

moments = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda m: m.replace(microsecond=0)
)


@given(moments)
def test_datetime_round_trip(when: dt.datetime) -> None:
    raw = encode_datetime(when)
    assert len(raw) == 7 and raw.hex() == when.strftime("%Y%m%d%H%M%S")
    assert decode_datetime(raw) == when
    assert decode_date(raw[:4]) == when.date()
    assert encode_date(when) + encode_time(when) == raw


@pytest.mark.parametrize(
    ("raw", "field"),
    [("20261301", "date"), ("2026010A", "date"), ("202601", "date"), ("20260230", "date")],
)
def test_bad_dates_are_refused_with_their_field(raw: str, field: str) -> None:
    with pytest.raises(ApduFormatError, match="not a BCD date") as info:
        decode_date(bytes.fromhex(raw))
    assert info.value.field == field


def test_bad_times_are_refused() -> None:
    with pytest.raises(ApduFormatError, match="when"):
        decode_datetime(bytes.fromhex("20260101246000"), field="when")
    with pytest.raises(ApduFormatError):
        encode_datetime(dt.date(2026, 1, 1))  # type: ignore[arg-type]


def test_the_module_examples_hold() -> None:
    result = doctest.testmod(apdu.bcd)
    assert result.attempted == 2 and result.failed == 0
