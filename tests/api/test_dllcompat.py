"""The reader-DLL compatibility layer: names, field codes, GBK/hex values, return codes."""

from __future__ import annotations

from healthcard.api import CardSession
from healthcard.api.dllcompat import ERRORS, IRV, STYLE_AN, STYLE_B, STYLE_CN, HealthCardDll
from healthcard.virtual import demo_person


def test_read_files_as_the_dll(session: CardSession) -> None:
    """The demo card (holder from healthcard/data/persons/zhang-wei.json) in the DLL's field codes and encodings."""
    person = demo_person()
    holder, clinical_flags = person.holder, person.clinical
    assert holder is not None and clinical_flags is not None and clinical_flags.asthma
    assert not clinical_flags.heart_disease and person.allergies and person.immunisations
    name, gender, number, abo = holder.name, holder.gender, holder.id_number, clinical_flags.abo
    assert name and gender and number and abo and holder.birth_date is not None
    dll = HealthCardDll(session)
    code, ef05 = dll.iR_DDF1EF05Info()
    assert code == 0
    assert ef05["KLB"] == b"1" and ef05["GFBB"] == b"1.00" and ef05["KH"] == number.encode()
    assert ef05["FKJGMC"] == "北京市卫生健康委员会（演示）".encode("gbk")
    assert ef05["FKJGDM"] == "1100000000000000000001" and ef05["YYCSDM"] == "110100"
    code, ef06 = dll.iR_DDF1EF06Info()
    assert (code, ef06) == (0, {"XM": name.encode("gbk"), "XB": "0" + gender, "MZ": holder.ethnicity,
                                "CSRQ": holder.birth_date.strftime("%Y%m%d"), "SFZH": number.encode()})  # fmt: skip
    code, clinical = dll.iR_DF02EF05Info()
    assert clinical["ABOXX"] == "0" + abo and clinical["XCBZ"] == "01" and clinical["XZBBZ"] == "00"
    assert clinical["TNBBZ"] == "00" and clinical["TXBZ"] == ""  # diabetes given as false; dialysis not given
    newest_allergy, newest_vaccine = person.allergies[-1], person.immunisations[-1]  # record 1: the newest
    assert dll.iR_DF02EF07Info(1) == (0, {"GMWZMC": newest_allergy.substance.encode("gbk"),
                                          "GMFY": newest_allergy.reaction.encode("gbk")})  # fmt: skip
    assert newest_vaccine.date is not None
    assert dll.iR_DF02EF08Info(1) == (0, {"MYJZMC": newest_vaccine.name.encode("gbk"),
                                          "MYJZSJ": newest_vaccine.date.strftime("%Y%m%d")})  # fmt: skip
    assert dll.iR_DF02EF07Info(len(person.allergies) + 1)[0] == IRV.READ_RECORD
    assert dll.iR_DF02EF07Info(4)[0] == IRV.PARAM


def test_write_files_as_the_dll(session: CardSession) -> None:
    dll = HealthCardDll(session)
    rc = dll.iW_DF01EF05Info(DZLB1="01", DZ1="上海市黄浦区".encode("gbk"), DZLB2="", DZ2=b"")
    assert rc == 0
    assert dll.iR_DF01EF05Info() == (0, {"DZLB1": "01", "DZ1": "上海市黄浦区".encode("gbk"), "DZLB2": "", "DZ2": b""})
    assert dll.iW_DDF1EF06Info(XM="李四", XB="01", MZ="01", CSRQ="19850615", SFZH="110105198506150031") == IRV.PARAM
    assert dll.iW_DDF1EF06Info(XM="x" * 31) == IRV.PARAM
    assert dll.iW_DF02EF07Info("花粉", "打喷嚏") == 0
    assert dll.iR_DF02EF07Info(1)[1]["GMWZMC"] == "花粉".encode("gbk")
    assert dll.iW_DF02EF08Info("麻疹疫苗", "20200202") == 0
    assert dll.iR_DF02EF08Info(1)[1]["MYJZSJ"] == "20200202"


def test_df03_functions(session: CardSession) -> None:
    dll = HealthCardDll(session)
    assert dll.iR_DF03EF05Info() == (0, {"ZYJLBS1": "FF", "ZYJLBS2": "FF", "ZYJLBS3": "FF"})
    assert dll.iReader_GetLastEEIndex() == 1 and dll.iReader_GetLastEDIndex() == 1
    assert dll.iR_DF03EEInfo(1, 0, 70, STYLE_AN) == (IRV.NOT_VALID, None)
    assert dll.iW_DF03EEInfo(1, "协和医院".encode("gbk"), 0, 70, STYLE_AN) == 0
    assert dll.iW_DF03EEInfo(1, "20240301", 80, 4, STYLE_CN) == 0
    assert dll.iW_DF03EF05Info(1) == 0
    assert dll.iR_DF03EF05Info()[1]["ZYJLBS1"] == "00"
    assert dll.iR_DF03EEInfo(1, 0, 70, STYLE_AN) == (0, "协和医院".encode("gbk"))
    assert dll.iR_DF03EEInfo(1, 80, 4, STYLE_CN) == (0, "20240301")
    assert dll.iR_DF03EEInfo(1, 80, 4, STYLE_B) == (0, "20240301")
    assert dll.iReader_GetLastEEIndex() == 2
    assert dll.iR_DF03EEInfo(1, 1600, 100, STYLE_B)[0] == IRV.PARAM  # beyond the 1639-byte data area
    assert dll.iErase_DF03EF05Info(1) == 0 and dll.iR_DF03EF05Info()[1]["ZYJLBS1"] == "FF"
    assert dll.iW_DF03EF06Info(6) == IRV.PARAM


def test_photo_pin_sm3_and_codes(session: CardSession) -> None:
    dll = HealthCardDll(session)
    image = b"\xff\xd8\xff" + bytes(500)
    assert dll.iW_DDF1EF07Info(len(image).to_bytes(2, "big") + image) == 0
    assert dll.iR_DDF1EF07Info() == (0, len(image).to_bytes(2, "big") + image)
    assert dll.iW_DDF1EF07Info(b"\x0c\x00" + bytes(3072)) == IRV.PHOTO
    assert dll.VerifyPin("123456") == (0, 3)
    assert dll.VerifyPin("000000") == (-7, 2)
    assert dll.VerifyPin("123456")[0] == 0
    code, digest = dll.SM3Digest(b"abc")
    assert digest.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    code, signature = dll.SM2SignHash(digest)
    assert code == 0 and len(signature) == 64
    assert ERRORS[112] == "记录不可用(有效标记为FF)"
