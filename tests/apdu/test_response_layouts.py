"""Record layouts declared once (apdu.response_records.Layout): the fast codec agrees with construct's."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu import response_records as rr
from apdu.errors import ApduFormatError
from sam.crypto import purse_crypto

FIXED: list[type[rr._FixedRecord]] = [
    rr.InitForLoadResponse,
    rr.InitForPurchaseResponse,
    rr.InitForUpdateResponse,
    rr.DebitForPurchaseResponse,
    rr.CreditForLoadResponse,
    rr.UpdateOverdraftLimitResponse,
    rr.DebitForUnloadResponse,
    rr.TransactionProveResponse,
    rr.BalanceResponse,
    rr.SamPurchaseInitResponse,
    rr.TerminalInfo,
]


# The answers' lengths as the standards give them (JR/T 0025.1 purse commands; PSAM COS, sources.md V2).
LENGTHS = {
    rr.InitForLoadResponse: 16, rr.InitForPurchaseResponse: 15, rr.InitForUpdateResponse: 19,
    rr.DebitForPurchaseResponse: 8, rr.CreditForLoadResponse: 4, rr.UpdateOverdraftLimitResponse: 4,
    rr.DebitForUnloadResponse: 4, rr.TransactionProveResponse: 8, rr.BalanceResponse: 4,
    rr.SamPurchaseInitResponse: 8, rr.TerminalInfo: 6,
}  # fmt: skip


@pytest.mark.parametrize("record", FIXED)
def test_the_layout_declares_the_attributes_in_order(record: type[rr._FixedRecord]) -> None:
    assert [name for name, _, _ in record.LAYOUT.fields] == [f.name for f in dataclasses.fields(record)]
    assert record.LENGTH == record.LAYOUT.size == LENGTHS[record]


def test_every_fixed_record_has_its_known_length() -> None:
    assert set(LENGTHS) == set(FIXED)
    assert rr.HealthSamAppInfo.LENGTH == 25  # 健康卡 SAM spec: files, DF01/EF001A


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_parse_and_build_agree_with_construct(data: st.DataObject) -> None:
    for record in FIXED:
        raw = data.draw(st.binary(min_size=record.LAYOUT.size, max_size=record.LAYOUT.size))
        reference = record.LAYOUT.struct.parse(raw)
        parsed = record.LAYOUT.parse(record.__name__, raw)
        assert parsed == {name: reference[name] for name, _, _ in record.LAYOUT.fields}
        assert record.LAYOUT.build(parsed) == record.LAYOUT.struct.build(parsed) == raw
        assert record.parse(raw).encode() == raw


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: rr.InitForPurchaseResponse(1, 2, 0x1000000, 1, 0, b"1234"), "overdraft_limit"),
        (lambda: rr.InitForLoadResponse(-1, 2, 1, 0, b"1234", b"abcd"), "balance"),
        (lambda: rr.DebitForPurchaseResponse(b"123", b"abcd"), "tac"),
        (lambda: rr.SamPurchaseInitResponse(1 << 32, b"abcd"), "terminal_serial"),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(make: object, field: str) -> None:
    with pytest.raises(ApduFormatError) as info:
        make().encode()  # type: ignore[operator]
    assert info.value.field == field


_PACKED = [record.LAYOUT for record in FIXED] + [
    purse_crypto.LOAD_MAC1_DATA, purse_crypto.TRANSACTION_DATA, purse_crypto.PURCHASE_MAC2_DATA,
    purse_crypto.PURCHASE_TAC_DATA, purse_crypto.LOAD_TAC_DATA,
]  # fmt: skip


def _value(size: int, is_bytes: bool) -> st.SearchStrategy[object]:
    """Mostly valid values of a field, sometimes a wrong length, a negative or too large number, a bool."""
    if is_bytes:
        return st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=size + 2))
    top = (1 << (8 * size)) - 1
    return st.one_of(st.integers(0, top), st.integers(-2, top + 2), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_pack_is_build_with_positional_values(data: st.DataObject) -> None:
    """Layout.pack (struct fast path) gives build's bytes, or build's error naming the same field."""
    layout = data.draw(st.sampled_from(_PACKED))
    values = [data.draw(_value(size, is_bytes)) for _, size, is_bytes in layout.fields]
    try:
        expected: bytes | str = layout.build(dict(zip((name for name, _, _ in layout.fields), values, strict=True)))
    except ApduFormatError as exc:
        expected = exc.field
    try:
        got: bytes | str = layout.pack(*values)
    except ApduFormatError as exc:
        got = exc.field
    assert got == expected
