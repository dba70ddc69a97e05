"""Issue #11 item 10: roles per token, the metrics listener's exposure rules, PINs outside the process list.

Attacks: a kiosk's token used to top up a purse, settle a transaction by hand or read the audit trail; every
role tried against every RPC; a metrics exporter on 0.0.0.0 without TLS or token; PINs read from ``ps``.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb
from daemon._gen.healthcard.v1 import healthcard_service_pb2_grpc as pb_grpc
from daemon.config import Config, ConfigError, Secret, TokenConfig
from daemon.roles import HEALTHCARD_POLICY, KNOWN_ROLES, method_name
from daemon.server import SERVICE_NAME, Daemon
from healthcard.cli.pins import PURSE_PIN, resolve_pin
from tests.adversarial.conftest import reason, rpc_error

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("kiosk", "cashier", "clinician", "issuer", "auditor", "monitor", "admin")

# Which roles may call each RPC: written out here, independently of daemon/roles.py (docs/security.md).
EXPECTED = {
    "ListReaders": {"kiosk", "cashier", "clinician", "issuer", "auditor", "admin"},
    "WatchCards": {"kiosk", "cashier", "clinician", "issuer", "admin"},
    "ReadCard": {"kiosk", "cashier", "clinician", "issuer", "admin"},
    "GetBalance": {"kiosk", "cashier", "admin"},
    "Debit": {"kiosk", "cashier", "admin"},
    "Load": {"cashier", "admin"},
    "Unload": {"cashier", "admin"},  # 圈提 pays cash out of the till: the counter's cashier only
    "AddRecord": {"clinician", "admin"},
    "WriteCard": {"issuer", "admin"},
    "IssueCard": {"issuer", "admin"},
    "ListTransactions": {"cashier", "auditor", "admin"},
    "GetReconciliationReport": {"cashier", "auditor", "admin"},
    "ListAuditEvents": {"auditor", "admin"},
    "SettleTransaction": {"admin"},
}


def _token(role: str) -> str:
    return f"{role}-token-0123456789abcdef"


def _auth(role: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {_token(role)}"),)


@pytest.fixture(scope="module")
def roles_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tokens = tuple(TokenConfig(f"{r}-1", Secret(_token(r)), roles=(r,)) for r in ROLES)
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path_factory.mktemp("roles"), simulate=True,
                    poll_interval_s=0.05, tokens=tokens, metrics_listen="127.0.0.1:0").validate()  # fmt: skip
    d = Daemon(config)
    d.start()
    yield d
    d.stop(grace=5)


@pytest.fixture(scope="module")
def stub(roles_daemon: Daemon) -> Iterator[pb_grpc.HealthCardServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{roles_daemon.port}") as ch:
        yield pb_grpc.HealthCardServiceStub(ch)


def test_the_policy_names_every_rpc_of_the_service() -> None:
    service = pb.DESCRIPTOR.services_by_name["HealthCardService"]
    assert set(EXPECTED) == {m.name for m in service.methods}
    for name, roles in EXPECTED.items():
        assert HEALTHCARD_POLICY[method_name(SERVICE_NAME, name)] == roles, name
    assert set(ROLES) == KNOWN_ROLES


def test_a_kiosk_token_cannot_load_unload_settle_or_read_the_audit(stub: pb_grpc.HealthCardServiceStub) -> None:
    kiosk = _auth("kiosk")
    attempts = {
        "Load": lambda: stub.Load(pb.LoadRequest(reader="virtual-0", amount_fen=100_000, request_id="k-load"),
                                  metadata=kiosk),
        "Unload": lambda: stub.Unload(pb.UnloadRequest(reader="virtual-0", amount_fen=1, request_id="k-unload",
                                                       operator_id="kiosk"), metadata=kiosk),
        "SettleTransaction": lambda: stub.SettleTransaction(
            pb.SettleTransactionRequest(transaction_id="0" * 32, outcome=pb.TRANSACTION_STATE_VOIDED,
                                        operator_id="kiosk", reason="x"), metadata=kiosk),
        "ListAuditEvents": lambda: stub.ListAuditEvents(pb.ListAuditEventsRequest(), metadata=kiosk),
    }  # fmt: skip
    for name, attempt in attempts.items():
        err = rpc_error(attempt)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, name
        assert reason(err) == "PERMISSION_DENIED", name
        assert "kiosk-1" in err.details() and _token("kiosk") not in err.details()
    balance = stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0"), metadata=kiosk).balance_fen
    assert balance == stub.GetBalance(pb.GetBalanceRequest(reader="virtual-0"), metadata=_auth("cashier")).balance_fen
    # the refusals are in the audit trail, with the token's name
    events = stub.ListAuditEvents(pb.ListAuditEventsRequest(page_size=50), metadata=_auth("auditor")).events
    refused = {(e.client, e.operation, e.outcome) for e in events}
    for name in attempts:
        assert ("token:kiosk-1", f"Refused:{name}", "PERMISSION_DENIED") in refused


def _call_with_bad_arguments(stub: pb_grpc.HealthCardServiceStub, name: str, metadata: Any) -> None:
    """Call ``name`` with a request that passes no validation (nothing changes), or that only reads."""
    if name == "WatchCards":
        for _ in stub.WatchCards(pb.WatchCardsRequest(after_event_id=-1), metadata=metadata, timeout=5):
            pass
        return
    request_type = getattr(pb, f"{name}Request")
    getattr(stub, name)(request_type(), metadata=metadata, timeout=10)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_rpcs(stub: pb_grpc.HealthCardServiceStub, role: str) -> None:
    for name, roles in EXPECTED.items():
        try:
            _call_with_bad_arguments(stub, name, _auth(role))
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        if role in roles:
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (role, name, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (role, name, code)


def test_health_stays_open_and_unknown_tokens_are_unauthenticated(roles_daemon: Daemon) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{roles_daemon.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        stub = pb_grpc.HealthCardServiceStub(ch)
        err = rpc_error(lambda: stub.ListReaders(pb.ListReadersRequest(), metadata=(("authorization", "Bearer x"),)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and reason(err) == "UNAUTHENTICATED"


def test_tokens_without_roles_or_with_unknown_roles_are_refused_at_start_up() -> None:
    for roles, words in (((), "needs roles"), (("kiosk", "superuser"), r"unknown role\(s\) superuser")):
        with pytest.raises(ConfigError, match=words):
            Config(simulate=True, tokens=(TokenConfig("t", Secret("x" * 20), roles=roles),)).validate()


# --- metrics_listen ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "[::]:9464", "10.1.2.3:9464"])
def test_metrics_on_a_network_address_without_tls_or_token_is_refused(address: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(simulate=True, metrics_listen=address).validate()
    assert info.value.field == "metrics_listen" and "tls" in info.value.message and "tokens" in info.value.message
    token = TokenConfig("m", Secret("m" * 20), roles=("monitor",))
    with pytest.raises(ConfigError, match=r"\[tls\]"):
        Config(simulate=True, metrics_listen=address, tokens=(token,)).validate()


def test_healthcardd_exits_2_for_metrics_on_0_0_0_0_without_tls() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemon.main", "--simulate", "--metrics-listen", "0.0.0.0:59464"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0:59464 (metrics_listen)" in result.stderr
    assert "Traceback" not in result.stderr


def _scrape(port: int, role: str | None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if role is not None:
        request.add_header("Authorization", f"Bearer {_token(role)}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            assert b"healthcardd_rpcs_total" in body
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_need_a_monitor_or_admin_token_when_tokens_are_configured(roles_daemon: Daemon) -> None:
    port = roles_daemon.metrics_port
    assert _scrape(port, None) == 401
    assert _scrape(port, "kiosk") == 403
    assert _scrape(port, "monitor") == 200
    assert _scrape(port, "admin") == 200


# --- PINs for the healthcard CLI ----------------------------------------------------------------------------


def _cli(state: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "XDG_STATE_HOME": str(state), **(env or {})}
    if env is None or "HEALTHCARD_PIN" not in env:
        full_env.pop("HEALTHCARD_PIN", None)
    return subprocess.run(
        [sys.executable, "-m", "healthcard.cli.main", *argv], cwd=ROOT, env=full_env, capture_output=True,
        text=True, check=False, timeout=120,
    )  # fmt: skip


def test_purse_pin_from_the_environment(tmp_path: Path) -> None:
    wrong = _cli(tmp_path, "load", "--amount", "100", env={"HEALTHCARD_PIN": "654321"})
    assert wrong.returncode == 1 and "63C" in wrong.stderr  # the card counted a wrong PIN: the variable was used
    right = _cli(tmp_path, "load", "--amount", "100", "--json", env={"HEALTHCARD_PIN": "123456"})
    assert right.returncode == 0, right.stderr


def test_purse_pin_from_a_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("654321\n", encoding="utf-8")
    pin_file.chmod(0o644)
    shared = _cli(tmp_path, "load", "--amount", "100", "--pin-file", str(pin_file))
    assert shared.returncode == 1 and "chmod 600" in shared.stderr
    pin_file.chmod(0o600)
    wrong = _cli(tmp_path, "load", "--amount", "100", "--pin-file", str(pin_file))
    assert wrong.returncode == 1 and "63C" in wrong.stderr
    pin_file.write_text("123456\n", encoding="utf-8")
    right = _cli(tmp_path, "load", "--amount", "100", "--pin-file", str(pin_file), env={"HEALTHCARD_PIN": "999999"})
    assert right.returncode == 0, right.stderr  # an explicit source beats the environment


def test_two_explicit_pin_sources_are_refused(tmp_path: Path) -> None:
    result = _cli(tmp_path, "load", "--amount", "100", "--pin", "123456", "--pin-prompt")
    assert result.returncode == 1 and "only once" in result.stderr


def _cli_on_a_terminal(state: Path, answer: str, *argv: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal; type ``answer`` at the prompt."""
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    env.pop("HEALTHCARD_PIN", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "healthcard.cli.main", *argv], env)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"PIN: " in output:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_purse_pin_from_an_interactive_prompt_is_not_echoed(tmp_path: Path) -> None:
    code, output = _cli_on_a_terminal(tmp_path, "123456", "load", "--amount", "100", "--pin-prompt", "--json")
    assert code == 0, output
    assert "cardholder purse PIN: " in output and "123456" not in output  # getpass: not echoed
    code, output = _cli_on_a_terminal(tmp_path, "654321", "load", "--amount", "100", "--pin-prompt")
    assert code == 1 and "63C" in output


def test_resolve_pin_precedence() -> None:
    import argparse  # noqa: PLC0415

    def args(**kw: Any) -> argparse.Namespace:
        return argparse.Namespace(pin=None, pin_file=None, pin_prompt=False, **kw)

    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "2222"

    env = {"HEALTHCARD_PIN": "1111"}
    assert resolve_pin(args(), PURSE_PIN, environ=env, prompt=prompt) == "1111"
    assert resolve_pin(args(), PURSE_PIN, environ={}, prompt=prompt) is None
    ns = args()
    ns.pin_prompt = True
    assert resolve_pin(ns, PURSE_PIN, environ=env, prompt=prompt) == "2222" and asked == ["cardholder purse PIN: "]
    ns = args()
    ns.pin = "3333"
    assert resolve_pin(ns, PURSE_PIN, environ=env, prompt=prompt) == "3333"


def test_traced_commands_take_their_pins_from_the_same_sources(tmp_path: Path) -> None:
    wrong = _cli(tmp_path, "trace", "load", "--amount", "100", env={"HEALTHCARD_PIN": "654321"})
    assert wrong.returncode == 1 and "63C" in wrong.stderr
    assert "00 20 00 00 03 ** ** **" in wrong.stderr  # the PIN itself is hidden in the trace
