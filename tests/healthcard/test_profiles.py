"""Profile consistency (WS/T 543.3 file tree, record addressing, record layouts, WS/T 543.3 access rules, WS/T 543.4 key
table; FMCOS 2.0 issuance, sources.md V1)."""

from __future__ import annotations

import pytest

from apdu.fmcos import NEVER, FileType, Protection
from healthcard.codecs import ELEMENTS
from healthcard.profiles import AtrLayout, EFSpec, city_factor, demo_card_profile, health_card_profile, right

PROFILE = demo_card_profile()


def test_every_ef_has_rights_and_existing_keys() -> None:
    for app in PROFILE.applications:
        for _path, df in app.walk():
            names = {k.name for k in df.keys}
            assert len(names) == len(df.keys)
            for ef in df.efs:
                assert 0 <= ef.read <= 0xFF and 0 <= ef.write <= 0xFF
                assert set(ef.write_keys) <= names, (df.name, ef.name)
                if ef.write != NEVER and ef.kind is not FileType.PURSE:
                    states = {df.key(k).follow_state for k in ef.write_keys}
                    for s in states:
                        assert s is not None and (ef.write & 0xF) <= s <= (ef.write >> 4)


def test_record_counts_match_reference() -> None:
    h = PROFILE.health
    expected = {
        ("DDF1", "EF05"): 10, ("DDF1", "EF06"): 5, ("DDF1", "EF08"): 6, ("DF01", "EF05"): 4, ("DF01", "EF06"): 9,
        ("DF01", "EF07"): 3, ("DF01", "EF08"): 4, ("DF02", "EF05"): 15, ("DF02", "EF06"): 1, ("DF02", "EF07"): 3,
        ("DF02", "EF08"): 10, ("DF03", "EF05"): 3, ("DF03", "EF06"): 5,
    }  # fmt: skip
    for (df_name, ef_name), count in expected.items():
        assert h.df(df_name).ef(ef_name).records == count
    assert h.df("DF02").ef("EF07").record_size == 120 and h.df("DF02").ef("EF08").record_size == 24
    assert h.ddf1.ef("EF07").size == 3072
    assert h.df("DF03").ef("EE03").size == 1893 and h.df("DF03").ef("ED05").size == 3267
    for _p, spec in h.ddf1.walk():
        for ef_spec in spec.efs:
            for tag in ef_spec.tags:
                assert ef_spec.record_size >= 2 + ELEMENTS[tag].length


def test_access_mapping() -> None:
    df02 = PROFILE.health.df("DF02")
    ef05 = df02.ef("EF05")
    low, high = ef05.write & 0xF, ef05.write >> 4
    ok = [k.name for k in df02.keys if k.follow_state is not None and low <= k.follow_state <= high]
    assert ok == ["UK_DF02_1"]
    assert PROFILE.health.ddf1.ef("EF05").read == 0xF0
    assert PROFILE.health.ddf1.key("RK_DDF1").key_id == 0x04 and df02.key("UK_DF02_3").key_id == 0x87
    assert df02.key("RK_DF02").sam_p1 == 0x47 and df02.key("RK_DF02").levels == 2
    assert PROFILE.health.ddf1.key("UK_DDF1").levels == 1
    assert right(1) == 0xF1 and right(2, 2) == 0x22


def test_sm_option_and_atr() -> None:
    assert PROFILE.health.ddf1.ef("EF06").sm is Protection.ENC_MAC
    plain = health_card_profile(sm_writes=False)
    assert plain.ddf1.ef("EF06").sm is Protection.NONE and plain.ddf1.ef("EF06").type_byte == 0x2C
    atr = PROFILE.atr.build(bytes(range(8)))
    assert atr[5:13] == bytes(range(8)) and PROFILE.atr.card_no(atr) == bytes(range(8))
    assert atr[1] & 0x0F == len(atr) - 4  # T0 counts the historical bytes
    other = AtrLayout(prefix=bytes.fromhex("3B6C00004A"), suffix=b"\x01\x02\x03")
    assert other.card_no(other.build(b"\xaa" * 8)) == b"\xaa" * 8


def test_purse_profile() -> None:
    assert PROFILE.purse is not None
    adf = PROFILE.purse.adf
    assert adf.fid == 0x1001 and adf.ef("EF15").size == 30 and adf.ef("EF15").read == 0xF0
    assert adf.ef("EF18").record_size == 23 and adf.ef("EP").detail_sfi == 0x18
    assert adf.key("tac").key_type == 0x34 and adf.key("tac").key_id == 0
    assert adf.key("purchase").key_id == adf.key("load").key_id == 1
    assert adf.key("PIN").key_type == 0x3A


def test_city_factor() -> None:
    assert city_factor("410400") == bytes.fromhex("3431303030303030")


def test_an_ef_spec_needs_an_ef_structure() -> None:
    """FileType also names DF and key-file bytes (apdu.fmcos); an EF spec refuses them."""
    with pytest.raises(ValueError, match="not an EF structure"):
        EFSpec(0x0015, "EF15", FileType.DF, read=0xF0, write=0xF0, size=30)
    assert EFSpec(0x0015, "EF15", FileType.BINARY, read=0xF0, write=0xF0, size=30).type_byte == 0x28
