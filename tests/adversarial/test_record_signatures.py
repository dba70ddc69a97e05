"""Issue #11 item 5: DF03 visit records are signed on every write path and verified against a trust list.

Attacks: AddRecord over gRPC wrote unsigned records although its proto says signed; a record signed by one
institution's SAM did not verify at another's. Here: every path (card API, CLI, daemon AddRecord, DLL) signs;
a record signed by SAM A reads VALID (signer named) at a session / daemon with SAM B that trusts A, UNTRUSTED when
A is not in the list; a changed data byte reads INVALID; a record signed by an attacker's own SAM reads UNTRUSTED,
and naming a trusted key in it only makes it INVALID — never VALID; an old record without signature reads
UNSIGNED.

Issue #15 (docs/decisions.md D14): a signed record copied onto another card, moved into another slot or kept on a
card whose KH was edited reads INVALID, never VALID; records signed the old way (data area only) read UNBOUND,
never VALID; no changed byte of a bound record (data, signature, signer item) reads VALID. One record whose bytes
do not decode reads UNREADABLE with its raw bytes while the other slots read normally (API, CLI, daemon).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.errors import DataError
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, ConfigError, load_config
from daemon.server import Daemon
from healthcard.api import (
    CardSession,
    RecordSignature,
    Section,
    SignatureStatus,
    TrustList,
    open_virtual_session,
    writing,
)
from healthcard.api.dllcompat import IRV, STYLE_AN, HealthCardDll
from healthcard.api.signatures import check_area, check_visit
from healthcard.cli.main import main
from healthcard.codecs import InpatientRecord, OutpatientRecord
from healthcard.codecs.signature import SIGNATURE_SIZE, SIGNER_BLOCK_SIZE, bound_message, encode_signer_block
from healthcard.cos.card import VirtualCard
from healthcard.image import dumps, loads
from healthcard.virtual import new_demo_card
from sam.crypto import sm2_load_private_key, sm2_sign_digest
from sam.virtual import VirtualSam
from sam.virtual.image import load_sam_image

VISIT = {64: "北京协和医院", 66: "20250301"}


@pytest.fixture(scope="module")
def demo_image() -> str:
    return dumps(new_demo_card().state)


def _sam_key(sam: VirtualSam) -> bytes:
    return sm2_load_private_key(sam.image.sm2_private_key).public_key().to_bytes()


def _first_visit(s: CardSession) -> InpatientRecord:
    records = s.read({Section.INPATIENT}).inpatient
    assert records is not None and records[0].valid
    return records[0]


def _write_signature_items(s: CardSession, items: bytes) -> None:
    """Write the 254 bytes after EE01's data area as a writer holding the DF03 update key could."""
    ef = s.access.df("DF03").ef("EE01")
    s.access.ensure("DF03", ef.write, "UK_DF03_1")
    writing._update_binary(s.access, ef, items, offset=InpatientRecord.LAYOUT.data_size)


def _status(s: CardSession) -> RecordSignature:
    signature = _first_visit(s).signature
    assert signature is not None
    return signature


# --- the card API: cross-institution trust ----------------------------------------------------------------------


def test_record_signed_by_sam_a_verifies_at_sam_b_only_when_trusted(demo_image: str) -> None:
    card = VirtualCard(loads(demo_image))
    sam_a, sam_b = VirtualSam(), VirtualSam()
    key_a = _sam_key(sam_a)
    with open_virtual_session(card=card, sam=sam_a) as s:
        assert s.add_visit(InpatientRecord(1, items=VISIT)) == 1  # no explicit sign: add_visit signs
        assert _status(s) == RecordSignature(SignatureStatus.VALID, "own SAM", key_a)
    with open_virtual_session(card=card, sam=sam_b, trusted_signers={"市第一人民医院": key_a.hex()}) as s:
        assert _status(s) == RecordSignature(SignatureStatus.VALID, "市第一人民医院", key_a)
        assert s.read_all().to_json()["inpatient"][0]["signature"]["status"] == "valid"
    with open_virtual_session(card=card, sam=sam_b) as s:
        assert _status(s) == RecordSignature(SignatureStatus.UNTRUSTED, "", key_a)


