"""Key-store files: the master keys a SAM holds, as typed entries that never print their bytes.

File format: the JSON schema of ``shared/reference/demo-keys.json`` (shipped as ``sam/data/demo-keys.json``, the
demo set: **test only, never use it for real cards**)::

    {"health_app": {"algorithm": "SM4", "master_keys": {NAME: HEX, ...}, "sam_pin": "123456"},
     "purse_app":  {"algorithm": "3DES", "master_keys": {...}, "key_index": {"purchase": 1, "load": 1},
                    "key_version": 1, "algorithm_id": 0},
     "issuance":   {"transport_key": HEX, "mf_master_key": HEX},
     "psam":       {"terminal_id": "000000000001"}}

Every key becomes a :class:`KeyEntry` with a usage and an index, the two bytes a SAM command names a key by:

* usage = the PSAM key attribute (PSAM COS, sources.md V2, the low 5 bits of ``80 1A`` P1);
* index = ``80 1A`` / ``80 DE`` P2. Health keys take the P2 of WS/T 543.4 key table (``RK_DDF1`` → ``31`` ...);
  their usage is the low bits of that table's P1 (``x7`` authentication = :attr:`KeyUsage.ENCRYPT`, ``x8``
  protection = :attr:`KeyUsage.MAC_ENCRYPT`). Purse keys take ``key_index``/``key_version`` of the file (the
  purchase key is found by the key version and algorithm the card reports, JR/T 0025.2 purchase with a PSAM).

Errors are :class:`KeyStoreError` subclasses (layer SAM) whose messages name keys, never their bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from apdu.errors import HealthCardError, Layer
from apdu.files import read_json, write_atomically
from apdu.hexdata import from_hex
from apdu.psam import KeyUsage
from sam.crypto import Algorithm

__all__ = [
    "DEMO_KEYS_RESOURCE",
    "KeyEntry",
    "KeyLengthError",
    "KeyStore",
    "KeyStoreError",
    "KeyUsage",
    "UnknownKeyError",
    "load_demo_keys",
    "load_keystore",
    "save_keystore",
    "write_json_atomically",
]

DEMO_KEYS_RESOURCE = "demo-keys.json"


class KeyStoreError(HealthCardError, ValueError):
    """A key store is malformed or lacks a key (layer SAM; never contains key bytes)."""

    layer = Layer.SAM


class UnknownKeyError(KeyStoreError, LookupError):
    """No key with the requested name, or usage and index."""


class KeyLengthError(KeyStoreError):
    """A key has a length its algorithm does not allow."""


_ALGORITHM_NAMES: dict[str, Algorithm] = {"SM4": Algorithm.SM4, "3DES": Algorithm.TDES, "TDES": Algorithm.TDES}
_VALID_LENGTHS: dict[Algorithm, tuple[int, ...]] = {Algorithm.SM4: (16,), Algorithm.TDES: (8, 16, 24)}

# WS/T 543.4 key table: SAM key index (P2 of 80 DE) and the key attribute (low nibble of P1).
HEALTH_KEY_REFS: dict[str, tuple[KeyUsage, int]] = {
    "RK_DDF1": (KeyUsage.ENCRYPT, 0x31),
    "RK_DF01": (KeyUsage.ENCRYPT, 0x32),
    "RK_DF02": (KeyUsage.ENCRYPT, 0x33),
    "RK_DF03": (KeyUsage.ENCRYPT, 0x34),
    "UK_DDF1": (KeyUsage.ENCRYPT, 0x2A),
    "UK_DF01": (KeyUsage.ENCRYPT, 0x2B),
    "UK_DF02_1": (KeyUsage.ENCRYPT, 0x2C),
    "UK_DF02_2": (KeyUsage.ENCRYPT, 0x2D),
    "UK_DF02_3": (KeyUsage.ENCRYPT, 0x2E),
    "UK_DF03_1": (KeyUsage.ENCRYPT, 0x2F),
    "UK_DF03_2": (KeyUsage.ENCRYPT, 0x30),
    "STK_DDF1": (KeyUsage.MAC_ENCRYPT, 0x02),
    "STK_DF01": (KeyUsage.MAC_ENCRYPT, 0x03),
    "STK_DF02": (KeyUsage.MAC_ENCRYPT, 0x04),
    "STK_DF03": (KeyUsage.MAC_ENCRYPT, 0x05),
}

# Purse key names of the demo schema → usage; index 1 unless "key_index" says otherwise.
PURSE_KEY_USAGE: dict[str, KeyUsage] = {
    "purchase": KeyUsage.PURCHASE,
    "load": KeyUsage.LOAD,
    "tac": KeyUsage.TAC,
    "line_protection": KeyUsage.MAINTENANCE,
    "external_auth": KeyUsage.EXTERNAL_AUTH,
    "pin_unblock": KeyUsage.PIN,
    "pin_reload": KeyUsage.PIN,
    "unload": KeyUsage.UNLOAD,  # the project's demo unload master key (docs/decisions.md D13)
}
_PURSE_DEFAULT_INDEX: dict[str, int] = {"pin_reload": 2}

_ISSUANCE_KEYS: dict[str, int] = {"transport_key": 0x00, "mf_master_key": 0x01}


@dataclass(frozen=True, slots=True, repr=False)
class KeyEntry:
    """One master key: where it belongs, how a SAM command names it, and its (hidden) value.

    ``app`` is ``"health"``, ``"purse"`` or ``"issuance"``; ``index`` is the SAM key index (P2), ``version`` the
    key version a card reports (purse keys; 0 elsewhere).
    """

    name: str
    app: str
    algorithm: Algorithm
    usage: KeyUsage
    index: int
    version: int = 0
    value: bytes = field(default=b"", compare=True)

    def __post_init__(self) -> None:
        allowed = _VALID_LENGTHS[self.algorithm]
        if len(self.value) not in allowed:
            sizes = " or ".join(str(n) for n in allowed)
            raise KeyLengthError(
                f"key {self.name!r}: a {self.algorithm.name} key is {sizes} bytes, not {len(self.value)}"
            )
        if not 0 <= self.index <= 0xFF or not 0 <= self.version <= 0xFF:
            raise KeyStoreError(f"key {self.name!r}: index and version are bytes (0..255)")

    def __repr__(self) -> str:
        return (
            f"KeyEntry(name={self.name!r}, app={self.app!r}, algorithm={self.algorithm.name}, "
            f"usage={self.usage.name}, index=0x{self.index:02X}, version={self.version}, value=<hidden>)"
        )

    __str__ = __repr__


def _algorithm(text: object, where: str) -> Algorithm:
    if not isinstance(text, str) or text.upper() not in _ALGORITHM_NAMES:
        raise KeyStoreError(f"{where}: algorithm must be 'SM4' or '3DES', got {text!r}")
    return _ALGORITHM_NAMES[text.upper()]


def _key_bytes(text: object, name: str) -> bytes:
    return from_hex(text, f"key {name!r}", KeyStoreError)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise KeyStoreError(f"{key}: an object is required")
    return value


class KeyStore:
    """An immutable set of :class:`KeyEntry` plus the SAM PIN and terminal ID the file may carry.

    ``repr`` lists key names only; the PIN is never shown.
    """

    def __init__(
        self,
        entries: Iterable[KeyEntry],
        *,
        sam_pin: str | None = None,
        terminal_id: bytes | None = None,
        description: str = "",
    ) -> None:
        self._entries: tuple[KeyEntry, ...] = tuple(entries)
        names = [e.name for e in self._entries]
        if len(set(names)) != len(names):
            raise KeyStoreError("key names must be unique in a key store")
        refs = [(e.usage, e.index, e.version, e.algorithm) for e in self._entries if e.app != "issuance"]
        if len(set(refs)) != len(refs):
            raise KeyStoreError("two keys share the same usage, index, version and algorithm")
        if sam_pin is not None and (not sam_pin.isdigit() or not 2 <= len(sam_pin) <= 16 or len(sam_pin) % 2):
            raise KeyStoreError("sam_pin: an even number (2..16) of decimal digits is required")
        if terminal_id is not None and len(terminal_id) != 6:
            raise KeyStoreError(f"terminal_id: 6 bytes required, got {len(terminal_id)}")
        self.sam_pin = sam_pin
        self.terminal_id = terminal_id
        self.description = description

    def __repr__(self) -> str:
        return f"KeyStore({', '.join(e.name for e in self._entries)})"

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyStore):
            return NotImplemented
        return (set(self._entries), self.sam_pin, self.terminal_id) == (
            set(other._entries),
            other.sam_pin,
            other.terminal_id,
        )

    __hash__ = None  # type: ignore[assignment]

    def by_name(self, name: str) -> KeyEntry:
        """The key called ``name``; :class:`UnknownKeyError` if absent."""
        for entry in self._entries:
            if entry.name == name:
                return entry
        raise UnknownKeyError(f"no key called {name!r} in the key store")

    def find(self, usage: KeyUsage, index: int, *, app: str | None = None) -> KeyEntry:
        """The key with this usage and SAM index (P2); :class:`UnknownKeyError` if absent."""
        for entry in self._entries:
            if entry.usage == usage and entry.index == index and (app is None or entry.app == app):
                return entry
        raise UnknownKeyError(f"no {usage.name} key with index 0x{index:02X} in the key store")

    def purchase_key(self, version: int, algorithm: Algorithm) -> KeyEntry:
        """The purchase master key for the key version and algorithm a card reports (JR/T 0025.2 purchase with a
        PSAM)."""
        return self._versioned(KeyUsage.PURCHASE, version, algorithm)

    def load_key(self, version: int, algorithm: Algorithm) -> KeyEntry:
        """The load master key for the key version and algorithm a card reports (JR/T 0025.2 load MAC/TAC)."""
        return self._versioned(KeyUsage.LOAD, version, algorithm)

    def tac_key(self, version: int, algorithm: Algorithm) -> KeyEntry:
        """The TAC master key of a key version and algorithm (JR/T 0025.2 purchase MAC/TAC; host SAM ``80 7E``)."""
        return self._versioned(KeyUsage.TAC, version, algorithm)

    def unload_key(self, version: int, algorithm: Algorithm) -> KeyEntry:
        """The unload master key (圈提, JR/T 0025.1 INITIALIZE FOR UNLOAD; the same version as the card's load key)."""
        return self._versioned(KeyUsage.UNLOAD, version, algorithm)

    def _versioned(self, usage: KeyUsage, version: int, algorithm: Algorithm) -> KeyEntry:
        for entry in self._entries:
            if entry.usage == usage and entry.version == version and entry.algorithm == algorithm:
                return entry
        raise UnknownKeyError(f"no {usage.name} key of version {version} for {algorithm.name} in the key store")

    # --- JSON -------------------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyStore:
        """Build from the demo-keys.json schema (see the module docstring)."""
        if not isinstance(data, Mapping):
            raise KeyStoreError("a key store is a JSON object")
        entries: list[KeyEntry] = []
        health = _mapping(data, "health_app")
        if health:
            alg = _algorithm(health.get("algorithm", "SM4"), "health_app")
            for name, text in _mapping(health, "master_keys").items():
                if name not in HEALTH_KEY_REFS:
                    raise UnknownKeyError(f"health_app: {name!r} is not a health-card key name (WS/T 543.4 key table)")
                usage, index = HEALTH_KEY_REFS[name]
                entries.append(KeyEntry(name, "health", alg, usage, index, 0, _key_bytes(text, name)))
        purse = _mapping(data, "purse_app")
        if purse:
            alg = _algorithm(purse.get("algorithm", "3DES"), "purse_app")
            indexes = _mapping(purse, "key_index")
            version = purse.get("key_version", 1)
            if not isinstance(version, int):
                raise KeyStoreError("purse_app.key_version: an integer is required")
            for name, text in _mapping(purse, "master_keys").items():
                if name not in PURSE_KEY_USAGE:
                    raise UnknownKeyError(f"purse_app: {name!r} is not a purse key name")
                index = indexes.get(name, _PURSE_DEFAULT_INDEX.get(name, 1))
                if not isinstance(index, int):
                    raise KeyStoreError(f"purse_app.key_index.{name}: an integer is required")
                entries.append(
                    KeyEntry(name, "purse", alg, PURSE_KEY_USAGE[name], index, version, _key_bytes(text, name))
                )
        issuance = _mapping(data, "issuance")
        for name, text in issuance.items():
            if name not in _ISSUANCE_KEYS:
                raise UnknownKeyError(f"issuance: {name!r} is not an issuance key name")
            entries.append(
                KeyEntry(
                    name, "issuance", Algorithm.TDES, KeyUsage.MASTER, _ISSUANCE_KEYS[name], 0, _key_bytes(text, name)
                )
            )
        pin = health.get("sam_pin")
        if pin is not None and not isinstance(pin, str):
            raise KeyStoreError("health_app.sam_pin: a string of digits is required")
        terminal = _mapping(data, "psam").get("terminal_id")
        terminal_id = _key_bytes(terminal, "psam.terminal_id") if terminal is not None else None
        description = data.get("description", "")
        return cls(entries, sam_pin=pin, terminal_id=terminal_id, description=str(description))

    def to_json(self) -> dict[str, Any]:
        """The demo-keys.json schema; ``from_json(to_json())`` gives an equal store."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        health = [e for e in self._entries if e.app == "health"]
        if health or self.sam_pin is not None:
            app: dict[str, Any] = {
                "algorithm": "SM4" if not health or health[0].algorithm is Algorithm.SM4 else "3DES",
                "master_keys": {e.name: e.value.hex().upper() for e in health},
            }
            if self.sam_pin is not None:
                app["sam_pin"] = self.sam_pin
            out["health_app"] = app
        purse = [e for e in self._entries if e.app == "purse"]
        if purse:
            out["purse_app"] = {
                "algorithm": "SM4" if purse[0].algorithm is Algorithm.SM4 else "3DES",
                "master_keys": {e.name: e.value.hex().upper() for e in purse},
                "key_index": {e.name: e.index for e in purse},
                "key_version": purse[0].version,
                "algorithm_id": int(purse[0].algorithm),
            }
        issuance = [e for e in self._entries if e.app == "issuance"]
        if issuance:
            out["issuance"] = {e.name: e.value.hex().upper() for e in issuance}
        if self.terminal_id is not None:
            out["psam"] = {"terminal_id": self.terminal_id.hex().upper()}
        return out


def load_keystore(path: str | os.PathLike[str]) -> KeyStore:
    """Read a key-store JSON file."""
    return KeyStore.from_json(read_json(path, KeyStoreError))


def save_keystore(store: KeyStore, path: str | os.PathLike[str]) -> None:
    """Write a key-store JSON file atomically (temporary file in the same directory, then ``os.replace``)."""
    write_json_atomically(Path(path), store.to_json())


def load_demo_keys() -> KeyStore:
    """The shipped demo key set (``sam/data/demo-keys.json``). **Test and demo use only.**"""
    text = resources.files("sam").joinpath("data", DEMO_KEYS_RESOURCE).read_text(encoding="utf-8")
    return KeyStore.from_json(json.loads(text))


def write_json_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON so that readers see the old file or the new one, never a torn one."""
    write_atomically(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
