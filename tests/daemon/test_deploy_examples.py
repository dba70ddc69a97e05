"""The shipped deployment files (examples/deploy/): healthcardd and healthcard-host accept their sample
configurations, their systemd units start them with those configurations and the state directories they name, and
systemd's own parser (``systemd-analyze verify``) accepts both units."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config import is_loopback, load_config, split_host_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
HEALTHCARDD = Path(sys.executable).parent / "healthcardd"


def test_the_sample_config_is_valid_and_safe() -> None:
    config = load_config(DEPLOY / "healthcardd.toml", env={"HEALTHCARDD_SAM_PIN": "123456"}).validate()
    assert is_loopback(split_host_port(config.listen)[0]) and not config.simulate
    assert config.state_dir == Path("/var/lib/healthcardd") and config.readers
    assert all(r.sam_reader for r in config.readers)
    assert config.sam_pin is not None and config.sam_pin.reveal() == "123456"


def test_healthcardd_check_config_accepts_the_sample_and_names_a_missing_pin(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEALTHCARDD_SAM_PIN"}
    # the sample's /var/lib/healthcardd is the server's (--check-config checks it): a state dir this user may create
    argv = [str(HEALTHCARDD), "--config", str(DEPLOY / "healthcardd.toml"), "--check-config",
            "--state-dir", str(tmp_path / "state")]  # fmt: skip
    ok = subprocess.run(argv, env={**env, "HEALTHCARDD_SAM_PIN": "123456"}, capture_output=True, text=True,
                        timeout=60, check=False)  # fmt: skip
    assert ok.returncode == 0 and "configuration OK" in ok.stdout and "ACS ACR1281" in ok.stdout
    missing = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "HEALTHCARDD_SAM_PIN is not set" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_systemd_unit_runs_the_sample_config() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "healthcardd.service", encoding="utf-8")
    service = unit["Service"]
    config_path = "/etc/healthcardd/healthcardd.toml"
    assert service["ExecStart"].split() == ["/opt/healthcard/.venv/bin/healthcardd", "--config", config_path]
    assert service["ExecStartPre"].split()[1:] == ["--config", config_path, "--check-config"]
    sample = load_config(DEPLOY / "healthcardd.toml", env={"HEALTHCARDD_SAM_PIN": "0"})
    assert Path("/var/lib") / service["StateDirectory"] == sample.state_dir  # systemd creates it for the user
    assert service["StateDirectoryMode"] == "0700"  # private from the start (--check-config accepts 0755 too)
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 45
    assert service["EnvironmentFile"] == "/etc/healthcardd/secrets.env" and service["NoNewPrivileges"] == "true"
    assert unit["Unit"]["After"] == "pcscd.service" and unit["Install"]["WantedBy"] == "multi-user.target"


# --- healthcard-host ------------------------------------------------------------------------------------------

HOST_ENV = {
    "HEALTHCARD_HOST_DATABASE": "postgresql://healthcard_host@db.example:5432/healthcard?sslmode=verify-full",
    "HEALTHCARD_HOST_SAM_PIN": "123456",
    "HOST_TOKEN_KIOSK1": "k" * 32,
    "HOST_TOKEN_COUNTER1": "c" * 32,
    "HOST_TOKEN_MONITOR": "m" * 32,
}


def _host_sample(tmp_path: Path) -> Path:
    """The sample in a folder with (empty) TLS files where its relative paths point."""
    (tmp_path / "tls").mkdir()
    for name in ("host.crt", "host.key"):
        (tmp_path / "tls" / name).write_text("placeholder", encoding="utf-8")
    target = tmp_path / "healthcard-host.toml"
    target.write_text((DEPLOY / "healthcard-host.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return target


def test_the_host_sample_is_valid_keeps_the_keys_in_a_sam_and_is_reachable_only_with_tls(tmp_path: Path) -> None:
    from daemon.host.config import load_host_config  # noqa: PLC0415

    config = load_host_config(_host_sample(tmp_path), env=HOST_ENV).validate()
    assert config.tls is not None and {t.name for t in config.tokens} == {"kiosk-1", "counter-1", "prometheus"}
    assert config.database_url == HOST_ENV["HEALTHCARD_HOST_DATABASE"] and "verify-full" in config.database_url
    assert config.keys.store == "sam" and config.keys.readers and config.keys.pin is not None
    assert is_loopback(split_host_port(config.metrics_listen)[0])


def test_healthcard_host_check_config_accepts_the_sample_and_names_a_missing_pin(tmp_path: Path) -> None:
    argv = [str(Path(sys.executable).parent / "healthcard-host"), "--config", str(_host_sample(tmp_path)),
            "--check-config"]  # fmt: skip
    base = {k: v for k, v in os.environ.items() if k not in HOST_ENV}
    ok = subprocess.run(argv, env={**base, **HOST_ENV}, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "configuration OK" in ok.stdout and "ledger PostgreSQL" in ok.stdout and "keys sam (readers" in ok.stdout
    assert "123456" not in ok.stdout and "healthcard_host@" not in ok.stdout
    env = {**base, **{k: v for k, v in HOST_ENV.items() if k != "HEALTHCARD_HOST_SAM_PIN"}}
    missing = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "HEALTHCARD_HOST_SAM_PIN is not set" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_host_unit_runs_the_sample_hardened() -> None:
    from daemon.host.config import load_host_config  # noqa: PLC0415

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "healthcard-host.service", encoding="utf-8")
    service = unit["Service"]
    config_path = "/etc/healthcard-host/healthcard-host.toml"
    program = service["ExecStart"].split()[0]
    assert service["ExecStart"].split() == [program, "--config", config_path]
    assert service["ExecStartPre"].split() == [program, "--config", config_path, "--check-config"]
    assert Path(program).name == "healthcard-host" and (Path(sys.executable).parent / "healthcard-host").exists()
    sample = load_host_config(DEPLOY / "healthcard-host.toml", env=HOST_ENV)
    assert Path("/var/lib") / service["StateDirectory"] == sample.state_dir
    assert service["EnvironmentFile"] == "/etc/healthcard-host/secrets.env" and service["User"] == "healthcard-host"
    hardening = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
                 "PrivateDevices": "true", "CapabilityBoundingSet": "", "UMask": "0077"}  # fmt: skip
    assert {k: service[k] for k in hardening} == hardening
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 45
    assert "postgresql.service" in unit["Unit"]["After"] and "pcscd.service" in unit["Unit"]["Wants"]


@pytest.mark.parametrize("name", ["healthcardd.service", "healthcard-host.service"])
def test_systemd_analyze_verify_accepts_the_units(name: str, tmp_path: Path) -> None:
    """systemd's own parser: no unknown key, no bad value (ExecStart pointed at this venv, where the scripts are)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (test_the_*_unit_* still check ExecStart)")
    text = (
        (DEPLOY / name)
        .read_text(encoding="utf-8")
        .replace("/opt/healthcard/.venv/bin/", f"{Path(sys.executable).parent}/")
    )
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=120,
                            check=False)  # fmt: skip
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
