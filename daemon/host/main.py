"""``healthcard-host``: the hospital host (card registry, blacklist, ledger) — docs/host.md.

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a configuration that is invalid or unsafe, or a
database that cannot be opened (the message says what to change).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from daemon.config import ConfigError, Secret, check_state_dir
from daemon.host.config import load_host_config
from daemon.logs import configure_logging
from daemon.runner import add_server_options, serve_until_signalled

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="healthcard-host", description="Hospital host for healthcardd (gRPC).")
    add_server_options(
        p,
        config_help="TOML configuration file (sample: examples/deploy/healthcard-host.toml)",
        default_listen="127.0.0.1:50061",
        state_dir_help="where the embedded SQLite ledger lives (host.db)",
    )
    p.add_argument(
        "--database-env", metavar="VAR",
        help="name of an environment variable holding the ledger URL (postgresql://...); default: SQLite",
    )  # fmt: skip
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
        ledger = "PostgreSQL"
        if not config.database_url.lower().startswith(("postgresql:", "postgres:")):
            try:  # the state directory holds only the SQLite ledger
                ledger = f"SQLite in {config.state_dir} ({check_state_dir(config.state_dir, ['host.db'])})"
            except ConfigError as exc:
                print(f"healthcard-host: {exc.message}", file=sys.stderr)
                return 2
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
    return serve_until_signalled("healthcard-host", host, config.listen)


if __name__ == "__main__":
    sys.exit(main())