def test_a_changed_data_byte_reads_invalid(session_pair: tuple[VirtualCard, VirtualSam, bytes]) -> None:
    card, sam_a, key_a = session_pair
    with open_virtual_session(card=card, sam=sam_a) as s:
        record = _first_visit(s)
        changed = InpatientRecord(1, True, {**record.items, 64: "伪造医院"})
        writing.write_visit_area(s.access, changed)  # the data area only: a writer that does not re-sign
    _reads_invalid_at_a_and_elsewhere(card, sam_a, key_a)


def _reads_invalid_at_a_and_elsewhere(card: VirtualCard, sam_a: VirtualSam, key_a: bytes) -> None:
    """The card's first in-patient record reads INVALID, naming A's key, at A and at a SAM B that trusts A."""
    for sam, trusted in ((sam_a, {}), (VirtualSam(), {"A": key_a})):
        with open_virtual_session(card=card, sam=sam, trusted_signers=trusted) as s:
            assert _status(s) == RecordSignature(SignatureStatus.INVALID, "", key_a)


def test_a_record_signed_by_an_untrusted_key_is_never_valid(
    session_pair: tuple[VirtualCard, VirtualSam, bytes],
) -> None:
    card, sam_a, key_a = session_pair
    rogue = sm2_load_private_key(bytes(31) + b"\x07")
    rogue_key = rogue.public_key().to_bytes()
    with open_virtual_session(card=card, sam=sam_a) as s:
        record = _first_visit(s)
        data = record.to_bytes()[: record.LAYOUT.data_size]
        message = bound_message(s.card_number, "EE", 1, data)  # the attacker binds it properly
        signature = sm2_sign_digest(rogue, writing.visit_digest(message, rogue_key))
        for named in (rogue_key, key_a):  # the rogue key named honestly, then a trusted key claimed
            _write_signature_items(s, signature + encode_signer_block(named))
            status = _status(s)
            assert status.status is (SignatureStatus.UNTRUSTED if named == rogue_key else SignatureStatus.INVALID)
            assert status.signer == "" and status.signer_key == named
        # an attacker's signature without a named signer: no trusted key verifies it
        _write_signature_items(s, signature + b"\xff" * 190)
        assert _status(s) == RecordSignature(SignatureStatus.UNTRUSTED)


def test_an_old_unsigned_record_reads_unsigned_and_old_signed_ones_read_unbound(demo_image: str) -> None:
    card, sam = VirtualCard(loads(demo_image)), VirtualSam()
    with open_virtual_session(card=card, sam=sam) as s:
        writing.write_visit_area(s.access, InpatientRecord(1, items=VISIT))  # as records were written before
        writing.mark_visit_valid(s.access, True, 1)
        assert _status(s) == RecordSignature(SignatureStatus.UNSIGNED)
        assert s.sam is not None
        own = s.sam.sm2_public_key()
        data = _first_visit(s).to_bytes()[: InpatientRecord.LAYOUT.data_size]
        signature = s.sam.sm2_sign_digest(writing.visit_digest(data, own))  # over the data area alone
        # signed the old way: signature ‖ SAM certificate (names no key) -> verified by trying the trusted keys
        _write_signature_items(s, signature + s.sam.certificate())
        assert _status(s) == RecordSignature(SignatureStatus.UNBOUND, "own SAM", own)
        # signed as issue #11 did: the key named, format 00 (data area only)
        _write_signature_items(s, signature + encode_signer_block(own, bound=False))
        assert _status(s) == RecordSignature(SignatureStatus.UNBOUND, "own SAM", own)
        # the old signature with the bound marker claimed: INVALID, and a bound signature marked old: INVALID
        _write_signature_items(s, signature + encode_signer_block(own))
        assert _status(s) == RecordSignature(SignatureStatus.INVALID, "", own)
        bound = s.sam.sm2_sign_digest(writing.visit_digest(bound_message(s.card_number, "EE", 1, data), own))
        _write_signature_items(s, bound + encode_signer_block(own, bound=False))
        assert _status(s) == RecordSignature(SignatureStatus.INVALID, "", own)
        _write_signature_items(s, bound + encode_signer_block(own))
        assert _status(s) == RecordSignature(SignatureStatus.VALID, "own SAM", own)
    # an old-format record copied onto another card still verifies over its data area: UNBOUND, never VALID
    with open_virtual_session(card=card, sam=sam) as s:
        _write_signature_items(s, signature + encode_signer_block(own, bound=False))
        old_format = _first_visit(s).to_bytes()
    other = _card_with_number(demo_image, OTHER_KH)
    with open_virtual_session(card=other, sam=sam) as s:
        _put_file(s, 2, old_format)
        assert _visit_status(s, 2) == RecordSignature(SignatureStatus.UNBOUND, "own SAM", own)


