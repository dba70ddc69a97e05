"""Start-up shared by ``healthcardd`` and ``healthcard-host``: their common command-line options and running a
bound server until SIGTERM/SIGINT.

Imports neither grpc nor the card API: the entry points parse and validate their configuration before loading
those (a bad configuration answers fast, exit code 2).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Protocol

__all__ = ["add_server_options", "serve_until_signalled"]


class Server(Protocol):
    """A bound gRPC server wrapper (``daemon.server.Daemon``, ``daemon.host.server.Host``): ``port`` 0 = unbound."""

    port: int

    def start(self) -> None: ...

    def stop(self) -> None: ...


def add_server_options(
    parser: argparse.ArgumentParser, *, config_help: str, default_listen: str, state_dir_help: str
) -> None:
    """``--config``, ``--check-config``, ``--listen``, ``--state-dir``, ``--metrics-listen``, ``--log-format`` and
    ``--log-level`` (docs/daemon.md, docs/host.md: the options override the TOML file)."""
    parser.add_argument("--config", type=Path, help=config_help)
    parser.add_argument(
        "--check-config", action="store_true",
        help="validate the configuration (with the other options applied), print a summary and exit",
    )  # fmt: skip
    parser.add_argument("--listen", help=f"HOST:PORT (default {default_listen})")
    parser.add_argument("--state-dir", type=Path, help=state_dir_help)
    parser.add_argument("--metrics-listen", help="HOST:PORT for Prometheus metrics (default: off)")
    parser.add_argument("--log-format", choices=["json", "text"])
    parser.add_argument("--log-level")


def serve_until_signalled(prog: str, server: Server, listen: str) -> int:
    """Start ``server``, say where it listens on stderr, stop it gracefully at SIGTERM/SIGINT; the exit code (0, or
    2 when it could not bind ``listen``)."""
    if server.port == 0:
        print(f"{prog}: cannot listen on {listen}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(prog).info("signal %s: stopping gracefully", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"{prog} listening on {listen.rpartition(':')[0]}:{server.port}", file=sys.stderr, flush=True)
    stop.wait()
    server.stop()
    return 0
