"""healthcard-host configuration: a TOML file (``--config``) plus command-line overrides.

The same security rules as healthcardd (:mod:`daemon.config`): loopback by default; any other address needs TLS
**and** at least one bearer token. The database URL may hold a password, so it can come from an environment
variable (``database_env``) and is never logged.

Example (docs/host.md has the full reference)::

    listen = "127.0.0.1:50061"
    database_env = "HEALTHCARD_HOST_DATABASE"   # postgresql://host@db.example:5432/healthcard
    metrics_listen = "127.0.0.1:9465"

    [[tokens]]
    name = "kiosk-3"
    token_env = "HOST_TOKEN_KIOSK3"
    roles = ["daemon"]          # daemon.host.roles
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from daemon.config import (
    ConfigError,
    Secret,
    TlsConfig,
    TokenConfig,
    _secret,
    check_access,
    parse_tls,
    parse_tokens,
    read_config_document,
)

__all__ = ["DEFAULT_HOST_LISTEN", "HostConfig", "load_host_config"]

DEFAULT_HOST_LISTEN = "127.0.0.1:50061"


@dataclass(frozen=True)
class HostConfig:
    """The whole host configuration."""

    listen: str = DEFAULT_HOST_LISTEN
    state_dir: Path = Path("var/healthcard-host")
    database: Secret | None = field(default=None, repr=False)  # None: SQLite in state_dir
    metrics_listen: str = ""
    tokens: tuple[TokenConfig, ...] = ()
    tls: TlsConfig | None = None
    log_format: str = "json"
    log_level: str = "INFO"
    workers: int = 16
    audit_interval_s: float = 86400.0  # 稽核 once a day (0: only on demand, GetAuditReport)
    replacement_wait_s: float = 3 * 86400.0  # 补卡/注销: a lost card's balance is final after this

    @property
    def database_url(self) -> str:
        """The ledger's URL: the configured one, else the SQLite file ``state_dir/host.db``."""
        return self.database.reveal() if self.database is not None else str(self.state_dir / "host.db")

    def validate(self) -> HostConfig:
        """The security and consistency rules; :class:`ConfigError` says what to change."""
        from daemon.host.roles import HOST_KNOWN_ROLES  # noqa: PLC0415 - imports the generated gRPC code

        check_access(self.listen, self.metrics_listen, self.tls, self.tokens, HOST_KNOWN_ROLES)
        if self.log_format not in {"json", "text"}:
            raise ConfigError("log_format must be 'json' or 'text'", field="log_format")
        if self.audit_interval_s < 0 or self.replacement_wait_s < 0:
            raise ConfigError("audit_interval_s and replacement_wait_s must be >= 0", field="audit_interval_s")
        return self

    def with_overrides(self, **changes: Any) -> HostConfig:
        """A copy with command-line overrides applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_host_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> HostConfig:
    """Read a TOML configuration file (``None``: defaults) — not yet validated."""
    env = os.environ if env is None else env
    doc, base = read_config_document(
        path,
        known={
            "listen", "state_dir", "database", "database_env", "metrics_listen", "tokens", "tls", "log_format",
            "log_level", "workers", "audit_interval_s", "replacement_wait_s",
        },
    )  # fmt: skip
    tokens = parse_tokens(doc, env)
    tls = parse_tls(doc, base)
    return HostConfig(
        listen=str(doc.get("listen", DEFAULT_HOST_LISTEN)),
        state_dir=base / str(doc["state_dir"]) if "state_dir" in doc else HostConfig.state_dir,
        database=_secret(doc, "database", env, "database"),
        metrics_listen=str(doc.get("metrics_listen", "")),
        tokens=tuple(tokens),
        tls=tls,
        log_format=str(doc.get("log_format", "json")),
        log_level=str(doc.get("log_level", "INFO")),
        workers=int(doc.get("workers", HostConfig.workers)),
        audit_interval_s=float(doc.get("audit_interval_s", HostConfig.audit_interval_s)),
        replacement_wait_s=float(doc.get("replacement_wait_s", HostConfig.replacement_wait_s)),
    )
