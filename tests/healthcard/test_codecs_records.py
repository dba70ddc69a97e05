"""Typed record files, fixed records, DF03 layouts, purse records (WS/T 543.3 record layouts, DF03 items, JR/T 0025.1
transaction detail file)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.errors import DataError
from healthcard.codecs import (
    ED_LAYOUT,
    EE_LAYOUT,
    ELEMENTS,
    Allergy,
    ClinicalFlags,
    Contacts,
    Holder,
    Immunisation,
    InpatientRecord,
    IssuerData,
    OutpatientRecord,
    PurseApplicationData,
    PurseDetail,
    Validity,
)
from healthcard.codecs.df03 import AreaLayout, parse_layout
from healthcard.codecs.encoding import Encoding, encode_value

HOLDER = Holder(
    name="张伟", gender="1", ethnicity="01", birth_date=dt.date(1985, 6, 15), id_number="110105198506150030"
)


def test_elements_table() -> None:
    assert sorted(ELEMENTS) == list(range(1, 64))
    assert ELEMENTS[57].pinyin == "YYCSDM" and ELEMENTS[57].length == 3
    assert ELEMENTS[5].length == 180


def test_holder_records_are_tlv_by_item() -> None:
    records = HOLDER.to_records()
    assert records[0] == bytes((0x0B, 4)) + "张伟".encode("gbk")
    assert records[1] == bytes.fromhex("0C0101")  # XB b, one byte
    assert records[2] == bytes.fromhex("0D0101")  # MZ cn "01"
    assert records[3] == bytes.fromhex("0E0419850615")
    assert Holder.from_records(list(reversed(records))) == HOLDER
    assert Holder.from_json(HOLDER.to_json()) == HOLDER
    assert HOLDER.to_json()["gender"] == {"code": "1", "meaning": "男性"}


def test_holder_validation() -> None:
    with pytest.raises(DataError) as info:
        Holder(name="张伟", birth_date=dt.date(1985, 6, 16), id_number="110105198506150030")
    assert info.value.field == "CSRQ"
    with pytest.raises(DataError):
        Holder(name="张伟", ethnicity="60")
    with pytest.raises(DataError):
        Holder(name=None)
    with pytest.raises(DataError):
        Holder.from_records([bytes.fromhex("290101")])


def test_issuer_data_record_order_and_certificate_padding() -> None:
    data = IssuerData(card_number="110105198506150030", city_code="123123", issuer_certificate=b"\x01\x02")
    assert IssuerData.tags() == (1, 2, 3, 4, 5, 6, 8, 9, 10, 0x39)
    records = data.to_records()
    assert records[9] == bytes.fromhex("3903123123")
    assert len(records[4]) == 2 + 180
    assert IssuerData.from_records(records).issuer_certificate == b"\x01\x02".ljust(180, b"\x00")


@given(
    st.booleans() | st.none(),
    st.sampled_from(["1", "2", "3", "4", "5"]),
    st.text(alphabet="心脏支架术后华法林", max_size=20),
)
def test_clinical_round_trip(flag: bool | None, abo: str, warning: str) -> None:
    value = ClinicalFlags(abo=abo, rh="2", asthma=flag, pacemaker=flag, other_warning=warning or None)
    assert ClinicalFlags.from_records(value.to_records()) == value
    assert ClinicalFlags.from_json(value.to_json()) == value


def test_contacts_and_validity() -> None:
    c = Contacts(name1="王芳", relation1="10", phone1="13900139000")
    assert [r[0] for r in c.to_records()] == list(range(0x19, 0x22))
    assert Contacts.from_records(c.to_records()) == c
    v = Validity(expiry_date=dt.date(2034, 1, 15), payment_method1="01")
    assert Validity.from_json(v.to_json()) == v
    with pytest.raises(DataError):
        Validity(payment_method1="42")


def test_allergy_and_immunisation_records() -> None:
    a = Allergy("青霉素", "皮疹")
    raw = a.to_record()
    assert len(raw) == 120 and raw[:6] == "青霉素".encode("gbk") and raw[20:24] == "皮疹".encode("gbk")
    assert Allergy.from_record(raw) == a
    assert Allergy.from_record(b"\x00" * 120) is None
    i = Immunisation("乙肝疫苗", dt.date(2010, 3, 1))
    raw = i.to_record()
    assert len(raw) == 24 and raw[20:] == bytes.fromhex("20100301")
    assert Immunisation.from_record(raw) == i
    with pytest.raises(DataError):
        Allergy("过敏物质名称非常非常非常长超过二十字节")


def test_df03_layouts() -> None:
    assert (EE_LAYOUT.size, EE_LAYOUT.data_size, len(EE_LAYOUT.fields)) == (1893, 1639, 149)
    assert (ED_LAYOUT.size, ED_LAYOUT.data_size, len(ED_LAYOUT.fields)) == (3267, 3013, 172)
    assert EE_LAYOUT.fields[0].item == 64 and ED_LAYOUT.fields[-1].item == 384
    assert EE_LAYOUT.field(211).name == "signature"
    with pytest.raises(ValueError, match="contiguous"):
        parse_layout("x", "1@0:2an 2@3:1cn", expected_size=4)
    with pytest.raises(ValueError, match="expected"):
        parse_layout("x", "1@0:2an 2@2:1cn", expected_size=4)


@st.composite
def _area_values(draw: st.DrawFn) -> tuple[AreaLayout, dict[int, str | bytes]]:
    layout = draw(st.sampled_from([EE_LAYOUT, ED_LAYOUT]))
    chosen = draw(st.lists(st.sampled_from(layout.fields), max_size=12, unique_by=lambda f: f.item))
    values: dict[int, str | bytes] = {}
    for f in chosen:
        if f.encoding is Encoding.AN:
            values[f.item] = draw(st.text(alphabet="ABCxyz019 -", min_size=1, max_size=f.length).map(str.strip)
                                  .filter(bool))  # fmt: skip
        elif f.encoding is Encoding.CN:
            values[f.item] = draw(st.text(alphabet="0123456789", min_size=1, max_size=2 * f.length))
        else:
            values[f.item] = draw(st.binary(min_size=1, max_size=f.length).filter(any))
    return layout, values


@given(_area_values())
def test_df03_encoding_is_the_construct_layout_and_round_trips(case: tuple[AreaLayout, dict[int, str | bytes]]) -> None:
    """The direct encoder writes exactly what the table's construct Struct builds; decode inverts it."""
    layout, values = case
    data = layout.encode(values)
    by_struct = layout.struct.build(
        {
            f"item_{f.item:03d}": encode_value(values[f.item], f.encoding, f.length, field="x", pad=True)
            if f.item in values
            else (b"\xff" if f.encoding is Encoding.CN else b"\x00") * f.length
            for f in layout.fields
        }
    )
    assert data == by_struct
    decoded = layout.decode(data)
    expected = {
        item: value.ljust(layout.field(item).length, b"\x00") if isinstance(value, bytes) else value
        for item, value in values.items()
    }
    assert decoded == expected
    assert layout.encode({}) == layout.blank and layout.decode(layout.blank) == {}


