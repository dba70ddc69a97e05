"""healthcardd configuration: a TOML file (``--config``) plus command-line overrides.

Security rules (issue #6, issue #11 item 10): the daemon listens on 127.0.0.1 by default; listening on any other
address requires TLS (certificate and key) **and** at least one bearer token, otherwise the daemon refuses to
start — for the gRPC listener and for ``metrics_listen`` alike. Every token names its roles
(:mod:`daemon.roles`); a token without roles or with an unknown role is refused at start-up. Secrets
(tokens, the SAM PIN) may be given inline or, better, through environment variables named in the file; they
are never logged and never appear in ``repr()``.

Example (docs/daemon.md has the full reference)::

    listen = "127.0.0.1:50051"
    state_dir = "/var/lib/healthcardd"
    metrics_listen = "127.0.0.1:9464"

    [sam]
    pin_env = "HEALTHCARDD_SAM_PIN"

    [[readers]]
    name = "ACS ACR1281 1S Dual Reader PICC 00 00"
    sam_reader = "ACS ACR1281 1S Dual Reader SAM 00 00"

    [trusted_signers]                 # SAM public keys of other institutions (DF03 record signatures)
    "市第一人民医院" = "04…"            # x‖y (128 hex digits), optionally with the 04 prefix
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apdu.errors import DataError

if TYPE_CHECKING:
    from healthcard.api import TrustList

__all__ = [
    "DEFAULT_LISTEN",
    "SIMULATED_READERS",
    "Config",
    "ConfigError",
    "HostLinkConfig",
    "ReaderConfig",
    "Secret",
    "TlsConfig",
    "TokenConfig",
    "check_state_dir",
    "is_loopback",
    "load_config",
    "parse_trusted_signers",
    "split_host_port",
    "trust_list_of",
]

DEFAULT_LISTEN = "127.0.0.1:50051"
SIMULATED_READERS = ("virtual-0", "virtual-1", "virtual-blank")


class ConfigError(DataError):
    """The configuration is invalid or unsafe; the message says what to change."""


def check_state_dir(path: Path, files: Sequence[str] = ()) -> str:
    """What ``--check-config`` says of a state directory; :class:`ConfigError` when the daemon could not use it.

    The daemon makes the directory 0700 and its files 0600 at start-up (``apdu.files.private_dir``), which only
    its owner can do (chmod(2)): an existing directory — and each of ``files`` in it that exists — must belong to
    the effective user and be writable by it; a missing one needs an existing, writable ancestor to be created
    in. Nothing is created or changed here. Returns e.g. ``"exists, owner-only"`` for the summary line.
    """
    uid = os.geteuid()
    if not path.exists():
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise ConfigError(f"state_dir {str(path)!r} does not exist and cannot be created: {str(ancestor)!r} is "
                              f"not a directory user {uid} can write (create it for the daemon's user, mode 0700)",
                              field="state_dir")  # fmt: skip
        return "will be created, mode 0700"
    if not path.is_dir():
        raise ConfigError(f"state_dir {str(path)!r} is not a directory", field="state_dir")
    for target in (path, *(path / name for name in files if (path / name).exists())):
        owner = target.stat().st_uid
        if owner != uid:
            raise ConfigError(f"state_dir: {str(target)!r} belongs to user {owner}, not to the daemon's user {uid}: "
                              "only its owner can keep it private (chown it to the daemon's user)",
                              field="state_dir")  # fmt: skip
        if not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
            raise ConfigError(f"state_dir: {str(target)!r} is not writable by the daemon's user {uid} (or is on a "
                              "read-only file system)", field="state_dir")  # fmt: skip
    if path.stat().st_mode & 0o077:
        return f"exists, mode {path.stat().st_mode & 0o777:o}: made 0700 at start-up"
    return "exists, owner-only"


class Secret:
    """A secret string that never shows itself in ``repr``/``str``/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself (for comparisons and for the SAM only)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TokenConfig:
    """A bearer token, the client name the audit trail records for it, and its roles (:mod:`daemon.roles`)."""

    name: str
    token: Secret
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    """Server certificate and key (PEM); optional client CA for mutual TLS."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class ReaderConfig:
    """A card reader and the reader (or SAM slot) that holds its SAM."""

    name: str
    sam_reader: str = ""


@dataclass(frozen=True)
class HostLinkConfig:
    """The hospital host this daemon follows and reports to (``[host]``; docs/host.md, the daemon's side).

    ``address``: the host's HOST:PORT. ``ca_file``: the CA that signed the host's certificate (TLS; required for
    a non-loopback host). ``token``: the bearer token the host gave this daemon (role ``daemon``). ``node_id``:
    this daemon's name at the host (default: the machine's host name). ``institution``: recorded with the cards
    this daemon issues. ``retry_s``: the pause before reconnecting after the host was unreachable.
    """

    address: str
    ca_file: Path | None = None
    token: Secret | None = field(default=None, repr=False)
    node_id: str = ""
    institution: str = ""
    retry_s: float = 1.0


@dataclass(frozen=True)
class Config:
    """The whole daemon configuration."""

    listen: str = DEFAULT_LISTEN
    state_dir: Path = Path("var/healthcardd")
    metrics_listen: str = ""
    simulate: bool = False
    readers: tuple[ReaderConfig, ...] = ()
    tokens: tuple[TokenConfig, ...] = ()
    tls: TlsConfig | None = None
    sam_pin: Secret | None = field(default=None, repr=False)
    queue_timeout_s: float = 5.0
    poll_interval_s: float = 0.25
    log_format: str = "json"
    log_level: str = "INFO"
    workers: int = 16
    max_streams: int = 0  # concurrent streaming RPCs (WatchCards ...); 0 = half the workers
    #: decided journal entries and done card writes older than this are pruned (daemon/retention.py); 0 = never
    retention_days: int = 400
    #: ``[trusted_signers]``: name -> SM2 public key (hex) of other institutions' SAMs whose DF03 record
    #: signatures read as VALID (the reader's own SAM is always trusted).
    trusted_signers: tuple[tuple[str, str], ...] = ()
    host: HostLinkConfig | None = None

    @property
    def journal_path(self) -> Path:
        """The SQLite database (journal and audit trail)."""
        return self.state_dir / "healthcardd.db"

    def reader_names(self) -> tuple[str, ...]:
        """Names of the card readers, simulated or configured."""
        return SIMULATED_READERS if self.simulate else tuple(r.name for r in self.readers)

    def validate(self) -> Config:
        """Check the security and consistency rules; raise :class:`ConfigError` with a clear message."""
        from daemon.roles import KNOWN_ROLES  # noqa: PLC0415 - daemon.roles imports the generated gRPC code

        check_access(self.listen, self.metrics_listen, self.tls, self.tokens, KNOWN_ROLES)
        if not self.simulate and not self.readers:
            raise ConfigError("no [[readers]] configured (or run with --simulate)", field="readers")
        if self.log_format not in {"json", "text"}:
            raise ConfigError("log_format must be 'json' or 'text'", field="log_format")
        levels = [name for name in logging.getLevelNamesMapping() if name not in ("NOTSET", "WARN", "FATAL")]
        if self.log_level.upper() not in levels:
            raise ConfigError(f"log_level {self.log_level!r}: one of {', '.join(levels)}", field="log_level")
        if self.retention_days < 0 or 0 < self.retention_days < 7:
            raise ConfigError("retention_days must be 0 (keep everything) or at least 7 (days; default 400)",
                              field="retention_days")  # fmt: skip
        if not 0 <= self.max_streams < self.workers:
            raise ConfigError(
                f"max_streams must be 0 (half the workers) or 1..{self.workers - 1}: fewer than workers"
                f" ({self.workers}), so that unary RPCs and health checks always find a thread",
                field="max_streams",
            )
        if self.queue_timeout_s <= 0:
            raise ConfigError("queue_timeout_s must be positive", field="queue_timeout_s")
        self.trust_list()
        if self.host is not None:
            _check_host_link(self.host)
        return self

    def trust_list(self) -> TrustList:
        """``trusted_signers`` as the card API's trust list; a bad key is a :class:`ConfigError` naming it."""
        return trust_list_of(self.trusted_signers)

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with command-line overrides applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def check_access(
    listen: str,
    metrics_listen: str,
    tls: TlsConfig | None,
    tokens: Sequence[TokenConfig],
    known_roles: Collection[str],
) -> None:
    """The access rules healthcardd and healthcard-host share (issue #11 item 10, docs/security.md).

    Ports in range; a non-loopback ``listen`` or ``metrics_listen`` needs TLS and at least one token; the TLS files
    exist; token names are unique, each token has at least 16 characters and at least one role, all of them in
    ``known_roles`` (the service's own role set). :class:`ConfigError` names the field and what to change.
    """
    for name, address in (("listen", listen), ("metrics_listen", metrics_listen)):
        if not address:
            continue
        host, port = split_host_port(address)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{name}: port {port} out of range", field=name)
        _check_exposure(address, host, name, tls, tokens)
    if tls is not None:
        for path in (tls.cert_file, tls.key_file, tls.client_ca_file):
            if path is not None and not path.is_file():
                raise ConfigError(f"tls: file {str(path)!r} does not exist", field="tls")
    names = [t.name for t in tokens]
    if len(set(names)) != len(names):
        raise ConfigError("tokens: names must be unique", field="tokens")
    if any(len(t.token.reveal()) < 16 for t in tokens):
        raise ConfigError("tokens: every token needs at least 16 characters", field="tokens")
    known = ", ".join(sorted(known_roles))
    for t in tokens:
        if not t.roles:
            raise ConfigError(f"tokens: token {t.name!r} needs roles = [...] (any of {known})", field="tokens")
        unknown = sorted(set(t.roles) - set(known_roles))
        if unknown:
            raise ConfigError(
                f"tokens: token {t.name!r} has unknown role(s) {', '.join(unknown)} (known: {known})", field="tokens"
            )


