"""The examples of docs/api.md run (examples/his_quickstart.py) and produce what the guide says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_his_quickstart_runs() -> None:
    spec = importlib.util.spec_from_file_location("his_quickstart", ROOT / "examples" / "his_quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main()
    assert out["name"] == "张伟"
    assert out["json_keys"][:3] == ["card_number", "issuer", "holder"]
    assert out["signed"] is True
    before, after, tac = out["debit"]
    assert before - after == 1_250 and len(tac) == 8
    assert out["recovered"] is True
    assert out["error"] == ("card", "9401", "金额不足")
    assert out["loaded"] == after + 5_000
    assert out["dll"] == (0, "张伟")


def test_api_guide_names_the_quickstart() -> None:
    guide = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert "examples/his_quickstart.py" in guide
    source = (ROOT / "examples" / "his_quickstart.py").read_text(encoding="utf-8")
    for snippet in ("s.read({Section.HOLDER})", "s.debit(", "s.recover_purchase(", "HealthCardDll(s)"):
        assert snippet in source and snippet in guide, snippet
