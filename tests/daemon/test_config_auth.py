"""Configuration safety rules, bearer-token auth over gRPC, JSON logs with request ids, the CLI refusal."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, ConfigError, Secret, TokenConfig, load_config
from daemon.logs import bind_request_id, configure_logging
from daemon.server import Daemon

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "k" * 24


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "192.168.1.10:50051", "[::]:50051"])
def test_non_loopback_without_tls_and_token_is_refused(listen: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(listen=listen, simulate=True).validate()
    assert "tls" in info.value.message and "tokens" in info.value.message and info.value.field == "listen"


def test_loopback_defaults_are_accepted() -> None:
    assert Config(simulate=True).validate().listen == "127.0.0.1:50051"
    assert Config(listen="[::1]:1234", simulate=True).validate()


def test_toml_config_secrets_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(
        'listen = "127.0.0.1:6000"\nsimulate = true\n[sam]\npin_env = "PIN_VAR"\n'
        '[[tokens]]\nname = "kiosk"\ntoken_env = "TOK"\nroles = ["kiosk"]\n'
        '[[readers]]\nname = "R0"\nsam_reader = "S0"\n',
        encoding="utf-8",
    )
    config = load_config(path, env={"PIN_VAR": "123456", "TOK": TOKEN}).validate()
    assert config.sam_pin == Secret("123456") and config.tokens[0].name == "kiosk"
    assert "123456" not in repr(config) and TOKEN not in repr(config)
    with pytest.raises(ConfigError, match="PIN_VAR"):
        load_config(path, env={"TOK": TOKEN})
    path.write_text('lisen = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown configuration keys: lisen"):
        load_config(path)


def test_cli_refuses_unsafe_listen_with_exit_code_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemon.main", "--simulate", "--listen", "0.0.0.0:50999"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0:50999" in result.stderr


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Daemon]:
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path, simulate=True,
                    tokens=(TokenConfig("kiosk-1", Secret(TOKEN), roles=("kiosk", "auditor")),)).validate()  # fmt: skip
    d = Daemon(config)
    d.start()
    yield d
    d.stop(grace=5)


def test_token_required_and_identity_audited(secured: Daemon) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured.port}") as ch:
        stub = pb_grpc.HealthCardServiceStub(ch)
        for metadata in ((), (("authorization", "Bearer wrong-token-000000"),)):
            with pytest.raises(grpc.RpcError) as info:
                stub.ListReaders(pb.ListReadersRequest(), metadata=metadata)
            err: Any = info.value
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(ch)  # health checking stays open
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        auth = (("authorization", f"Bearer {TOKEN}"),)
        stub.Debit(pb.DebitRequest(reader="virtual-0", amount_fen=1, request_id="t1"), metadata=auth)
        events = stub.ListAuditEvents(pb.ListAuditEventsRequest(), metadata=auth).events
        assert events[0].client == "token:kiosk-1"


def test_json_logs_carry_the_request_id_and_mask_secrets() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)
    try:
        with bind_request_id("req-42"):
            logging.getLogger("healthcardd.test").info("debit done", extra={"reader": "virtual-0", "sam_pin": "1"})
        logging.getLogger("healthcardd.test").info("outside")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["request_id"], first["reader"], first["sam_pin"]) == ("req-42", "virtual-0", "***")
    assert second["request_id"] == "-"
