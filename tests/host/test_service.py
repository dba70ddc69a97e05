"""HostService over gRPC on both ledger backends: registry RPCs, errors, the blacklist stream, health."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from daemon._gen.healthcard.host.v1 import host_service_pb2 as pb
from daemon._gen.healthcard.host.v1 import host_service_pb2_grpc as pb_grpc
from daemon._gen.healthcard.v1 import card_data_pb2 as cd
from daemon._gen.healthcard.v1 import errors_pb2
from daemon.config import ConfigError, Secret, TokenConfig
from daemon.errors import DETAILS_KEY, REASON_KEY
from daemon.host.config import HostConfig, load_host_config
from daemon.host.main import main
from daemon.host.server import Host
from daemon.logs import JsonFormatter

CARD = "110105198506150030"


def _register(stub: pb_grpc.HostServiceStub, number: str = CARD) -> pb.RegisterCardResponse:
    reply: pb.RegisterCardResponse = stub.RegisterCard(
        pb.RegisterCardRequest(
            card_number=number, masked_id="110105********0030", institution="H001", purse_factor="3CB6BF9E00C2C9EA",
            opening_balance_fen=10000, operator_id="issuer-1",
        )
    )  # fmt: skip
    return reply


def _reason(error: grpc.RpcError) -> tuple[str, errors_pb2.ErrorDetails]:
    err: Any = error
    meta: dict[str, Any] = {key: value for key, value in err.trailing_metadata() or ()}
    return str(meta[REASON_KEY]), errors_pb2.ErrorDetails.FromString(meta[DETAILS_KEY])


def test_register_get_and_history(stub: pb_grpc.HostServiceStub) -> None:
    first = _register(stub)
    assert first.created and first.card.status == pb.CARD_STATUS_ISSUED and not first.card.listed
    assert not _register(stub).created
    stub.ReportLost(pb.ReportLostRequest(card_number=CARD, operator_id="counter-2", reason="holder phoned"))
    got = stub.GetCard(pb.GetCardRequest(card_number=CARD))
    assert got.card.status == pb.CARD_STATUS_LOST and got.card.listed
    assert [(h.to_status, h.operator_id, h.reason) for h in got.history] == [
        (pb.CARD_STATUS_ISSUED, "issuer-1", "registered"),
        (pb.CARD_STATUS_LOST, "counter-2", "holder phoned"),
    ]
    assert got.history[1].client.startswith("peer:") and got.history[1].changed_at.seconds > 0


def test_failures_carry_reason_and_details(stub: pb_grpc.HostServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetCard(pb.GetCardRequest(card_number="UNKNOWN1"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert _reason(info.value)[0] == "CARD_NOT_REGISTERED"
    _register(stub)
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportFound(pb.ReportFoundRequest(card_number=CARD, operator_id="op", reason="r"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(info.value)[0] == "CARD_STATUS_CONFLICT"
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportLost(pb.ReportLostRequest(card_number=CARD, operator_id="op", reason=""))
    name, details = _reason(info.value)
    assert (name, details.field, info.value.code()) == ("INVALID_ARGUMENT", "reason", grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterCard(pb.RegisterCardRequest(
            card_number="C9", masked_id="110105198506150030", institution="H", purse_factor="00" * 8, operator_id="o"
        ))  # fmt: skip
    assert _reason(info.value)[1].field == "masked_id"


def test_blacklist_stream_delivers_a_loss_within_seconds_and_resumes(stub: pb_grpc.HostServiceStub) -> None:
    _register(stub)
    _register(stub, "C2")
    got: queue.Queue[pb.WatchBlacklistResponse] = queue.Queue()
    stream: Any = stub.WatchBlacklist(pb.WatchBlacklistRequest(since_version=0))

    def pump() -> None:
        try:
            for item in stream:
                got.put(item)
        except grpc.RpcError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(0.3)
    started = time.monotonic()
    stub.ReportLost(pb.ReportLostRequest(card_number=CARD, operator_id="op", reason="lost"))
    first = got.get(timeout=5)
    assert time.monotonic() - started < 2.0
    assert (first.version, first.card_number, first.listed, first.status) == (1, CARD, True, pb.CARD_STATUS_LOST)
    stub.ReportLost(pb.ReportLostRequest(card_number="C2", operator_id="op", reason="lost"))
    stub.ReportFound(pb.ReportFoundRequest(card_number=CARD, operator_id="op", reason="found"))
    assert [(i.version, i.card_number, i.listed) for i in (got.get(timeout=5), got.get(timeout=5))] == [
        (2, "C2", True),
        (3, CARD, False),
    ]
    stream.cancel()
    resumed: Any = stub.WatchBlacklist(pb.WatchBlacklistRequest(since_version=1), timeout=10)
    assert [next(resumed).version, next(resumed).version] == [2, 3]
    resumed.cancel()


def test_health_serving(host: Host) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="healthcard.host.v1.HostService")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_tokens_are_required_when_configured(tmp_path: Path) -> None:
    token = "t" * 20
    counter = "c" * 20
    tokens = (TokenConfig("desk", Secret(token), roles=("daemon",)), TokenConfig("ctr", Secret(counter), ("counter",)))
    config = HostConfig(listen="127.0.0.1:0", state_dir=tmp_path, tokens=tokens).validate()
    host = Host(config)
    host.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = pb_grpc.HostServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetCard(pb.GetCardRequest(card_number="X"))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            _ = stub.RegisterCard(
                pb.RegisterCardRequest(card_number="X1", masked_id="1*1", institution="H", purse_factor="00" * 8,
                                       operator_id="o"),
                metadata=(("authorization", f"Bearer {token}"),),
            )  # fmt: skip
            reply = stub.GetCard(pb.GetCardRequest(card_number="X1"), metadata=(("authorization", f"Bearer {token}"),))
            assert reply.history[0].client == "token:desk"
            lost = pb.ReportLostRequest(card_number="X1", operator_id="o", reason="r")
            with pytest.raises(grpc.RpcError) as info:  # a daemon's token may not report a card lost
                stub.ReportLost(lost, metadata=(("authorization", f"Bearer {token}"),))
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert (
                stub.GetCard(
                    pb.GetCardRequest(card_number="X1"), metadata=(("authorization", f"Bearer {token}"),)
                ).card.status
                == pb.CARD_STATUS_ISSUED
            )
            reply_lost = stub.ReportLost(lost, metadata=(("authorization", f"Bearer {counter}"),))
            assert reply_lost.card.listed
    finally:
        host.stop(grace=1)


def test_config_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        HostConfig(listen="0.0.0.0:50061").validate()
    with pytest.raises(ConfigError, match=r"unknown role\(s\) cashier"):  # a daemon role is not a host role
        HostConfig(tokens=(TokenConfig("x", Secret("y" * 20), roles=("cashier",)),)).validate()
    with pytest.raises(ConfigError, match="needs roles"):
        HostConfig(tokens=(TokenConfig("x", Secret("y" * 20), roles=()),)).validate()
    conf = tmp_path / "host.toml"
    conf.write_text('listen = "127.0.0.1:0"\ndatabase_env = "HOST_DB"\n', encoding="utf-8")
    loaded = load_host_config(conf, env={"HOST_DB": "postgresql://u:secret@db/x"})
    assert loaded.database_url == "postgresql://u:secret@db/x" and "secret" not in repr(loaded)
    assert HostConfig(state_dir=tmp_path).database_url == str(tmp_path / "host.db")
    conf.write_text("bogus = 1\n", encoding="utf-8")
    assert main(["--config", str(conf)], environ={}) == 2
    assert main(["--listen", "0.0.0.0:1"], environ={}) == 2
    assert main(["--database-env", "MISSING"], environ={}) == 2


def test_console_script_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    import re  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    exe = Path(sys.executable).parent / "healthcard-host"
    proc = subprocess.Popen(
        [str(exe), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path), "--log-format", "text"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # keep reading stderr so the host never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not port:
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", lines.get(timeout=60))
            port = int(found.group(1)) if found else 0
        assert port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert not _register(pb_grpc.HostServiceStub(channel)).card.listed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert (tmp_path / "host.db").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_settlement_and_audit_rpcs(host: Host, stub: pb_grpc.HostServiceStub) -> None:
    _register(stub)
    day = stub.GetSettlement(pb.GetSettlementRequest(
        business_date="2026-12-04", declared=[pb.DeclaredCash(operator_id="c9", amount_fen=100)]))  # fmt: skip
    assert list(day.groups) == [] and [(c.operator_id, c.difference_fen) for c in day.cash] == [("c9", 100)]
    assert day.csv.startswith("business_date,dimension,key,kind") and '"total_loads_fen": 0' in day.json
    with pytest.raises(grpc.RpcError) as info:
        stub.GetSettlement(pb.GetSettlementRequest(business_date="yesterday"))
    assert _reason(info.value)[1].field == "business_date"
    report = stub.GetAuditReport(pb.GetAuditReportRequest())
    assert list(report.findings) == [] and report.counts["TAC_FAILED"] == 0 and report.ran_at.seconds > 0
    host.audit.run_once()
    assert host.metrics.registry.get_sample_value("healthcard_host_audit_findings", {"kind": "DEAD_ACCOUNT"}) == 0


def test_holder_data_is_kept_for_the_card_office_and_only_the_issuer_reads_it(
    ledger_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon registers a card it issued with the holder's data; only an issuer (or admin) token reads it back
    (personal data), a kiosk's or counter's token cannot, and the host logs none of it."""
    kiosk, counter, office = "k" * 20, "c" * 20, "o" * 20
    tokens = (TokenConfig("kiosk", Secret(kiosk), roles=("daemon",)), TokenConfig("ctr", Secret(counter), ("counter",)),
              TokenConfig("office", Secret(office), ("issuer",)))  # fmt: skip
    config = HostConfig(listen="127.0.0.1:0", state_dir=tmp_path, database=Secret(ledger_url), tokens=tokens)
    host = Host(config.validate())
    host.start()
    kh = "110101199002030018"
    holder = cd.Holder(name="李雷", gender="1", ethnicity="01", birth_date="1990-02-03", id_number=kh)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel, caplog.at_level("DEBUG"):
            stub = pb_grpc.HostServiceStub(channel)

            def auth(token: str) -> tuple[tuple[str, str]]:
                return (("authorization", f"Bearer {token}"),)

            stub.RegisterCard(pb.RegisterCardRequest(
                card_number=kh, masked_id="110101********0018", institution="H", purse_factor="01" * 8,
                operator_id="kiosk-1", observed=True, holder=holder), metadata=auth(kiosk))  # fmt: skip
            for token in (kiosk, counter):
                with pytest.raises(grpc.RpcError) as info:
                    stub.GetHolderData(pb.GetHolderDataRequest(card_number=kh), metadata=auth(token))
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            kept = stub.GetHolderData(pb.GetHolderDataRequest(card_number=kh), metadata=auth(office))
            assert kept.holder == holder and kept.updated_by == "token:kiosk"
            with pytest.raises(grpc.RpcError) as info:  # another person's ID number on this KH's card
                stub.RegisterCard(pb.RegisterCardRequest(
                    card_number=kh, masked_id="110101********0018", institution="H", purse_factor="01" * 8,
                    operator_id="kiosk-1", observed=True, holder=cd.Holder(name="X", id_number="1" * 18)),
                    metadata=auth(kiosk))  # fmt: skip
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert stub.GetHolderData(pb.GetHolderDataRequest(card_number=kh), metadata=auth(office)).holder == holder
            with pytest.raises(grpc.RpcError) as info:
                stub.GetHolderData(pb.GetHolderDataRequest(card_number="110101199104050028"), metadata=auth(office))
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        host.stop(grace=1)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)  # as the host writes its log
    assert "card registered" in logged and kh[:6] in logged
    assert "李雷" not in logged and kh not in logged  # the name never, the KH (an ID number) masked


