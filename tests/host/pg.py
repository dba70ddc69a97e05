"""A PostgreSQL cluster for a test session or a benchmark run: ``HEALTHCARD_TEST_PG_DSN`` when set (scripts/test.sh
exports the DSN of its throwaway cluster), else a throwaway cluster started with scripts/pg_throwaway.sh (initdb
as a non-root user in a temporary directory, a free port) and removed afterwards."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg_throwaway.sh"


class PostgresUnavailableError(RuntimeError):
    """The throwaway cluster did not start; the message carries the script's standard error."""


@contextmanager
def postgres_dsn(prefix: str = "healthcard-pg.") -> Iterator[str]:
    """The DSN of a PostgreSQL cluster for the duration of the ``with`` (module docstring)."""
    dsn = os.environ.get("HEALTHCARD_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    workdir = tempfile.mkdtemp(prefix=prefix)
    try:
        started = subprocess.run(["bash", str(SCRIPT), "start", workdir], capture_output=True, text=True, check=False)
        if started.returncode != 0:
            raise PostgresUnavailableError(started.stderr)
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", workdir], check=False)
