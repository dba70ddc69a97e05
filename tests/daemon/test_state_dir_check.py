"""``--check-config`` checks the state directory (harden2 item 3; daemon.config.check_state_dir).

healthcardd and healthcard-host (SQLite ledger) answer exit code 2 with what to change when the daemon's user
could not use or keep private its state directory — not a directory, another user's, not writable — instead of
accepting a configuration the daemon then fails to start with; a missing directory that can be created and one
the daemon will make 0700 are accepted and said so. Nothing is created or changed by the check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import ConfigError, check_state_dir

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = {"healthcardd": ["daemon.main", "--simulate"], "healthcard-host": ["daemon.host.main"]}
NOBODY = 65534


def _check(program: str, state: Path, *, drop_root: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", *PROGRAMS[program], "--check-config", "--state-dir", str(state)]
    if drop_root:  # root without capabilities: no DAC override, as a daemon's own user (test_daemon_bad_input.py)
        command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *command]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def base() -> Iterator[Path]:
    """A 0755 folder outside pytest's 0700 tmp_path (a process without capabilities must reach into it)."""
    path = Path(tempfile.mkdtemp(prefix="harden2-state-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_missing_state_dir_is_accepted_as_to_be_created_and_not_created(program: str, base: Path) -> None:
    result = _check(program, base / "state")
    assert result.returncode == 0, result.stderr
    assert f"{base / 'state'} (will be created, mode 0700)" in result.stdout
    assert not (base / "state").exists()


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_group_readable_state_dir_is_accepted_and_said_to_be_made_private(program: str, base: Path) -> None:
    (base / "state").mkdir(mode=0o755)
    (base / "state").chmod(0o755)
    result = _check(program, base / "state")
    assert result.returncode == 0 and "(exists, mode 755: made 0700 at start-up)" in result.stdout
    assert (base / "state").stat().st_mode & 0o777 == 0o755  # the check changes nothing
    (base / "state").chmod(0o700)
    assert "(exists, owner-only)" in _check(program, base / "state").stdout


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_state_dir_that_is_a_file_is_refused(program: str, base: Path) -> None:
    (base / "state").write_text("", encoding="utf-8")
    result = _check(program, base / "state")
    assert result.returncode == 2 and f"state_dir {str(base / 'state')!r} is not a directory" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
@pytest.mark.parametrize("program", PROGRAMS)
def test_another_users_state_dir_is_refused_even_when_writable(program: str, base: Path) -> None:
    """A world-writable folder of another user: the daemon could write it but never make it private."""
    state = base / "state"
    state.mkdir()
    state.chmod(0o777)
    os.chown(state, NOBODY, NOBODY)
    result = _check(program, state)
    assert result.returncode == 2, result.stdout
    assert f"{str(state)!r} belongs to user {NOBODY}, not to the daemon's user 0" in result.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_state_dir_the_daemons_user_cannot_write_is_refused(program: str, base: Path) -> None:
    state = base / "state"
    state.mkdir()
    state.chmod(0o500)
    result = _check(program, state, drop_root=os.geteuid() == 0)
    assert result.returncode == 2, result.stdout
    assert f"{str(state)!r} is not writable by the daemon's user" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_database_file_of_another_user_is_refused(base: Path) -> None:
    (base / "healthcardd.db").write_bytes(b"")
    os.chown(base / "healthcardd.db", NOBODY, NOBODY)
    assert check_state_dir(base, ["other.db"]) == "exists, mode 755: made 0700 at start-up"
    with pytest.raises(ConfigError, match=r"healthcardd\.db' belongs to user 65534") as info:
        check_state_dir(base, ["healthcardd.db"])
    assert info.value.field == "state_dir"


def test_a_missing_state_dir_under_a_file_cannot_be_created(base: Path) -> None:
    (base / "file").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not exist and cannot be created"):
        check_state_dir(base / "file" / "state")
