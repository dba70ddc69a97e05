"""Known-answer vectors copied from ``shared/vectors`` (public sources named in each file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent


def load(name: str) -> dict[str, Any]:
    """The parsed vector file ``name`` (e.g. ``"sm4"``)."""
    data: dict[str, Any] = json.loads((VECTORS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def by_id(name: str, vector_id: str) -> dict[str, Any]:
    """One vector of the file ``name`` by its ``id``."""
    for vector in load(name)["vectors"]:
        if vector["id"] == vector_id:
            found: dict[str, Any] = vector
            return found
    raise KeyError(vector_id)
