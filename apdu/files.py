"""Private files: the project's one atomic writer, 0600 files and 0700 directories (issue #11 item 9, issue #14), and
the one reader of a secret kept in a file (:func:`read_private_line`: PIN files of the CLI, the host SAM's PIN).

Card images, card logs, SAM images and key stores hold card keys and personal data. Every one of them is written
by :func:`write_atomically`: a temporary file in the same directory, created 0600 whatever the umask, then
``os.replace`` over the target, so a reader (or a process killed mid-write) sees the old file or the new one,
never a torn one. ``durable=True`` fsyncs the file before the rename (survives a power cut); the simulated
daemon's hot path passes ``durable=False`` (a SIGKILL is the failure it survives: the page cache outlives the
process). Lives in ``apdu``, the lowest layer, so that ``sam``, ``healthcard`` and ``daemon`` share it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apdu.errors import DataError

__all__ = ["open_private", "private_dir", "read_json", "read_private_line", "write_atomically"]


def read_private_line(path: str | os.PathLike[str]) -> str:
    """The first line of a file only its owner can read (a PIN or password file), stripped.

    :class:`~apdu.errors.DataError` (never with the file's content) when the file is readable or writable by its
    group or others ("chmod 600"), cannot be read, or is empty.
    """
    target = Path(path)
    try:
        mode = target.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DataError(f"{target} is readable by other users: chmod 600 {target}")
        lines = target.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {target}: {exc.strerror or type(exc).__name__}") from None
    if not lines or not lines[0].strip():
        raise DataError(f"{target} is empty")
    return lines[0].strip()


def read_json(path: str | os.PathLike[str], error: Callable[[str], Exception]) -> Any:
    """The JSON document in ``path`` (UTF-8); ``error(message)`` is raised, the message naming the file and the line,
    when it is not valid JSON (the caller's error type says which layer's file it was)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{os.fspath(path)}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) and make it 0700 whatever the umask (issue #11 item 9).

    For directories the project owns: the daemon's state directory and its ``cards/``, the CLI's state
    directory.
    """
    target = Path(path)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix" and target.stat().st_mode & 0o777 != 0o700:
        target.chmod(0o700)
    return target


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open`` creating the file 0600 whatever the umask (an existing file is made 0600 too)."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    if os.name == "posix":
        os.fchmod(fd, 0o600)
    return fd


def write_atomically(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` by a file holding ``data`` (mode 0600), atomically; fsynced first when ``durable``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)  # 0600 by mkstemp
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