def test_a_daemon_token_speaks_only_for_its_own_node(ledger_url: str, tmp_path: Path) -> None:
    """Attack: kiosk A's token uploads a forged transaction under kiosk B's node id and journal id first. Were it
    accepted, B's real upload of that id would be answered ``duplicate`` and never booked. With tokens, a daemon's
    ``node_id`` must be its token's name (UploadTransactions, UploadVisitRecords, AuthoriseLoad, AuthoriseUnload)."""
    token_a, token_b = "a" * 20, "b" * 20
    tokens = (TokenConfig("kiosk-a", Secret(token_a), roles=("daemon",)),
              TokenConfig("kiosk-b", Secret(token_b), roles=("daemon",)))  # fmt: skip
    config = HostConfig(listen="127.0.0.1:0", state_dir=tmp_path, database=Secret(ledger_url), tokens=tokens)
    host = Host(config.validate())
    host.start()
    forged = pb.UploadedTransaction(
        transaction_id="t-1", kind=pb.TRANSACTION_KIND_DEBIT, card_number="110101199002030018", amount_fen=100,
        balance_before_fen=1000, balance_after_fen=900, card_counter=1, terminal_id="000000000001",
        terminal_serial=1, tac="00000000", card_time="20261204120000", business_date="2026-12-04",
    )  # fmt: skip
    try:
        with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = pb_grpc.HostServiceStub(channel)
            as_a, as_b = (("authorization", f"Bearer {token_a}"),), (("authorization", f"Bearer {token_b}"),)
            refused: list[Callable[[], object]] = [
                lambda: stub.UploadTransactions(
                    pb.UploadTransactionsRequest(node_id="kiosk-b", transactions=[forged]), metadata=as_a),
                lambda: stub.UploadVisitRecords(pb.UploadVisitRecordsRequest(node_id="kiosk-b"), metadata=as_a),
                lambda: stub.AuthoriseLoad(pb.AuthoriseLoadRequest(node_id="kiosk-b"), metadata=as_a),
                lambda: stub.AuthoriseUnload(pb.AuthoriseUnloadRequest(node_id="kiosk-b"), metadata=as_a),
            ]  # fmt: skip
            for call in refused:
                with pytest.raises(grpc.RpcError) as info:
                    call()
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
                reason, details = _reason(info.value)
                assert reason == "PERMISSION_DENIED" and details.field == "node_id"
                assert "for node 'kiosk-a' only, not 'kiosk-b'" in (info.value.details() or "")
            # B's own upload of that journal id is new, not a "duplicate" of A's forgery
            (result,) = stub.UploadTransactions(
                pb.UploadTransactionsRequest(node_id="kiosk-b", transactions=[forged]), metadata=as_b
            ).results
            assert not result.duplicate
    finally:
        host.stop(grace=1)