# --- issue #15: signatures bound to the card number and the slot (docs/decisions.md D14) -------------------------

OTHER_KH = "110105199001011237"


def _card_with_number(image: str, card_number: str) -> VirtualCard:
    """A copy of the demo card whose KH (DDF1/EF05 tag 08) is ``card_number`` (written with the issuer's key)."""
    card = VirtualCard(loads(image))
    with open_virtual_session(card=card) as s:
        s.update({"issuer": {"card_number": card_number}})
        assert s.card_number == card_number
    return card


def _put_file(s: CardSession, slot: int, raw: bytes) -> None:
    """Write a whole EE file (data, signature, signer item) into ``slot`` and mark it valid, as a writer holding
    the DF03 update key could: the copy an attacker makes of another card's record."""
    ef = s.access.df("DF03").ef(f"EE{slot:02d}")
    s.access.ensure("DF03", ef.write, "UK_DF03_1")
    writing._update_binary(s.access, ef, raw)
    writing.mark_visit_valid(s.access, True, slot)


def _visit_status(s: CardSession, slot: int) -> RecordSignature:
    records = s.read({Section.INPATIENT}).inpatient
    assert records is not None
    signature = records[slot - 1].signature
    assert signature is not None
    return signature


def test_a_signed_record_copied_onto_another_card_is_not_valid(
    demo_image: str, session_pair: tuple[VirtualCard, VirtualSam, bytes]
) -> None:
    card_a, sam_a, key_a = session_pair
    with open_virtual_session(card=card_a, sam=sam_a) as s:
        copied = _first_visit(s).to_bytes()
        assert _status(s).status is SignatureStatus.VALID
    card_b = _card_with_number(demo_image, OTHER_KH)
    with open_virtual_session(card=card_b, sam=sam_a) as s:  # the same hospital's SAM, patient B's card
        _put_file(s, 1, copied)
        assert _first_visit(s).items == InpatientRecord.from_bytes(1, copied, 0).items  # the copy is exact
    _reads_invalid_at_a_and_elsewhere(card_b, sam_a, key_a)


def test_the_binding_is_to_the_card_number_not_the_chip(session_pair: tuple[VirtualCard, VirtualSam, bytes]) -> None:
    """D14: the holder's replacement card (补卡) has the same KH and a new chip; a record of his, in its slot, reads
    VALID there (the counter re-signs its copies anyway: tests/host/test_replacement.py)."""
    card, sam_a, key_a = session_pair
    with open_virtual_session(card=card, sam=sam_a) as s:
        raw, kh, chip = _first_visit(s).to_bytes(), s.card_number, s.chip_number
    replacement = VirtualCard(new_demo_card(card_no=bytes.fromhex("0102030405060708")).state)
    with open_virtual_session(card=replacement, sam=sam_a) as s:
        assert (s.card_number, s.chip_number) == (kh, "0102030405060708") and chip != s.chip_number
        _put_file(s, 1, raw)
        assert _status(s) == RecordSignature(SignatureStatus.VALID, "own SAM", key_a)


def test_a_signed_record_moved_to_another_slot_is_not_valid(
    session_pair: tuple[VirtualCard, VirtualSam, bytes],
) -> None:
    card, sam_a, key_a = session_pair
    with open_virtual_session(card=card, sam=sam_a) as s:
        raw = _first_visit(s).to_bytes()
        for slot in (2, 3):
            _put_file(s, slot, raw)
            assert _visit_status(s, slot) == RecordSignature(SignatureStatus.INVALID, "", key_a)
        assert _visit_status(s, 1) == RecordSignature(SignatureStatus.VALID, "own SAM", key_a)
        assert not s.verify_visit(s.read_visit(True, 2))


def test_a_record_on_a_card_whose_number_was_edited_is_invalid(
    session_pair: tuple[VirtualCard, VirtualSam, bytes],
) -> None:
    card, sam_a, key_a = session_pair
    with open_virtual_session(card=card, sam=sam_a) as s:
        kh = s.card_number
        s.update({"issuer": {"card_number": OTHER_KH}})
        assert _status(s) == RecordSignature(SignatureStatus.INVALID, "", key_a)
        s.update({"issuer": {"card_number": kh}})  # the card's own number again: it was the number, nothing else
        assert _status(s) == RecordSignature(SignatureStatus.VALID, "own SAM", key_a)


