"""examples/his_client.py against ``healthcardd --simulate`` started by the test (a separate process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc

from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from healthcard.api import load_demo_person
from tests.daemon.procs import ROOT, healthcardd


def test_his_client_reads_holder_and_round_trips_an_outpatient_record(tmp_path: Path) -> None:
    with healthcardd(tmp_path / "state") as target:
        runs = []
        for department in ("心内科门诊", "儿科门诊"):
            done = subprocess.run(
                [sys.executable, "examples/his_client.py", "--target", target, "--json", "--operator", "dr-li",
                 "--department", department],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout))
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.HealthCardServiceStub(channel)
            card = stub.ReadCard(pb.ReadCardRequest(reader="virtual-0", sections=[cd.CARD_SECTION_OUTPATIENT])).card
    first, second = runs
    person = load_demo_person("zhang-wei")  # the demo card of virtual-0
    assert person.holder is not None and person.clinical is not None and person.clinical.abo == "1"
    assert first["patient"]["name"] == person.holder.name and first["patient"]["card_number"] == person.card_number
    allergies = [f"{a.substance}（{a.reaction}）" for a in (person.allergies or ())[::-1]]  # the card: newest first
    assert first["patient"]["abo"] == "A" and first["patient"]["allergies"] == allergies
    assert first["match"] and second["match"]
    assert first["signature"] == second["signature"] == {"status": "VALID", "signer": "own SAM"}  # signed by the SAM
    assert second["slot"] == first["slot"] + 1  # the next free slot (WS/T 543.3 DF03 index files)
    assert first["read_back"]["217"] == "心内科门诊" and second["read_back"]["217"] == "儿科门诊"
    on_card = {r.slot: dict(r.items) for r in card.outpatient if r.valid}
    assert on_card[second["slot"]][217] == "儿科门诊" and on_card[second["slot"]][213] == "北京协和医院"
    operations = [row["operation"] for row in second["audit"]]
    assert operations == ["ReadCard:outpatient", "AddRecord:outpatient",
                          "ReadCard:allergies,clinical,holder,validity"]  # fmt: skip
    assert all(row["operator"] == "dr-li" and row["outcome"] == "OK" for row in second["audit"])
