"""The shipped deployment files (examples/deploy/): the daemon accepts the sample configuration, and the systemd
unit starts it with that configuration and the state directory the configuration names."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

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


def test_healthcardd_check_config_accepts_the_sample_and_names_a_missing_pin() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEALTHCARDD_SAM_PIN"}
    argv = [str(HEALTHCARDD), "--config", str(DEPLOY / "healthcardd.toml"), "--check-config"]
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
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 45
    assert service["EnvironmentFile"] == "/etc/healthcardd/secrets.env" and service["NoNewPrivileges"] == "true"
    assert unit["Unit"]["After"] == "pcscd.service" and unit["Install"]["WantedBy"] == "multi-user.target"
