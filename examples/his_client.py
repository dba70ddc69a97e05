"""A hospital information system (HIS) client talking to healthcardd: read the holder, write and read back an
out-patient record.

1. ReadCard — holder (ID number masked on screen), phone, blood group and allergies: what a doctor's station
   shows when the patient hands over the card (every read of personal data lands in the daemon's audit trail).
2. AddRecord — an out-patient visit (门诊信息, DF03/ED01..ED05) written into the slot the card's rule picks (first
   free, else the oldest; WS/T 543.3 DF03 index files) and signed (SM2) by the reader's SAM. The names of the ED items
   are not public (WS/T 543.3 DF03 items): this example uses item 213 (70 an) for the institution, 215 (7 cn) for
   the visit time and 217 (50 an) for the department — a local convention, as every HIS vendor has one.
3. ReadCard — the out-patient records, to check that the slot holds exactly what was written, and the record's
   signature as the daemon checked it against its trust list (VALID, signer "own SAM").
4. ListAuditEvents — the audit rows this session produced (time, client, operator, operation, outcome).

    python examples/his_client.py [--target 127.0.0.1:50051] [--reader virtual-0] [--operator dr-wang]
                                  [--institution 北京协和医院] [--department 心内科门诊] [--json]

Runs against ``healthcardd --simulate``; exit code 0 when the record read back equals the one written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid
from typing import Any

import grpc

from apdu.redact import mask_id  # the project's one masking function (110105********0030)
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc

INSTITUTION, VISIT_TIME, DEPARTMENT = 213, 215, 217  # ED items (local convention, see the module docstring)
ABO = {"1": "A", "2": "B", "3": "O", "4": "AB"}


def read_patient(stub: pb_grpc.HealthCardServiceStub, reader: str, operator: str) -> dict[str, Any]:
    """Holder, phone, blood group and allergies of the card in ``reader``."""
    sections = [cd.CARD_SECTION_HOLDER, cd.CARD_SECTION_VALIDITY, cd.CARD_SECTION_CLINICAL,
                cd.CARD_SECTION_ALLERGIES]  # fmt: skip
    card = stub.ReadCard(pb.ReadCardRequest(reader=reader, sections=sections, operator_id=operator)).card
    return {
        "card_number": card.card_number,
        "name": card.holder.name,
        "id_number": card.holder.id_number,
        "birth_date": card.holder.birth_date,
        "phone": card.validity.phone1,
        "abo": ABO.get(card.clinical.abo, "?"),
        "allergies": [f"{a.substance}（{a.reaction}）" for a in card.allergies],
    }


def add_outpatient(stub: pb_grpc.HealthCardServiceStub, reader: str, operator: str, items: dict[int, str]) -> int:
    """Write an out-patient record; returns the slot the card's rule picked.

    With a request id: if the answer is lost (deadline, connection), the same request is sent again and the daemon
    answers the first write's slot (``replayed``) instead of writing a second record.
    """
    request = pb.AddRecordRequest(reader=reader, kind=cd.VISIT_KIND_OUTPATIENT, items=items, operator_id=operator,
                                  request_id=f"his-{uuid.uuid4().hex}")  # fmt: skip
    for attempt in range(3):
        try:
            return int(stub.AddRecord(request, timeout=30).slot)
        except grpc.RpcError as exc:
            err: Any = exc
            if attempt == 2 or dict(err.trailing_metadata() or ()).get("healthcard-error-reason"):
                raise  # the daemon's own answer is final; none means the answer was lost on the way
    raise AssertionError("unreachable")


def read_outpatient(
    stub: pb_grpc.HealthCardServiceStub, reader: str, operator: str, slot: int
) -> tuple[dict[int, str], dict[str, str]]:
    """The items of out-patient record ``slot`` as read back from the card (empty if the slot is not valid) and
    its signature as the daemon checked it (status: VALID, UNTRUSTED, INVALID or UNSIGNED; the signer's name)."""
    card = stub.ReadCard(
        pb.ReadCardRequest(reader=reader, sections=[cd.CARD_SECTION_OUTPATIENT], operator_id=operator)
    ).card
    for record in card.outpatient:
        if record.slot == slot and record.valid:
            status = cd.SignatureStatus.Name(record.signature_status).removeprefix("SIGNATURE_STATUS_")
            return dict(record.items), {"status": status, "signer": record.signer}
    return {}, {}


def run(stub: pb_grpc.HealthCardServiceStub, args: argparse.Namespace) -> dict[str, Any]:
    """The whole HIS session; returns what it saw (the test checks it)."""
    patient = read_patient(stub, args.reader, args.operator)
    visit_time = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    written = {INSTITUTION: args.institution, VISIT_TIME: visit_time, DEPARTMENT: args.department}
    slot = add_outpatient(stub, args.reader, args.operator, written)
    read_back, signature = read_outpatient(stub, args.reader, args.operator, slot)
    audit = [
        {"operation": e.operation, "outcome": e.outcome, "operator": e.operator_id, "client": e.client}
        for e in stub.ListAuditEvents(pb.ListAuditEventsRequest(page_size=3)).events
    ]
    return {
        "patient": patient,
        "slot": slot,
        "written": {str(k): v for k, v in written.items()},
        "read_back": {str(k): read_back.get(k, "") for k in written},
        "match": all(read_back.get(k) == v for k, v in written.items()),
        "signature": signature,
        "audit": audit,
    }


def show(result: dict[str, Any]) -> None:
    """Print the session for a person at the counter."""
    p = result["patient"]
    print("[1] 患者信息 / Patient")
    print(f"    {p['name']}   身份证 ID {mask_id(p['id_number'])}   出生 {p['birth_date']}   电话 {p['phone']}")
    print(f"    血型 ABO {p['abo']}   过敏 Allergies: {'; '.join(p['allergies']) or '无 none'}")
    print(f"[2] 写入门诊记录 / Out-patient record written to slot ED0{result['slot']}")
    for item, value in result["written"].items():
        print(f"    item {item}: {value}")
    print("[3] 回读 / Read back: " + ("identical" if result["match"] else f"DIFFERENT {result['read_back']}"))
    sig = result["signature"]
    print(f"    签名 Signature: {sig.get('status', '-')}" + (f" ({sig['signer']})" if sig.get("signer") else ""))
    print("[4] 审计记录 / Audit trail (newest first)")
    for row in result["audit"]:
        print(f"    {row['operation']:<34} {row['outcome']:<4} operator={row['operator']} client={row['client']}")


def main(argv: list[str] | None = None) -> int:
    """Run one HIS session against the daemon."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--reader", default="virtual-0")
    p.add_argument("--operator", default="dr-wang")
    p.add_argument("--institution", default="北京协和医院")
    p.add_argument("--department", default="心内科门诊")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    with grpc.insecure_channel(args.target) as channel:
        try:
            result = run(pb_grpc.HealthCardServiceStub(channel), args)
        except grpc.RpcError as exc:
            err: Any = exc
            reason = dict(err.trailing_metadata() or ()).get("healthcard-error-reason", "")
            print(f"失败 Failed: {err.details()} [{reason or err.code().name}]", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        show(result)
    return 0 if result["match"] else 1


if __name__ == "__main__":
    sys.exit(main())
