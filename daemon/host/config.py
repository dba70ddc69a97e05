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

    [keys]                      # the load and TAC master keys: in a host SAM (default "demo": public demo keys)
    store = "sam"
    readers = ["Virtual PCD 00 01"]
    pin_file = "/run/credentials/healthcard-host.service/sam-pin"   # or pin_env = "HEALTHCARD_HOST_SAM_PIN"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apdu.errors import DataError
from apdu.files import read_private_line
from daemon.config import (
    ConfigError,
    Secret,
    TlsConfig,
    TokenConfig,
    _secret,
    check_access,
    parse_tls,
    parse_tokens,
    parse_trusted_signers,
    read_config_document,
    trust_list_of,
)

if TYPE_CHECKING:
    from healthcard.api import TrustList

__all__ = ["DEFAULT_HOST_LISTEN", "KEY_STORES", "HostConfig", "KeysConfig", "load_host_config"]

DEFAULT_HOST_LISTEN = "127.0.0.1:50061"
#: ``[keys] store``: ``demo`` — the public demo keys in the host's memory (demo and tests); ``sam`` — a host SAM.
KEY_STORES = ("demo", "sam")
_KEY_ALGORITHMS = {"3DES": 0x00, "SM4": 0x04}  # algorithm ids of INITIALIZE FOR LOAD / PURCHASE (JR/T 0025.1)
_KEYS_KNOWN = {"store", "readers", "image", "pin", "pin_env", "pin_file", "profile", "key_version", "algorithm",
               "wait_s"}  # fmt: skip


@dataclass(frozen=True)
class KeysConfig:
    """``[keys]``: where the host's purse load and TAC master keys are (docs/host.md "Keys in a SAM").

    ``store = "sam"`` takes a pool of host SAMs in the PC/SC ``readers`` — or, for tests and demos, one virtual
    SAM ``image`` in the host's process —, their PIN (``pin_file``, ``pin_env`` or ``pin``), a vendor ``profile``
    (:func:`sam.profile.load_sam_profile`; default the virtual SAM's) and the key set's ``key_version`` and
    ``algorithm``.
    """

    store: str = "demo"
    readers: tuple[str, ...] = ()
    image: Path | None = None
    pin: Secret | None = field(default=None, repr=False)
    pin_source: str = ""  # how the PIN was given (for --check-config), never the PIN
    profile: Path | None = None
    key_version: int = 1
    algorithm: str = "3DES"
    wait_s: float = 5.0

    @property
    def algorithm_id(self) -> int:
        """The algorithm id of the key set (``00`` 3DES, ``04`` SM4)."""
        return _KEY_ALGORITHMS[self.algorithm]

    def validate(self) -> None:
        """:class:`ConfigError` naming the ``[keys]`` entry to change."""
        if self.store not in KEY_STORES:
            raise ConfigError(f"[keys] store: one of {', '.join(KEY_STORES)}", field="keys.store")
        if self.store == "demo":
            return
        if bool(self.readers) == (self.image is not None):
            raise ConfigError("[keys] store = 'sam' needs readers (PC/SC) or image (a virtual SAM), not both",
                              field="keys.readers")  # fmt: skip
        if self.image is not None and not self.image.is_file():
            raise ConfigError(f"[keys] image: no file {str(self.image)!r}", field="keys.image")
        if self.pin is None:
            raise ConfigError("[keys] store = 'sam' needs the SAM PIN: pin_file, pin_env or pin", field="keys.pin")
        if self.algorithm not in _KEY_ALGORITHMS:
            raise ConfigError(f"[keys] algorithm: one of {', '.join(_KEY_ALGORITHMS)}", field="keys.algorithm")
        if not 0 <= self.key_version <= 0xFF or self.wait_s <= 0:
            raise ConfigError("[keys] key_version: 0..255, wait_s > 0", field="keys.key_version")
        if self.profile is not None and not self.profile.is_file():
            raise ConfigError(f"[keys] profile: no file {str(self.profile)!r}", field="keys.profile")

    def describe(self) -> str:
        """One line for ``--check-config`` and the start-up log (never the PIN)."""
        if self.store == "demo":
            return "demo (the public demo keys in memory: demo and tests only)"
        where = (
            f"virtual SAM image {str(self.image)!r}" if self.image else f"readers {', '.join(map(repr, self.readers))}"
        )
        profile = str(self.profile) if self.profile else "virtual"
        return (f"sam ({where}; PIN from {self.pin_source}; profile {profile}; key version {self.key_version}"
                f" {self.algorithm})")  # fmt: skip


def _parse_keys(doc: Mapping[str, Any], env: Mapping[str, str], base: Path) -> KeysConfig:
    section = doc.get("keys", {})
    if not isinstance(section, Mapping):
        raise ConfigError("[keys] must be a table", field="keys")
    unknown = sorted(set(section) - _KEYS_KNOWN)
    if unknown:
        raise ConfigError(f"unknown [keys] entries: {', '.join(unknown)}", field=f"keys.{unknown[0]}")
    pin, source = _secret(section, "pin", env, "[keys]"), ""
    if pin is not None:
        source = f"environment variable {section['pin_env']}" if "pin_env" in section else "the configuration file"
    if "pin_file" in section:
        if pin is not None:
            raise ConfigError("[keys]: pin_file, pin_env or pin, only one", field="keys.pin_file")
        path = base / str(section["pin_file"])
        try:
            pin = Secret(read_private_line(path))
        except DataError as exc:
            raise ConfigError(f"[keys] pin_file: {exc.message}", field="keys.pin_file") from None
        source = f"file {str(path)!r}"
    readers = section.get("readers", [])
    if not isinstance(readers, list) or not all(isinstance(r, str) and r for r in readers):
        raise ConfigError("[keys] readers: a list of PC/SC reader names", field="keys.readers")
    try:
        return KeysConfig(
            store=str(section.get("store", "demo")), readers=tuple(readers),
            image=base / str(section["image"]) if "image" in section else None, pin=pin, pin_source=source,
            profile=base / str(section["profile"]) if "profile" in section else None,
            key_version=int(section.get("key_version", 1)), algorithm=str(section.get("algorithm", "3DES")).upper(),
            wait_s=float(section.get("wait_s", KeysConfig.wait_s)),
        )  # fmt: skip
    except (TypeError, ValueError):
        raise ConfigError("[keys] key_version: an integer, wait_s: a number", field="keys.key_version") from None


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
    keys: KeysConfig = field(default_factory=KeysConfig)
    #: ``[trusted_signers]``: name -> SM2 public key (hex) of the SAMs whose DF03 record signatures the host
    #: accepts in UploadVisitRecords; only records VALID against it are returned for 补卡 (empty: none are).
    trusted_signers: tuple[tuple[str, str], ...] = ()

    def trust_list(self) -> TrustList:
        """``trusted_signers`` as the card API's trust list (the daemon's parsing); a bad key is a ConfigError."""
        return trust_list_of(self.trusted_signers)

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
        self.keys.validate()
        self.trust_list()
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
            "log_level", "workers", "audit_interval_s", "replacement_wait_s", "keys", "trusted_signers",
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
        keys=_parse_keys(doc, env, base),
        trusted_signers=parse_trusted_signers(doc.get("trusted_signers", {})),
    )