def test_df03_bad_items_are_refused_before_anything_is_built() -> None:
    with pytest.raises(DataError, match="item 5 is not part of the EE area"):
        EE_LAYOUT.encode({64: "ok", 5: "x"})
    with pytest.raises(DataError, match="item_066"):
        EE_LAYOUT.encode({66: "123456789"})  # 4 cn bytes hold 8 digits


def test_visit_records_round_trip() -> None:
    rec = InpatientRecord(2, True, {64: "北京协和医院", 66: "20240101", 138: b"\x01"})
    data = rec.to_bytes()
    assert len(data) == 1893 and data[80:84] == bytes.fromhex("20240101") and data[84:86] == b"\xff\xff"
    assert InpatientRecord.from_bytes(2, data, 0x00) == rec
    assert InpatientRecord.from_json(rec.to_json()) == rec
    out = OutpatientRecord(5, False, {213: "社区卫生服务中心"})
    assert OutpatientRecord.from_bytes(5, out.to_bytes(), 0xFF) == out
    with pytest.raises(DataError):
        InpatientRecord(4)
    with pytest.raises(DataError):
        InpatientRecord(1, items={213: "x"})


def test_purse_records() -> None:
    ef15 = PurseApplicationData(
        issuer_id=bytes.fromhex("1100000000000001"), app_serial=bytes.fromhex("0001A1B2C3D4E5F60718"),
        start_date=dt.date(2024, 1, 15), expiry_date=dt.date(2034, 1, 15),
    )  # fmt: skip
    raw = ef15.to_bytes()
    assert len(raw) == 30 and raw[10:20] == ef15.app_serial and raw[20:24] == bytes.fromhex("20240115")
    assert ef15.diversification_factor == raw[12:20]
    assert PurseApplicationData.from_bytes(raw) == ef15
    d = PurseDetail(1, 0, 1500, 6, bytes.fromhex("000000000001"), dt.datetime(2024, 1, 15, 9, 30, 5))
    raw = d.to_bytes()
    assert len(raw) == 23 and raw[5:9] == (1500).to_bytes(4, "big") and raw[20:] == bytes.fromhex("093005")
    assert PurseDetail.from_bytes(raw) == d
