"""SAM profiles: the values that differ between SAM vendors, kept out of the client code.

PSAM COS, sources.md V2 ("treat P1/P2 as configuration"), JR/T 0025.2 key diversification (factor order is an open
point) and WS/T 543.4 key table (``80 DE`` P1/P2 per key) leave these to the SAM vendor. :class:`SamProfile` holds them;
:data:`VIRTUAL_SAM_PROFILE` (the default) matches :class:`sam.virtual.VirtualSam` and the references' values.
A profile loads from JSON or TOML (:func:`load_sam_profile`); integers may be written as numbers or as hex strings
(``"47"`` or ``"0x47"``). Example (TOML)::

    name = "vendor-x"
    factors_card_first = false
    [key_refs]
    line_protection = ["0x05", "0x02"]
    [health_keys]
    RK_DDF1 = ["0x47", "0x41"]
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from apdu.errors import DataError

__all__ = ["DEFAULT_HEALTH_KEYS", "DEFAULT_KEY_REFS", "VIRTUAL_SAM_PROFILE", "SamProfile", "load_sam_profile"]

#: ``80 DE`` (P1, P2) per health-card key, WS/T 543.4 key table
DEFAULT_HEALTH_KEYS: Mapping[str, tuple[int, int]] = {
    "RK_DDF1": (0x47, 0x31),
    "RK_DF01": (0x47, 0x32),
    "RK_DF02": (0x47, 0x33),
    "RK_DF03": (0x47, 0x34),
    "UK_DDF1": (0x27, 0x2A),
    "UK_DF01": (0x27, 0x2B),
    "UK_DF02_1": (0x47, 0x2C),
    "UK_DF02_2": (0x47, 0x2D),
    "UK_DF02_3": (0x47, 0x2E),
    "UK_DF03_1": (0x47, 0x2F),
    "UK_DF03_2": (0x27, 0x30),
    "STK_DDF1": (0x28, 0x02),
    "STK_DF01": (0x28, 0x03),
    "STK_DF02": (0x48, 0x04),
    "STK_DF03": (0x48, 0x05),
}

#: ``80 1A`` (key attribute, key index) per purpose (PSAM COS, sources.md V2 attribute table; index 1 in the demo).
DEFAULT_KEY_REFS: Mapping[str, tuple[int, int]] = {
    "line_protection": (0x05, 0x01),
    "external_auth": (0x0E, 0x01),
    "tac": (0x0C, 0x01),
    "pin_unblock": (0x0D, 0x01),
    "pin_reload": (0x0D, 0x02),
}


def _int(value: object, name: str, high: int = 0xFF) -> int:
    if isinstance(value, bool):
        raise DataError(f"{name}: an integer is required", field=name)
    if isinstance(value, str):
        try:
            value = int(value, 0) if value.lower().startswith("0x") else int(value, 16)
        except ValueError:
            raise DataError(f"{name}: {value!r} is not a number", field=name) from None
    if not isinstance(value, int) or not 0 <= value <= high:
        raise DataError(f"{name}: an integer 0..{high:#x} is required", field=name)
    return value


def _pairs(value: object, name: str) -> dict[str, tuple[int, int]]:
    if not isinstance(value, Mapping):
        raise DataError(f"{name}: a table of [P1, P2] pairs is required", field=name)
    out: dict[str, tuple[int, int]] = {}
    for key, pair in value.items():
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise DataError(f"{name}.{key}: a pair [P1, P2] is required", field=name)
        out[str(key)] = (_int(pair[0], f"{name}.{key}"), _int(pair[1], f"{name}.{key}"))
    return out


@dataclass(frozen=True, slots=True)
class SamProfile:
    """Vendor-specific parameters of a SAM.

    Attributes
    ----------
    name:
        A label for logs and ``healthcard sam info``.
    pin_key_id:
        P2 of VERIFY / CHANGE PIN (健康卡 SAM spec: commands: ``00``).
    health_df:
        FID of the health-card application DF (健康卡 SAM spec: files: DF01).
    purchase_p1p2, credit_p1p2:
        P1-P2 of ``80 70`` and ``80 72`` (JR/T 0025.2 purchase with a PSAM: ``00 00``).
    factors_card_first:
        Whether the card-specific factor comes first in the data of ``80 70`` / ``80 1A`` / ``80 DE`` (the
        references' order, JR/T 0025.2 purchase with a PSAM, PSAM COS, sources.md V2; WS/T 543.4 key table). ``False``
        sends the most general first. How the SAM then applies them is the SAM's own setting (docs/decisions.md D1).
    key_refs:
        ``80 1A`` (key attribute, key index) per purpose: ``line_protection``, ``external_auth``, ``tac`` ...
    health_keys:
        ``80 DE`` (P1, P2) per health-card key name.
    sm3_ins, sm2_sign_ins, load_mac2_ins, tac_verify_ins, sm2_public_key_fid:
        The project-extension commands of the virtual SAM (docs/sam.md); a real SAM's own values go here.
    max_data:
        Largest data field sent in one ``80 FA`` / ``80 C8`` command (longer inputs are chained).
    """

    name: str = "virtual"
    pin_key_id: int = 0x00
    health_df: int = 0xDF01
    purchase_p1p2: tuple[int, int] = (0x00, 0x00)
    credit_p1p2: tuple[int, int] = (0x00, 0x00)
    factors_card_first: bool = True
    key_refs: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_KEY_REFS))
    health_keys: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_HEALTH_KEYS))
    sm3_ins: int = 0xC8
    sm2_sign_ins: int = 0xCE
    load_mac2_ins: int = 0x7C
    tac_verify_ins: int = 0x7E
    sm2_public_key_fid: int = 0x001D
    max_data: int = 0xF0

    def __post_init__(self) -> None:
        if not 32 <= self.max_data <= 0xFF or self.max_data % 16:
            raise DataError("max_data: a multiple of 16 in 32..255 is required", field="max_data")

    def health_key(self, name: str) -> tuple[int, int]:
        """(P1, P2) of ``80 DE`` for the health-card key ``name``."""
        try:
            return self.health_keys[name]
        except KeyError:
            raise DataError(f"the SAM profile {self.name!r} has no health key {name!r}", field="key") from None

    def key_ref(self, purpose: str) -> tuple[int, int]:
        """(attribute, index) of ``80 1A`` for ``purpose``."""
        try:
            return self.key_refs[purpose]
        except KeyError:
            raise DataError(f"the SAM profile {self.name!r} has no key for {purpose!r}", field="key") from None

    def order_factors(self, card_first: list[bytes]) -> list[bytes]:
        """Factors given card-specific first, in the order this SAM expects them in the APDU."""
        return list(card_first) if self.factors_card_first else list(reversed(card_first))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SamProfile:
        """Build from a parsed JSON/TOML table; missing entries keep the defaults, unknown entries are errors."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DataError(f"unknown SAM profile entries: {', '.join(sorted(unknown))}", field="profile")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "name":
                values[key] = str(value)
            elif key == "factors_card_first":
                if not isinstance(value, bool):
                    raise DataError("factors_card_first: true or false", field=key)
                values[key] = value
            elif key in ("purchase_p1p2", "credit_p1p2"):
                values[key] = _pairs({key: value}, key)[key]
            elif key in ("key_refs", "health_keys"):
                base = dict(DEFAULT_KEY_REFS if key == "key_refs" else DEFAULT_HEALTH_KEYS)
                base.update(_pairs(value, key))
                values[key] = base
            elif key == "sm2_public_key_fid":
                values[key] = _int(value, key, 0xFFFF)
            else:
                values[key] = _int(value, key)
        return replace(cls(), **values)


VIRTUAL_SAM_PROFILE = SamProfile()


def load_sam_profile(path: str | os.PathLike[str]) -> SamProfile:
    """Read a profile from a ``.toml`` or ``.json`` file."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{p}: not a valid profile file ({exc.__class__.__name__})", field="profile") from None
    if not isinstance(data, dict):
        raise DataError(f"{p}: a table of profile entries is required", field="profile")
    return SamProfile.from_mapping(data)
