"""Every write of the card API on the in-process virtual card, read back through the API."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu import iso
from apdu.errors import DataError, SecurityStatusError
from apdu.trace import TraceRecorder
from healthcard.api import CardData, CardSession, Section, load_demo_person
from healthcard.codecs import (
    Addresses,
    Allergy,
    ClinicalFlags,
    Contacts,
    Documents,
    Immunisation,
    InpatientRecord,
    IssuerData,
    OccupationMarriage,
    OutpatientRecord,
    SpecialInfo,
    Validity,
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # 2052 bytes: several UPDATE BINARY chunks


def test_write_every_tlv_section_and_read_back(session: CardSession) -> None:
    before = session.read_all()
    assert before.issuer is not None and before.holder is not None
    new = CardData(
        issuer=before.issuer.replace(issuer_name="上海市卫生健康委员会（演示）"),
        holder=before.holder.replace(name="张伟伟"),
        validity=Validity(expiry_date=dt.date(2035, 1, 31), phone1="13800138000", phone2="021-12345678",
                          payment_method1="01", payment_method2="07"),
        addresses=Addresses(category1="01", address1="上海市黄浦区人民大道200号", category2="04", address2="邮政信箱"),
        contacts=Contacts(name1="王芳", relation1="10", phone1="13900139000", name2="张强", relation2="20"),
        occupation_marriage=OccupationMarriage(education="20", marital_status="20", occupation="205"),
        documents=Documents(document_type="01", document_number="110105198506150030",
                            health_record_number="11010500000000001"),
        clinical=ClinicalFlags(abo="2", rh="2", asthma=False, diabetes=True, other_warning="对碘造影剂过敏"),
        special=SpecialInfo(mental_illness=False),
    )  # fmt: skip
    written = session.write(new, previous=before)
    assert len(written) == 9
    after = session.read(set(written))
    for section in written:  # a field the new record leaves None keeps what the card held (a merge, not an erase)
        given, held = new.get(section), before.get(section)
        kept = {a: getattr(given, a) for a in given.attributes() if getattr(given, a) is not None}
        assert after.get(section) == (held.replace(**kept) if held is not None else given), section
    assert session.card_number == before.card_number


def test_unchanged_records_are_skipped(session: CardSession) -> None:
    before = session.read({Section.HOLDER})
    assert before.holder is not None
    with session.measure() as n:
        session.write_section(Section.HOLDER, before.holder, before.holder)
    assert n == {"card": 0, "sam": 0}
    with session.measure() as n:
        session.write_section(Section.HOLDER, before.holder.replace(name="李娜"), before.holder)
    # one SM record: GET CHALLENGE, 04 DC (+ UK_DDF1: GET CHALLENGE, EXTERNAL AUTHENTICATE)
    assert n["card"] == 4


def test_secure_messaging_hides_the_record(session: CardSession) -> None:
    recorder = TraceRecorder()
    session.tracer.add(recorder)
    before = session.read({Section.HOLDER}).holder
    assert before is not None
    session.write_section(Section.HOLDER, before.replace(name="李娜"), before)
    writes = [e for e in recorder.events if e.reader == "inprocess:card" and e.command.startswith("04 DC")]
    assert len(writes) == 1
    assert "李娜".encode("gbk").hex(" ").upper() not in writes[0].command
    assert session.read({Section.HOLDER}).holder == before.replace(name="李娜")


def test_photo_round_trip_and_limit(session: CardSession, tmp_path: object) -> None:
    session.write_section(Section.PHOTO, JPEG)
    assert session.read_photo() == JPEG
    assert session.read({Section.PHOTO}).to_json()["photo"]["format"] == "jpeg"
    with pytest.raises(DataError, match="exceeds"):
        session.write_section(Section.PHOTO, bytes(3071))


def test_cyclic_appends_newest_first_and_wrap(session: CardSession) -> None:
    for n in range(4):
        session.append_allergy(Allergy(f"过敏原{n}", f"反应{n}"))
    allergies = session.read({Section.ALLERGIES}).allergies
    assert [a.substance for a in allergies or ()] == ["过敏原3", "过敏原2", "过敏原1"]
    session.append_immunisation(Immunisation("流感疫苗", dt.date(2024, 10, 1)))
    imm = session.read({Section.IMMUNISATIONS}).immunisations
    issued = load_demo_person("zhang-wei").immunisations or ()
    assert imm is not None and imm[0] == Immunisation("流感疫苗", dt.date(2024, 10, 1)) and len(imm) == len(issued) + 1


def test_write_data_allergies_listed_newest_first(session: CardSession) -> None:
    items = (Allergy("新"), Allergy("旧"))
    session.write(CardData(allergies=items))
    issued = load_demo_person("zhang-wei").allergies or ()  # read back newest first; the file keeps 3 records
    expected = (*items, *issued[::-1])[:3]
    assert session.read({Section.ALLERGIES}).allergies == expected


def _inpatient(admitted: str, discharged: str = "", name: str = "协和医院") -> InpatientRecord:
    items: dict[int, str | bytes] = {64: name, 66: admitted}
    if discharged:
        items[77] = discharged
    return InpatientRecord(1, items=items)


def test_visit_slot_rule_free_first_then_oldest(session: CardSession) -> None:
    slots = [session.add_visit(_inpatient(d)) for d in ("20240301", "20240101", "20240201")]
    assert slots == [1, 2, 3]
    data = session.read({Section.INPATIENT})
    assert [r.items[66] for r in data.valid_inpatient()] == ["20240301", "20240101", "20240201"]
    assert session.next_visit_slot(True) == 2  # all used: the earliest admission
    assert session.add_visit(_inpatient("20240401", name="同仁医院")) == 2
    assert session.read_visit(True, 2).items[64] == "同仁医院"
    session.erase_visit(True, 3)
    assert session.next_visit_slot(True) == 3
    assert [r.valid for r in session.read({Section.INPATIENT}).inpatient or ()] == [True, True, False]


def test_visit_slot_tie_broken_by_discharge_date(session: CardSession) -> None:
    for discharged in ("20240110", "20240105", "20240120"):
        session.add_visit(_inpatient("20240101", discharged))
    assert session.next_visit_slot(True) == 2


def test_outpatient_slot_by_visit_time(session: CardSession) -> None:
    for n, when in enumerate(("20240105093000", "20240103080000", "20240104100000", "20240106", "20240107"), 1):
        assert session.add_visit(OutpatientRecord(1, items={213: "社区卫生服务中心", 215: when})) == n
    assert session.next_visit_slot(False) == 2
    session.write_visit(OutpatientRecord(4, valid=False, items={213: "x"}))
    assert session.next_visit_slot(False) == 4


def test_sign_and_verify_a_visit_record(session: CardSession) -> None:
    slot = session.add_visit(_inpatient("20240301"))
    signature = session.sign_visit(True, slot)
    record = session.read_visit(True, slot)
    assert record.items[211] == signature
    assert session.verify_visit(record)
    tampered = InpatientRecord(slot, True, {**record.items, 64: "伪造医院"})
    assert not session.verify_visit(tampered)
    unsigned = InpatientRecord(slot, True, {64: "x"})
    assert not session.verify_visit(unsigned)
    moved = InpatientRecord(slot % 3 + 1, True, dict(record.items))  # the same bytes in another slot
    assert not session.verify_visit(moved)


def test_write_without_the_right_key_is_refused(session: CardSession) -> None:
    # DF02/EF06 needs UK_DF02_2 (state 3); state 2 of UK_DF02_1 is not enough: the library authenticates itself
    session.write_section(Section.CLINICAL, ClinicalFlags(abo="3"))
    session.write_section(Section.SPECIAL, SpecialInfo(mental_illness=True))
    assert session.read({Section.SPECIAL}).special == SpecialInfo(mental_illness=True)
    # and the card refuses a plain write without any authentication
    a = session.access
    a.forget()
    a.select_df("DF02")
    with pytest.raises(SecurityStatusError):
        a.send(iso.update_record(1, b"\x38\x01\x01", sfi=6))


def test_issuer_write_refreshes_card_number(session: CardSession) -> None:
    issuer = session.read({Section.ISSUER}).issuer
    assert isinstance(issuer, IssuerData)
    session.write_section(Section.ISSUER, issuer.replace(card_number="110105198506150030", security_code="123"))
    assert session.read({Section.ISSUER}).issuer.security_code == "123"  # type: ignore[union-attr]