def _check_exposure(address: str, host: str, name: str, tls: TlsConfig | None, tokens: Sequence[TokenConfig]) -> None:
    """A non-loopback ``address`` needs TLS and at least one token (ConfigError naming what is missing)."""
    if is_loopback(host):
        return
    missing = []
    if tls is None:
        missing.append("a [tls] section with cert_file and key_file")
    if not tokens:
        missing.append("at least one [[tokens]] entry")
    if missing:
        raise ConfigError(
            f"refusing to listen on {address} ({name}): a non-loopback address needs " + " and ".join(missing)
            + " (or listen on 127.0.0.1)",
            field=name,
        )  # fmt: skip


def _check_host_link(link: HostLinkConfig) -> None:
    """A reachable, safe ``[host]``: HOST:PORT, TLS for anything but loopback, a CA file that exists."""
    host, _ = split_host_port(link.address)
    if not is_loopback(host) and link.ca_file is None:
        raise ConfigError(
            f"host: {link.address} is not loopback: give ca_file (the host must be reached over TLS)", field="host"
        )
    if link.ca_file is not None and not link.ca_file.is_file():
        raise ConfigError(f"host: ca_file {str(link.ca_file)!r} does not exist", field="host")
    if link.retry_s <= 0:
        raise ConfigError("host: retry_s must be positive", field="host")


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:50051"`` / ``"[::1]:50051"`` -> host, port."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"address {address!r} is not HOST:PORT", field="listen")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(section: Mapping[str, Any], key: str, env: Mapping[str, str], where: str) -> Secret | None:
    inline = section.get(key)
    env_name = section.get(f"{key}_env")
    if env_name is not None:
        value = env.get(str(env_name))
        if value is None:
            raise ConfigError(f"{where}: environment variable {env_name} is not set", field=f"{key}_env")
        return Secret(value)
    if inline is not None:
        return Secret(str(inline))
    return None


