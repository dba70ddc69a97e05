"""The host keeps for 补卡 only visit records a trusted SAM signed for the card, kind and slot (docs/host.md, "The
holder's data for 补卡"; docs/security.md).

Attack: a node that may upload visit records (any daemon token: the host binds node_id to the token, not the KH)
uploads made-up records for a holder's KH. Were they kept, the counter's SAM would sign them anew onto the
holder's replacement card, where they read VALID. Both ledger backends (the ``ledger_url`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import ConfigError
from daemon.host.config import HostConfig, load_host_config
from daemon.host.db import LedgerDb
from daemon.host.schema import SCHEMA_VERSION, create_schema, schema_version
from daemon.host.server import Host
from daemon.server import Daemon
from healthcard.api import OutpatientRecord
from healthcard.api.writing import visit_digest
from healthcard.codecs.signature import bound_message
from sam.crypto import sm2_generate_private_key, sm2_sign_digest
from tests.host.conftest import trust_kiosk
from tests.host.test_daemon_link import _wait

OLD, NEW = "virtual-0", "virtual-blank"
GENUINE = {213: "北京协和医院", 215: "20261204093000", 217: "心内科门诊"}
MADE_UP = {213: "某某诊所", 215: "20261204100000", 217: "精神科门诊: 长期用药"}


def _uploaded(d: Daemon) -> bool:
    return d.hostlink is not None and d.hostlink.outbox.counts() == (0, 0)


def _upload(kh: str, factor: str, key: str, slot: int, signature: bytes, signer: bytes) -> hpb.UploadedVisitRecord:
    return hpb.UploadedVisitRecord(
        record_key=key, card_number=kh, purse_factor=factor,
        record=cd.VisitRecord(kind=cd.VISIT_KIND_OUTPATIENT, slot=slot, valid=True, items=MADE_UP),
        signature=signature.hex().upper(), signer_key=signer.hex().upper(),
    )  # fmt: skip


def test_forged_missing_and_untrusted_signatures_are_never_copied_at_replacement(
    host: Host, stub: hpb_grpc.HostServiceStub, kiosk: Callable[[str, int], Daemon], tmp_path: Path
) -> None:
    host.credits.wait_s = 0
    a = kiosk("kiosk-a", host.port)
    trust_kiosk(host, tmp_path / "kiosk-a")
    ka = pb_grpc.HealthCardServiceStub(grpc.insecure_channel(f"127.0.0.1:{a.port}"))
    old = ka.ReadCard(pb.ReadCardRequest(reader=OLD, sections=[cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_PURSE])).card
    kh, factor = old.card_number, old.purse.application_serial[-16:]
    _wait(lambda: _uploaded(a) and stub.GetCard(hpb.GetCardRequest(card_number=kh)).card.purse_factor == factor)
    ka.AddRecord(pb.AddRecordRequest(reader=OLD, kind=cd.VISIT_KIND_OUTPATIENT, items=GENUINE, request_id="v1"))
    _wait(lambda: _uploaded(a))
    genuine = stub.GetHolderData(hpb.GetHolderDataRequest(card_number=kh)).visits
    assert [(dict(v.items), v.signature_status) for v in genuine] == [(GENUINE, cd.SIGNATURE_STATUS_VALID)]
    assert genuine[0].signer == "kiosk-a/virtual-0-sam" and len(genuine[0].signer_key) == 128
    trusted_key = bytes.fromhex(genuine[0].signer_key)

    # the attacker's uploads for the holder's KH: each with the made-up content
    data = OutpatientRecord(2, True, MADE_UP).to_bytes()[: OutpatientRecord.LAYOUT.data_size]
    own = sm2_generate_private_key()  # a SAM (or software key) the host does not trust, signing correctly bound
    own_key = own.public_key().to_bytes()
    untrusted = sm2_sign_digest(own, visit_digest(bound_message(kh, "ED", 2, data), own_key))
    forged = [
        _upload(kh, factor, "forged", 2, bytes(range(64)), trusted_key),  # names the trusted key: INVALID
        _upload(kh, factor, "missing", 2, b"", b""),  # an old daemon's row: UNSIGNED
        _upload(kh, factor, "zero", 2, bytes(64), trusted_key),  # all-zero: UNSIGNED
        _upload(kh, factor, "untrusted", 2, untrusted, own_key),  # verifies, but with a key not trusted
        _upload(kh, factor, "other-slot", 3, untrusted, own_key),  # bound to slot 2, uploaded as slot 3
    ]
    forged.append(hpb.UploadedVisitRecord(
        record_key="not-hex", card_number=kh, purse_factor=factor, signature="zz", signer_key="04",
        record=cd.VisitRecord(kind=cd.VISIT_KIND_OUTPATIENT, slot=2, valid=True, items=MADE_UP)))  # fmt: skip
    before = host.metrics.visit_signatures.labels(outcome="refused")._value.get()
    reply = stub.UploadVisitRecords(hpb.UploadVisitRecordsRequest(node_id="evil", records=forged))
    assert (reply.recorded, reply.duplicates, reply.untrusted) == (6, 0, 6)  # kept for the audit, never for 补卡
    assert host.metrics.visit_signatures.labels(outcome="refused")._value.get() == before + 6
    statuses = {r["record_key"]: r["signature_status"] for r in host.db.query(
        "SELECT record_key, signature_status FROM visit_records WHERE node_id = 'evil'")}  # fmt: skip
    assert statuses == {"forged": "invalid", "missing": "unsigned", "zero": "unsigned", "untrusted": "untrusted",
                        "other-slot": "invalid", "not-hex": "invalid"}  # fmt: skip
    kept = stub.GetHolderData(hpb.GetHolderDataRequest(card_number=kh)).visits
    assert [dict(v.items) for v in kept] == [GENUINE]

    # 补卡 at the counter (as examples/counter_client.py does): the new card gets only the genuine record
    ka.IssueCard(pb.IssueCardRequest(reader=NEW, holder=old.holder, card_number=kh, operator_id="desk"), timeout=60)
    for v in kept:
        assert v.signature_status == cd.SIGNATURE_STATUS_VALID
        ka.AddRecord(pb.AddRecordRequest(reader=NEW, kind=v.kind, items=v.items, request_id=f"copy-{v.slot}"))
    copied = ka.ReadCard(pb.ReadCardRequest(reader=NEW, sections=[cd.CARD_SECTION_OUTPATIENT])).card.outpatient
    assert [{k: r.items[k] for k in GENUINE} for r in copied if r.valid] == [GENUINE]
    assert all(r.items.get(217) != MADE_UP[217] for r in copied)


def test_a_version_3_ledger_keeps_its_visit_records_unsigned_after_the_migration(ledger: LedgerDb) -> None:
    """Schema 3 -> 4: records kept before the host checked signatures read ``unsigned`` (never returned for 补卡)."""
    with ledger.transaction() as cur:  # the version-3 table, with one record kept before the check
        cur.execute("DROP TABLE visit_records")
        cur.execute(
            "CREATE TABLE visit_records (record_id INTEGER PRIMARY KEY, node_id TEXT NOT NULL,"
            " record_key TEXT NOT NULL, card_number TEXT NOT NULL, purse_factor TEXT NOT NULL, kind TEXT NOT NULL,"
            " slot BIGINT NOT NULL,"
            " items TEXT NOT NULL, received_at TEXT NOT NULL, UNIQUE (node_id, record_key))"
        )
        cur.execute(
            "INSERT INTO visit_records VALUES (1, 'n', 'k', '110101199002030018', 'F', 'outpatient', 1, '{}', 't')"
        )
        cur.execute("UPDATE host_meta SET value = '3' WHERE key = 'schema_version'")
    create_schema(ledger)
    assert schema_version(ledger) == SCHEMA_VERSION == 4
    rows = ledger.query("SELECT record_key, signature, signer_key, signature_status FROM visit_records")
    assert [(r["record_key"], r["signature"], r["signer_key"], r["signature_status"]) for r in rows] == [
        ("k", "", "", "unsigned")
    ]


def test_the_host_config_reads_trusted_signers_with_the_daemons_rules(tmp_path: Path) -> None:
    key = sm2_generate_private_key().public_key().to_bytes().hex().upper()
    (tmp_path / "h.toml").write_text(f'[trusted_signers]\n"医院A kiosk 3" = "{key}"\n', encoding="utf-8")
    config = load_host_config(tmp_path / "h.toml").validate()
    assert [(name, k.hex().upper()) for name, k in config.trust_list()] == [("医院A kiosk 3", key)]
    assert len(HostConfig().validate().trust_list()) == 0  # default: trusts no SAM, returns no visit record
    (tmp_path / "h.toml").write_text('[trusted_signers]\n"医院A" = "04"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="trusted_signers"):
        load_host_config(tmp_path / "h.toml").validate()
