"""examples/node/debit.js (@grpc/grpc-js + @grpc/proto-loader) against ``healthcardd --simulate``.

``npm ci`` installs the locked dependencies once into a directory named after the lock file's hash (kept
between runs, so later runs are offline and fast); the client finds them through ``NODE_PATH``. Skipped only
when ``node`` is not on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.procs import ROOT, healthcardd

NODE_DIR = ROOT / "examples" / "node"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH (Node.js is optional)")


def _node_modules() -> Path:
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    cache = Path(tempfile.gettempdir()) / f"healthcard-node-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (cache / "node_modules" / "@grpc" / "grpc-js").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not"
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_DIR / name, cache / name)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=cache, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
    return cache / "node_modules"


def _run(target: str, *args: str) -> tuple[int, dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(NODE_DIR / "debit.js"), "--target", target, "--json", *args],
        env={**os.environ, "NODE_PATH": str(_node_modules())}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_node_client_debits_once_and_replays(tmp_path: Path) -> None:
    with healthcardd(tmp_path / "state") as target:
        code, first = _run(target, "--amount", "250", "--request-id", "node-order-1")
        assert code == 0, first
        assert first["replayed_first"] is False and first["replayed_retry"] is True and first["retry_same_tac"]
        assert int(first["balance_fen"]) == int(first["balance_before_fen"]) - 250
        assert len(first["tac"]) == 8 and first["card_number"] == "110105198506150030"
        # a second run with the same request id: replayed from the journal, the card is not debited again
        code, again = _run(target, "--amount", "250", "--request-id", "node-order-1")
        assert (again["tac"], again["balance_fen"]) == (first["tac"], first["balance_fen"])
        assert again["replayed_first"] is True and again["balance_before_fen"] == first["balance_fen"]
        assert code == 1  # balance_before - amount != balance: the script notices it was a replay
        code, bad = _run(target, "--amount", "0")
        assert code == 2 and bad["error"]["code"] == "INVALID_ARGUMENT" and bad["error"]["reason"] == "INVALID_ARGUMENT"
        code, poor = _run(target, "--amount", "99999999")
        assert code == 2 and poor["error"]["reason"] == "INSUFFICIENT_BALANCE"
