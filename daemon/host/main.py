"""``healthcard-host``: the hospital host (card registry, blacklist, ledger) — docs/host.md.

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a configuration that is invalid or unsafe, or a
database that cannot be opened (the message says what to change).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from daemon.config import ConfigError, Secret
from daemon.host.config import load_host_config
from daemon.logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="healthcard-host", description="Hospital host for healthcardd (gRPC).")
    p.add_argument("--config", type=Path, help="TOML configuration file (sample: examples/deploy/healthcard-host.toml)")
    p.add_argument(
        "--check-config", action="store_true",
        help="validate the configuration (with the other options applied), print a summary and exit",
    )  # fmt: skip
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:50061)")
    p.add_argument("--state-dir", type=Path, help="where the embedded SQLite ledger lives (host.db)")
    p.add_argument(
        "--database-env", metavar="VAR",
        help="name of an environment variable holding the ledger URL (postgresql://...); default: SQLite",
    )  # fmt: skip
    p.add_argument("--metrics-listen", help="HOST:PORT for Prometheus metrics (default: off)")
    p.add_argument("--log-format", choices=["json", "text"])
    p.add_argument("--log-level")
    return p


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """Run the host until SIGTERM/SIGINT."""
    import os  # noqa: PLC0415

    args = _parser().parse_args(argv)
    env = dict(os.environ) if environ is None else environ
    try:
        database = None
        if args.database_env:
            if args.database_env not in env:
                raise ConfigError(f"environment variable {args.database_env} is not set", field="database_env")
            database = Secret(env[args.database_env])
        config = (
            load_host_config(args.config, env=env)
            .with_overrides(
                listen=args.listen,
                state_dir=args.state_dir,
                database=database,
                metrics_listen=args.metrics_listen,
                log_format=args.log_format,
                log_level=args.log_level,
            )
            .validate()
        )
    except ConfigError as exc:
        print(f"healthcard-host: {exc.message}", file=sys.stderr)
        return 2
    if args.check_config:
        ledger = "PostgreSQL" if config.database_url.lower().startswith(("postgresql:", "postgres:")) else "SQLite"
        print(
            f"healthcard-host: configuration OK: listen {config.listen}, ledger {ledger}, keys {config.keys.describe()}"
        )
        return 0
    configure_logging(fmt=config.log_format, level=config.log_level)
    from daemon.host.server import Host  # noqa: PLC0415 - grpc and the database driver only once the config is valid

    try:
        host = Host(config)
    except RuntimeError as exc:  # e.g. the port is taken
        print(f"healthcard-host: cannot listen on {config.listen}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the database cannot be opened: say which layer, without the URL (it may hold a password)
        print(f"healthcard-host: cannot open the ledger database ({type(exc).__name__})", file=sys.stderr)
        return 2
    if host.port == 0:
        print(f"healthcard-host: cannot listen on {config.listen}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("healthcard-host").info("signal %s: stopping gracefully", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    host.start()
    print(f"healthcard-host listening on {config.listen.rpartition(':')[0]}:{host.port}", file=sys.stderr, flush=True)
    stop.wait()
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
