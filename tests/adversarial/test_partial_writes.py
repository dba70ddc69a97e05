"""Issue #11 item 4: a partial write must merge into what the card holds, never wipe the rest of the section.

The attack (a careless HIS or counter clerk): write only ``validity.phone2`` or only ``holder.name`` through each
write path — the card API, ``healthcard write --file`` (a subprocess, as staff run it), the daemon's WriteCard and
the DLL's ``iW_`` functions — and check that the card's other fields survived. Clearing a field is explicit
(``clear`` / ``clear_fields`` / an empty DLL parameter); a clear that would break the section (the required name)
is refused and changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from apdu.errors import DataError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from healthcard.api import CardData, CardSession, Section, open_virtual_session
from healthcard.api.dllcompat import IRV, HealthCardDll
from healthcard.codecs import Holder, Validity
from healthcard.cos.card import VirtualCard
from healthcard.image import dumps, loads
from healthcard.virtual import new_demo_card
from tests.daemon.inprocess import daemon_stub, running_daemon, simulated_config

ROOT = Path(__file__).resolve().parents[2]
PHONE2 = "010-88886666"


@pytest.fixture(scope="module")
def demo_image() -> str:
    return dumps(new_demo_card().state)


@pytest.fixture
def session(demo_image: str) -> Iterator[CardSession]:
    with open_virtual_session(card=VirtualCard(loads(demo_image))) as s:
        yield s


def _card(s: CardSession) -> CardData:
    return s.read({Section.HOLDER, Section.VALIDITY})


def _assert_only_phone2_changed(before: CardData, after: CardData) -> None:
    assert before.validity is not None and before.validity.expiry_date is not None and before.validity.phone1
    assert after.validity == before.validity.replace(phone2=PHONE2)


def _assert_only_name_changed(before: CardData, after: CardData, name: str = "李娜") -> None:
    assert before.holder is not None and before.holder.gender and before.holder.birth_date and before.holder.id_number
    assert after.holder == before.holder.replace(name=name)


# --- the card API ------------------------------------------------------------------------------------------------


def test_api_write_of_only_phone2_keeps_expiry_and_phone1(session: CardSession) -> None:
    before = _card(session)
    session.write(CardData(validity=Validity(phone2=PHONE2)))
    _assert_only_phone2_changed(before, _card(session))


def test_api_write_of_only_holder_name_keeps_gender_birth_date_and_id(session: CardSession) -> None:
    before = _card(session)
    session.write(CardData(holder=Holder(name="李娜")))
    _assert_only_name_changed(before, _card(session))


def test_api_update_from_json_and_explicit_clear(session: CardSession) -> None:
    before = _card(session)
    assert session.update({"validity": {"phone2": PHONE2}, "clear": ["validity.phone1"]}) == (Section.VALIDITY,)
    assert before.validity is not None
    assert _card(session).validity == before.validity.replace(phone2=PHONE2, phone1=None)


def test_api_clear_of_a_required_field_is_refused_and_changes_nothing(session: CardSession) -> None:
    before = _card(session)
    with pytest.raises(DataError, match="XM"):
        session.update({"validity": {"phone2": PHONE2}, "holder": {}, "clear": ["holder.name"]})
    with pytest.raises(DataError, match="both given and cleared"):
        session.update({"validity": {"phone2": PHONE2}, "clear": ["validity.phone2"]})
    with pytest.raises(DataError, match="no field"):
        session.update({"clear": ["validity.phone9"]})
    assert _card(session) == before


# --- the DLL's iW_ functions -------------------------------------------------------------------------------------


def test_dll_iw_with_one_parameter_keeps_the_others(session: CardSession) -> None:
    before = _card(session)
    dll = HealthCardDll(session)
    assert dll.iW_DDF1EF08Info(BRDH2=PHONE2) == IRV.OK
    _assert_only_phone2_changed(before, _card(session))
    assert dll.iW_DDF1EF06Info(XM="李娜".encode("gbk")) == IRV.OK
    _assert_only_name_changed(before, _card(session))
    assert dll.iW_DDF1EF08Info(BRDH1="") == IRV.OK  # an empty parameter erases
    assert before.validity is not None
    assert _card(session).validity == before.validity.replace(phone2=PHONE2, phone1=None)


# --- healthcard write --file, as a subprocess ---------------------------------------------------------------------


def _cli(state: Path, *argv: str) -> dict[str, Any]:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    done = subprocess.run([sys.executable, "-m", "healthcard.cli.main", *argv, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_cli_write_file_merges_and_clears(tmp_path: Path) -> None:
    before = _cli(tmp_path, "read", "--section", "holder,validity")
    assert before["validity"]["expiry_date"] and before["validity"]["phone1"] and before["holder"]["gender"]
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"validity": {"phone2": PHONE2}, "holder": {"name": "李娜"}}), encoding="utf-8")
    assert _cli(tmp_path, "write", "--file", str(change)) == {"written": ["holder", "validity"]}
    after = _cli(tmp_path, "read", "--section", "holder,validity")
    assert after["validity"] == {**before["validity"], "phone2": PHONE2}
    assert after["holder"] == {**before["holder"], "name": "李娜"}
    change.write_text(json.dumps({"clear": ["validity.phone1"]}), encoding="utf-8")
    assert _cli(tmp_path, "write", "--file", str(change)) == {"written": ["validity"]}
    cleared = _cli(tmp_path, "read", "--section", "validity")["validity"]
    assert cleared == {k: v for k, v in after["validity"].items() if k != "phone1"}


# --- the daemon's WriteCard --------------------------------------------------------------------------------------


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[pb_grpc.HealthCardServiceStub]:
    config = simulated_config(tmp_path / "state", queue_timeout_s=5.0)
    with running_daemon(config) as daemon, daemon_stub(daemon) as client:
        yield client


def _read(stub: pb_grpc.HealthCardServiceStub) -> cd.CardData:
    sections = [cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_VALIDITY]
    return stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card


def test_daemon_write_card_merges_and_clears(stub: pb_grpc.HealthCardServiceStub) -> None:
    before = _read(stub)
    assert before.validity.expiry_date and before.validity.phone1 and before.holder.birth_date
    stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=cd.CardData(validity=cd.Validity(phone2=PHONE2)),
                                       sections=[cd.CARD_SECTION_VALIDITY]))  # fmt: skip
    stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=cd.CardData(holder=cd.Holder(name="李娜")),
                                       sections=[cd.CARD_SECTION_HOLDER]))  # fmt: skip
    after = _read(stub)
    expected = cd.CardData()
    expected.CopyFrom(before)
    expected.validity.phone2 = PHONE2
    expected.holder.name = "李娜"
    assert after == expected
    stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_VALIDITY],
                                       clear_fields=["validity.phone1"]))  # fmt: skip
    expected.validity.ClearField("phone1")
    assert _read(stub) == expected


def test_daemon_refuses_a_bad_clear_and_changes_nothing(stub: pb_grpc.HealthCardServiceStub) -> None:
    before = _read(stub)
    for sections, clear in (([cd.CARD_SECTION_VALIDITY], ["holder.name"]),  # section not listed
                            ([cd.CARD_SECTION_HOLDER], ["holder.name"]),  # a required field
                            ([cd.CARD_SECTION_VALIDITY], ["validity.nothing"])):  # fmt: skip
        with pytest.raises(grpc.RpcError) as info:
            stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", sections=sections, clear_fields=clear))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _read(stub) == before


def test_daemon_clears_by_the_section_names_of_the_cli_and_api(stub: pb_grpc.HealthCardServiceStub) -> None:
    """``clear_fields`` takes ``clinical.asthma`` as ``healthcard write --clear`` does (the former proto name too)."""
    sections = [cd.CARD_SECTION_CLINICAL]
    for clear in ("clinical.asthma", "clinical_flags.asthma"):
        stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=cd.CardData(clinical=cd.ClinicalFlags(asthma=True)),
                                           sections=sections))  # fmt: skip
        assert stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card.clinical.asthma
        reply = stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", sections=sections, clear_fields=[clear]))
        assert list(reply.sections) == sections
        assert not stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card.clinical.asthma


def test_daemon_writes_listed_visit_records_into_their_slots(stub: pb_grpc.HealthCardServiceStub) -> None:
    items = {213: "北京协和医院", 215: "20261204093000", 217: "心内科门诊"}
    record = cd.VisitRecord(kind=cd.VISIT_KIND_OUTPATIENT, slot=4, valid=True, items=items)
    sections = [cd.CARD_SECTION_OUTPATIENT]
    reply = stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=cd.CardData(outpatient=[record]),
                                               sections=sections))  # fmt: skip
    assert list(reply.sections) == sections
    card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card
    slot = {r.slot: r for r in card.outpatient}[4]
    assert slot.valid and slot.kind == cd.VISIT_KIND_OUTPATIENT and dict(slot.items)[217] == "心内科门诊"
    assert slot.signature_status == cd.SIGNATURE_STATUS_VALID and not card.inpatient