def test_signing_a_card_without_a_number_is_refused_before_anything_is_written(demo_image: str) -> None:
    card = VirtualCard(loads(demo_image))
    with open_virtual_session(card=card) as s:
        s.access.card_number = ""  # as read from a card whose DDF1/EF05 holds no KH
        with pytest.raises(DataError, match="card number"):
            s.add_visit(InpatientRecord(1, items=VISIT))
        s.access.card_number = None
        assert s.read({Section.INPATIENT}).inpatient == tuple(InpatientRecord(n, valid=False) for n in (1, 2, 3))


@pytest.fixture
def session_pair(demo_image: str) -> tuple[VirtualCard, VirtualSam, bytes]:
    """A card with an in-patient record signed by SAM A in slot 1, SAM A and its key."""
    card, sam_a = VirtualCard(loads(demo_image)), VirtualSam()
    with open_virtual_session(card=card, sam=sam_a) as s:
        s.add_visit(InpatientRecord(1, items=VISIT))
    return card, sam_a, _sam_key(sam_a)


@pytest.fixture(scope="module")
def signed_record(demo_image: str) -> tuple[InpatientRecord, TrustList, str]:
    """A record signed by a SAM in slot 1 (as read from the card), a trust list holding that SAM's key, the KH."""
    card, sam = VirtualCard(loads(demo_image)), VirtualSam()
    with open_virtual_session(card=card, sam=sam) as s:
        s.add_visit(InpatientRecord(1, items=VISIT))
        return _first_visit(s), TrustList({"A": _sam_key(sam)}), s.card_number


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_no_changed_byte_of_a_bound_record_reads_valid(
    signed_record: tuple[InpatientRecord, TrustList, str], data: st.DataObject
) -> None:
    record, trust, kh = signed_record
    layout = record.LAYOUT
    assert check_visit(record, trust, kh).status is SignatureStatus.VALID
    raw = bytearray(record.to_bytes())
    size = layout.data_size + SIGNATURE_SIZE + SIGNER_BLOCK_SIZE
    assert len(raw) == size
    position = data.draw(st.integers(0, size - 1), label="position")  # data area, signature or signer item
    raw[position] ^= data.draw(st.integers(1, 255), label="xor")
    assert check_area(bytes(raw), layout, 1, kh, trust).status in (SignatureStatus.INVALID, SignatureStatus.UNTRUSTED)
    # the unchanged record in another slot or under another KH
    slot = data.draw(st.integers(2, 3), label="slot")
    assert check_area(record.to_bytes(), layout, slot, kh, trust).status is SignatureStatus.INVALID
    other = data.draw(st.text(st.characters(codec="ascii"), min_size=1, max_size=20).filter(lambda t: t != kh))
    assert check_area(record.to_bytes(), layout, 1, other, trust).status is SignatureStatus.INVALID


def test_trust_list_refuses_what_is_not_a_key() -> None:
    good = sm2_load_private_key(bytes(31) + b"\x05").public_key().to_bytes()
    assert [name for name, _ in TrustList({"A": good, "A again": good.hex()})] == ["A"]
    for bad in ("zz", bytes(64).hex(), good.hex()[:-2]):  # not hex, not a curve point, too short
        with pytest.raises(DataError, match="'B'"):
            TrustList({"A": good, "B": bad})
    with pytest.raises(ConfigError, match="trusted_signers"):
        Config(simulate=True, trusted_signers=(("A", "00" * 64),)).validate()


# --- the DLL and the CLI sign too ------------------------------------------------------------------------------


def test_dll_writes_are_signed(demo_image: str) -> None:
    with open_virtual_session(card=VirtualCard(loads(demo_image))) as s:
        dll = HealthCardDll(s)
        slot = dll.iReader_GetLastEEIndex()
        assert dll.iW_DF03EEInfo(slot, "北京协和医院", 0, 70, STYLE_AN) == IRV.OK
        assert dll.iW_DF03EF05Info(slot) == IRV.OK  # marking the record valid signs it
        assert _status(s).status is SignatureStatus.VALID
        assert dll.iW_DF03EEInfo(slot, "同仁医院", 0, 70, STYLE_AN) == IRV.OK  # a valid record changed: re-signed
        assert _first_visit(s).items[64] == "同仁医院"
        assert _status(s).status is SignatureStatus.VALID