def read_config_document(path: str | Path | None, *, known: Collection[str]) -> tuple[dict[str, Any], Path]:
    """The TOML document at ``path`` (``None``: empty) and the folder its relative paths start from.

    Shared by healthcardd's and healthcard-host's loaders. A key outside ``known`` is a :class:`ConfigError`
    naming it (a misspelt key must not silently fall back to a default).
    """
    doc: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {str(path)!r}: {exc}", field="config") from exc
        base = path.parent
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}", field=unknown[0])
    return doc, base


def parse_tokens(doc: Mapping[str, Any], env: Mapping[str, str]) -> tuple[TokenConfig, ...]:
    """The ``[[tokens]]`` tables: name, token (or token_env) and roles (checked by the service's validate)."""
    tokens = []
    for i, item in enumerate(doc.get("tokens", [])):
        secret = _secret(item, "token", env, f"tokens[{i}]")
        if secret is None or "name" not in item:
            raise ConfigError(f"tokens[{i}]: needs name and token (or token_env)", field="tokens")
        roles = item.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ConfigError(f"tokens[{i}]: roles must be a list of role names", field="tokens")
        tokens.append(TokenConfig(name=str(item["name"]), token=secret, roles=tuple(roles)))
    return tuple(tokens)


def parse_tls(doc: Mapping[str, Any], base: Path) -> TlsConfig | None:
    """The ``[tls]`` table (paths relative to the config file), or ``None`` without one."""
    if "tls" not in doc:
        return None
    t = doc["tls"]
    if "cert_file" not in t or "key_file" not in t:
        raise ConfigError("tls: needs cert_file and key_file", field="tls")
    return TlsConfig(
        cert_file=base / t["cert_file"],
        key_file=base / t["key_file"],
        client_ca_file=(base / t["client_ca_file"]) if "client_ca_file" in t else None,
    )


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read a TOML configuration file (``None``: defaults) — not yet validated."""
    env = os.environ if env is None else env
    doc, base = read_config_document(
        path,
        known={
            "listen", "state_dir", "metrics_listen", "simulate", "readers", "tokens", "tls", "sam",
            "queue_timeout_s", "poll_interval_s", "log_format", "log_level", "workers", "max_streams",
            "retention_days",
            "trusted_signers", "host",
        },
    )  # fmt: skip
    tokens = parse_tokens(doc, env)
    tls = parse_tls(doc, base)
    sam_pin = _secret(doc.get("sam", {}), "pin", env, "sam")
    if sam_pin is None and "HEALTHCARDD_SAM_PIN" in env:
        sam_pin = Secret(env["HEALTHCARDD_SAM_PIN"])
    readers = tuple(
        ReaderConfig(name=str(r["name"]), sam_reader=str(r.get("sam_reader", ""))) for r in doc.get("readers", [])
    )
    host_link = None
    if "host" in doc:
        h = doc["host"]
        if "address" not in h:
            raise ConfigError("host: needs address (HOST:PORT of healthcard-host)", field="host")
        host_link = HostLinkConfig(
            address=str(h["address"]), ca_file=(base / h["ca_file"]) if "ca_file" in h else None,
            token=_secret(h, "token", env, "host"), node_id=str(h.get("node_id", "")),
            institution=str(h.get("institution", "")), retry_s=float(h.get("retry_s", 1.0)),
        )  # fmt: skip
    return Config(
        listen=str(doc.get("listen", DEFAULT_LISTEN)),
        state_dir=base / str(doc["state_dir"]) if "state_dir" in doc else Config.state_dir,
        metrics_listen=str(doc.get("metrics_listen", "")),
        simulate=bool(doc.get("simulate", False)),
        readers=readers,
        tokens=tuple(tokens),
        tls=tls,
        sam_pin=sam_pin,
        queue_timeout_s=float(doc.get("queue_timeout_s", Config.queue_timeout_s)),
        poll_interval_s=float(doc.get("poll_interval_s", Config.poll_interval_s)),
        log_format=str(doc.get("log_format", "json")),
        log_level=str(doc.get("log_level", "INFO")),
        workers=int(doc.get("workers", Config.workers)),
        max_streams=int(doc.get("max_streams", Config.max_streams)),
        retention_days=int(doc.get("retention_days", Config.retention_days)),
        trusted_signers=parse_trusted_signers(doc.get("trusted_signers", {})),
        host=host_link,
    )


def trust_list_of(entries: Sequence[tuple[str, str]]) -> TrustList:
    """A ``[trusted_signers]`` table (name, hex SM2 public key) as the card API's trust list (the daemon's and the
    host's configuration); a bad key is a :class:`ConfigError` naming it."""
    # The card API (~0.3 s of imports) only once the configuration is checked: not for healthcardd --help.
    from healthcard.api import TrustList  # noqa: PLC0415

    try:
        return TrustList(dict(entries))
    except DataError as exc:
        raise ConfigError(f"trusted_signers: {exc}", field="trusted_signers") from exc


def parse_trusted_signers(table: Any) -> tuple[tuple[str, str], ...]:
    """The ``[trusted_signers]`` table of a configuration file (daemon or host): name = "hex SM2 public key"."""
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ConfigError('trusted_signers: a table of name = "hex SM2 public key"', field="trusted_signers")
    return tuple((str(name), key) for name, key in table.items())
