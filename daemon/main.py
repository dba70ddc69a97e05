"""``healthcardd``: the local gRPC device daemon (``healthcardd --simulate`` works on any machine).

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT) or a configuration that ``--check-config`` accepts, 2 for a
configuration that is invalid or unsafe, a port that is taken, or a state directory the daemon cannot write (the
message says what to change; no traceback).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType

from daemon.config import ConfigError, load_config
from daemon.database import StorageFullError
from daemon.logs import configure_logging

__all__ = ["main"]


def _version() -> str:
    try:
        return version("healthcard")
    except PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="healthcardd", description="Health-card device daemon (gRPC).")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--config", type=Path, help="TOML configuration file (sample: examples/deploy/healthcardd.toml)")
    p.add_argument(
        "--check-config", action="store_true",
        help="validate the configuration (with the other options applied), print a summary and exit",
    )  # fmt: skip
    p.add_argument(
        "--simulate",
        action="store_true",
        default=None,
        help="in-process virtual readers virtual-0 and virtual-1 with demo cards and the virtual SAM",
    )
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:50051)")
    p.add_argument("--state-dir", type=Path, help="journal database and simulated card images")
    p.add_argument("--metrics-listen", help="HOST:PORT for Prometheus metrics (default: off)")
    p.add_argument("--log-format", choices=["json", "text"])
    p.add_argument("--log-level")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    args = _parser().parse_args(argv)
    try:
        config = (
            load_config(args.config)
            .with_overrides(
                simulate=args.simulate,
                listen=args.listen,
                state_dir=args.state_dir,
                metrics_listen=args.metrics_listen,
                log_format=args.log_format,
                log_level=args.log_level,
            )
            .validate()
        )
    except ConfigError as exc:
        print(f"healthcardd: {exc.message}", file=sys.stderr)
        return 2
    if args.check_config:
        readers = "simulated" if config.simulate else ", ".join(f"{r.name!r}" for r in config.readers)
        print(f"healthcardd: configuration OK: listen {config.listen}, state {config.state_dir}, readers {readers}")
        return 0
    configure_logging(fmt=config.log_format, level=config.log_level)
    from daemon.server import Daemon  # noqa: PLC0415 - grpc and the card API only once the config is valid

    try:
        daemon = Daemon(config)
    except RuntimeError as exc:  # e.g. the port is taken
        print(f"healthcardd: cannot listen on {config.listen}: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error, StorageFullError) as exc:  # e.g. a read-only or full state directory
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(
            f"healthcardd: cannot use the state directory {str(config.state_dir)!r}: {reason} (it must be a"
            " directory the daemon's user can write, with free space; --state-dir or state_dir choose another)",
            file=sys.stderr,
        )
        return 2
    if daemon.port == 0:
        print(f"healthcardd: cannot listen on {config.listen}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("healthcardd").info("signal %s: stopping gracefully", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    print(f"healthcardd listening on {config.listen.rpartition(':')[0]}:{daemon.port}", file=sys.stderr, flush=True)
    stop.wait()
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
