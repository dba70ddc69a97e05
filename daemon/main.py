"""``healthcardd``: the local gRPC device daemon (``healthcardd --simulate`` works on any machine).

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT) or a configuration that ``--check-config`` accepts, 2 for a
configuration that is invalid or unsafe, a port that is taken, or a state directory the daemon cannot write (the
message says what to change; no traceback).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from daemon.config import ConfigError, check_state_dir, load_config
from daemon.database import StorageFullError
from daemon.logs import configure_logging
from daemon.runner import add_server_options, serve_until_signalled

__all__ = ["main"]


def _version() -> str:
    try:
        return version("healthcard")
    except PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="healthcardd", description="Health-card device daemon (gRPC).")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_server_options(
        p,
        config_help="TOML configuration file (sample: examples/deploy/healthcardd.toml)",
        default_listen="127.0.0.1:50051",
        state_dir_help="journal database and simulated card images",
    )
    p.add_argument(
        "--simulate",
        action="store_true",
        default=None,
        help="in-process virtual readers virtual-0 and virtual-1 with demo cards and the virtual SAM",
    )
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
        try:
            state = check_state_dir(config.state_dir, [config.journal_path.name])
        except ConfigError as exc:
            print(f"healthcardd: {exc.message}", file=sys.stderr)
            return 2
        readers = "simulated" if config.simulate else ", ".join(f"{r.name!r}" for r in config.readers)
        print(
            f"healthcardd: configuration OK: listen {config.listen}, state {config.state_dir} ({state}),"
            f" readers {readers}"
        )
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
    return serve_until_signalled("healthcardd", daemon, config.listen)


if __name__ == "__main__":
    sys.exit(main())
