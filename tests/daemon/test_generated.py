"""The committed generated code (daemon/_gen) matches protos/, and the protos pass `buf lint`."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon._gen.healthcard.v1 import errors_pb2, healthcard_service_pb2, healthcard_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def _files(base: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(out)], cwd=ROOT, env=env, check=True)
    fresh = _files(out)
    committed = _files(ROOT / "daemon" / "_gen")
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"run scripts/gen_protos.sh: stale {stale}"
    assert filecmp.cmp(out / "__init__.py", ROOT / "daemon" / "_gen" / "__init__.py", shallow=False)


def test_buf_lint_is_clean() -> None:
    buf = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    if buf is None:
        pytest.fail("buf (PyPI buf-bin) is not installed in the venv")
    result = subprocess.run([buf, "lint", "protos"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_modules_import_under_daemon_namespace() -> None:
    assert healthcard_service_pb2.DESCRIPTOR.package == "healthcard.v1"
    assert errors_pb2.ErrorReason.Name(errors_pb2.ERROR_REASON_READER_BUSY) == "ERROR_REASON_READER_BUSY"
    assert hasattr(healthcard_service_pb2_grpc, "HealthCardServiceStub")
    request = healthcard_service_pb2.DebitRequest(reader="virtual-0", amount_fen=500, request_id="r1")
    assert healthcard_service_pb2.DebitRequest.FromString(request.SerializeToString()) == request


def _declared_lower_bound(requirement_prefix: str) -> str:
    """The ``>=`` bound pyproject.toml declares for a requirement starting with ``requirement_prefix``."""
    import tomllib  # noqa: PLC0415

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    for requirement in requirements:
        name, _, spec = requirement.partition(">=")
        if name == requirement_prefix:
            return str(spec.split(",")[0])
    raise AssertionError(f"{requirement_prefix} has no >= bound in pyproject.toml")


def test_declared_runtime_bounds_match_the_generated_code() -> None:
    """Installing the oldest versions pyproject.toml allows must load daemon/_gen (issue #14, packaging)."""
    pb2 = (ROOT / "daemon" / "_gen" / "healthcard" / "v1" / "healthcard_service_pb2.py").read_text(encoding="utf-8")
    grpc_module = (ROOT / "daemon" / "_gen" / "healthcard" / "v1" / "healthcard_service_pb2_grpc.py").read_text(
        encoding="utf-8"
    )
    protobuf_version = pb2.split("# Protobuf Python Version: ", 1)[1].split("\n", 1)[0].strip()
    grpc_version = grpc_module.split("GRPC_GENERATED_VERSION = '", 1)[1].split("'", 1)[0]
    assert _declared_lower_bound("protobuf") == protobuf_version
    assert _declared_lower_bound("grpcio") == grpc_version
    assert _declared_lower_bound("grpcio-tools") == grpc_version
