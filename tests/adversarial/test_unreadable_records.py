"""Issue #15 item 2: one DF03 record whose bytes do not decode (a torn write, another vendor's layout, a flipped
bit) reads as that slot with status UNREADABLE and its raw bytes, and the other records read normally — in the
card API, the CLI and the daemon's ReadCard. Before, the whole DF03 read failed with DataError and the HIS saw none
of the patient's records.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from healthcard.api import CardData, CardSession, Section, SignatureStatus, open_virtual_session
from healthcard.cli.main import main
from healthcard.codecs import InpatientRecord, OutpatientRecord
from healthcard.cos.card import VirtualCard
from healthcard.image import dumps
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam
from tests.adversarial.test_record_signatures import _Daemons, _put_file, _sam_key

#: Slot 2's bytes: a cn date item holding A/B nibbles (item 66 at offset 80) in an otherwise plausible record.
GARBAGE = b"\xab" * InpatientRecord.LAYOUT.size


def _records(s: CardSession) -> None:
    """Signed records in in-patient slots 1 and 3 and out-patient slot 1, garbage in in-patient slot 2."""
    s.write_visit(InpatientRecord(1, items={64: "北京协和医院", 66: "20250301"}))
    s.write_visit(InpatientRecord(3, items={64: "同仁医院", 66: "20250401"}))
    s.write_visit(OutpatientRecord(1, items={213: "社区卫生服务中心", 215: "20250301093000"}))
    _put_file(s, 2, GARBAGE)


def _check(data: CardData) -> None:
    inpatient, outpatient = data.inpatient, data.outpatient
    assert inpatient is not None and outpatient is not None
    bad = inpatient[1]
    assert (bad.slot, bad.valid, dict(bad.items), bad.raw) == (2, True, {}, GARBAGE)
    assert bad.signature is not None and bad.signature.status is SignatureStatus.UNREADABLE
    assert [r.items[64] for r in (inpatient[0], inpatient[2])] == ["北京协和医院", "同仁医院"]
    for good in (inpatient[0], inpatient[2], outpatient[0]):
        assert good.signature is not None and good.signature.status is SignatureStatus.VALID
    assert not any(r.valid for r in outpatient[1:])


def test_one_garbage_slot_reads_unreadable_and_the_others_normally() -> None:
    card, sam = VirtualCard(new_demo_card().state), VirtualSam()
    with open_virtual_session(card=card, sam=sam) as s:
        _records(s)
        data = s.read_all()
        _check(data)
        doc = data.to_json()
        assert doc["inpatient"][1]["raw"] == GARBAGE.hex().upper()
        assert doc["inpatient"][1]["signature"]["status"] == "unreadable"
        assert "raw" not in doc["inpatient"][0]
        assert s.read_visit(True, 2).raw == GARBAGE  # one slot alone reads the same way
        # written back, the unreadable record would replace the only copy of its bytes: refused, nothing changes
        with pytest.raises(DataError, match="unreadable") as refused:
            s.write(CardData.from_json({"inpatient": doc["inpatient"]}))
        assert refused.value.field == "raw"
        assert s.read_visit(True, 2).raw == GARBAGE
        # the slot can be written anew: a fresh record replaces the damaged one
        s.write_visit(InpatientRecord(2, items={64: "积水潭医院"}))
        again = s.read({Section.INPATIENT}).inpatient
        assert again is not None and again[1].items[64] == "积水潭医院" and not again[1].raw


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=InpatientRecord.LAYOUT.size, max_size=InpatientRecord.LAYOUT.size))
def test_any_bytes_decode_or_raise_data_error(raw: bytes) -> None:
    """What the reader relies on: a slot's bytes give a record or DataError, nothing else."""
    try:
        record = InpatientRecord.from_bytes(1, raw, 0)
    except DataError:
        return
    assert record.slot == 1 and record.valid


def test_cli_shows_the_unreadable_slot_among_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert main(["read", "--section", "holder"]) == 0  # makes the demo card and SAM in the state directory
    state = tmp_path / "healthcard"
    with open_virtual_session(state / "demo-card.json", state / "demo-sam.json", sam_pin="123456") as s:
        _records(s)
    capsys.readouterr()
    assert main(["read", "--section", "inpatient", "--section", "outpatient", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["slot"], r["signature"]["status"]) for r in doc["inpatient"]] == [
        (1, "valid"), (2, "unreadable"), (3, "valid")]  # fmt: skip
    assert doc["inpatient"][1]["raw"] == GARBAGE.hex().upper() and doc["inpatient"][1]["items"] == {}
    assert doc["inpatient"][2]["items"]["item_064"] == "同仁医院"
    assert doc["outpatient"][0]["signature"]["status"] == "valid"
    assert main(["read", "--section", "inpatient"]) == 0
    text = capsys.readouterr().out
    assert "记录无法解析 (unreadable)" in text and f"{len(GARBAGE)} 字节原始数据" in text
    assert text.count("签名有效 (valid)") == 2
    # the document read back into write --file is refused (exit 2 or 1 with the reason), the card keeps its bytes
    (tmp_path / "back.json").write_text(json.dumps({"inpatient": doc["inpatient"]}, ensure_ascii=False), "utf-8")
    assert main(["write", "--file", str(tmp_path / "back.json")]) != 0
    assert "unreadable" in capsys.readouterr().err
    with open_virtual_session(state / "demo-card.json", state / "demo-sam.json", sam_pin="123456") as s:
        assert s.read_visit(True, 2).raw == GARBAGE


def test_daemon_read_card_answers_the_unreadable_slot_and_the_others(tmp_path: Path) -> None:
    card, sam = VirtualCard(new_demo_card().state), VirtualSam()
    with open_virtual_session(card=card, sam=sam) as s:
        _records(s)
    cards = tmp_path / "state" / "cards"
    cards.mkdir(parents=True)
    (cards / "virtual-0.json").write_text(dumps(card.state), encoding="utf-8")  # the reader's card
    daemons = _Daemons(tmp_path / "state")
    try:
        stub = daemons.start((("医院A", _sam_key(sam).hex()),))
        sections = [cd.CARD_SECTION_INPATIENT, cd.CARD_SECTION_OUTPATIENT]
        answer = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card
        statuses = [(v.slot, v.valid, v.signature_status) for v in answer.inpatient]
        assert statuses == [(1, True, cd.SIGNATURE_STATUS_VALID), (2, True, cd.SIGNATURE_STATUS_UNREADABLE),
                            (3, True, cd.SIGNATURE_STATUS_VALID)]  # fmt: skip
        bad = answer.inpatient[1]
        assert bytes.fromhex(bad.raw) == GARBAGE and not bad.items and bad.signer == ""
        assert answer.inpatient[2].items[64] == "同仁医院" and answer.inpatient[0].raw == ""
        assert answer.outpatient[0].signature_status == cd.SIGNATURE_STATUS_VALID
        assert answer.outpatient[0].signer == "医院A"
        # the answer sent back as a write: refused, and the slot keeps its bytes
        back = cd.CardData(inpatient=answer.inpatient)
        with pytest.raises(grpc.RpcError) as refused:
            stub.WriteCard(pb.WriteCardRequest(reader="virtual-0", card=back, sections=[cd.CARD_SECTION_INPATIENT]))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "unreadable" in (refused.value.details() or "")
        again = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=sections)).card
        assert bytes.fromhex(again.inpatient[1].raw) == GARBAGE
    finally:
        daemons.stop()