def test_cli_write_file_signs_visit_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    doc = {"outpatient": [OutpatientRecord(2, items={213: "社区卫生服务中心", 215: "20250301093000"}).to_json()]}
    (tmp_path / "visit.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert main(["write", "--file", str(tmp_path / "visit.json")]) == 0
    capsys.readouterr()
    assert main(["read", "--section", "outpatient", "--json"]) == 0
    slot = json.loads(capsys.readouterr().out)["outpatient"][1]
    assert slot["valid"] and slot["signature"]["status"] == "valid" and slot["signature"]["signer"] == "own SAM"


# --- the daemon: AddRecord signs, ReadCard reports, trusted_signers across institutions ---------------------------


class _Daemons:
    """Starts and stops the simulated daemon on one state directory (a card moves between its readers' images)."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.daemon: Daemon | None = None
        self.channel: grpc.Channel | None = None

    def start(self, trusted: tuple[tuple[str, str], ...] = ()) -> pb_grpc.HealthCardServiceStub:
        self.stop()
        config = Config(listen="127.0.0.1:0", state_dir=self.state, simulate=True, poll_interval_s=0.05,
                        queue_timeout_s=5.0, trusted_signers=trusted).validate()  # fmt: skip
        self.daemon = Daemon(config)
        self.daemon.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.daemon.port}")
        grpc.channel_ready_future(self.channel).result(timeout=10)
        return pb_grpc.HealthCardServiceStub(self.channel)

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.daemon is not None:
            self.daemon.stop(grace=5)  # folds each card's commit log into its image
            self.daemon = None


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[_Daemons]:
    d = _Daemons(tmp_path / "state")
    yield d
    d.stop()


def _visit(stub: pb_grpc.HealthCardServiceStub, reader: str) -> cd.VisitRecord:
    card = stub.ReadCard(pb.ReadCardRequest(reader=reader, sections=[cd.CARD_SECTION_INPATIENT])).card
    valid = [v for v in card.inpatient if v.valid]
    assert len(valid) == 1
    return valid[0]


def test_add_record_over_grpc_is_signed_and_verifies_across_institutions(daemons: _Daemons) -> None:
    stub = daemons.start()
    reply = stub.AddRecord(pb.AddRecordRequest(reader="virtual-0", kind=cd.VISIT_KIND_INPATIENT, items=VISIT))
    record = _visit(stub, "virtual-0")
    assert record.slot == reply.slot and record.items[211] != "00" * 64
    assert record.signature_status == cd.SIGNATURE_STATUS_VALID and record.signer == "own SAM"
    cards = daemons.state / "cards"
    sam_a = load_sam_image(cards / "virtual-0-sam.json")
    key_a = sm2_load_private_key(sam_a.sm2_private_key).public_key().to_bytes().hex().upper()
    assert record.signer_key == key_a
    # the card goes to another institution: reader virtual-1 with its own SAM B
    daemons.stop()
    for old in cards.glob("virtual-1.json*"):
        old.unlink()
    shutil.copy(cards / "virtual-0.json", cards / "virtual-1.json")
    stub = daemons.start((("市第一人民医院", key_a),))
    record = _visit(stub, "virtual-1")
    assert (record.signature_status, record.signer, record.signer_key) == (
        cd.SIGNATURE_STATUS_VALID, "市第一人民医院", key_a)  # fmt: skip
    stub = daemons.start()
    record = _visit(stub, "virtual-1")
    assert (record.signature_status, record.signer, record.signer_key) == (cd.SIGNATURE_STATUS_UNTRUSTED, "", key_a)


def test_config_file_trusted_signers(tmp_path: Path) -> None:
    key = sm2_load_private_key(bytes(31) + b"\x05").public_key().to_bytes().hex()
    (tmp_path / "d.toml").write_text(f'simulate = true\n[trusted_signers]\n"医院A" = "04{key}"\n', encoding="utf-8")
    config = load_config(tmp_path / "d.toml").validate()
    assert [name for name, _ in config.trust_list()] == ["医院A"]
    (tmp_path / "d.toml").write_text('simulate = true\n[trusted_signers]\n"医院A" = "04"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="医院A"):
        load_config(tmp_path / "d.toml").validate()
