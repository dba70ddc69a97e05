"""Where card keys come from: the :class:`KeySource` protocol and the demo key store (test only).

Card keys are diversified from master keys: health keys (SM4) one level with cardNo or two levels with the city
factor first (docs/decisions.md D1); purse keys (3DES) one level with the rightmost 8 bytes of the application
serial; the MF master key (3DES) with cardNo; the transport key is used as is. The master keys of the health
DFs (``MK_DDF1``, ``MK_DF01`` ...; docs/decisions.md D10) are SM4 keys diversified from the issuer's MF master key
in two levels, the DF name (ASCII, ``00``-padded to 8 bytes: ``DDF1\0\0\0\0``) first, then cardNo (D1's
order): only the issuer holds them, terminal SAMs do not. A production key source is an
HSM that returns keys already wrapped for the card; keys must never be logged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from apdu.errors import DataError
from sam.crypto import Algorithm, diversify, health_card_key

__all__ = ["DEMO_KEYS_PATH", "DF_MASTER_PREFIX", "DemoKeySource", "KeySource"]

DF_MASTER_PREFIX = "MK_"

DEMO_KEYS_PATH = Path(__file__).resolve().parents[2] / "sam" / "data" / "demo-keys.json"


@runtime_checkable
class KeySource(Protocol):
    """Gives the card key ``name`` for a card (``card_no``: cardNo or the purse factor, 8 bytes)."""

    def card_key(self, name: str, card_no: bytes, city: bytes | None) -> bytes:
        """The diversified card key; ``city`` is the second-level factor or ``None`` for one level."""
        ...


class DemoKeySource:
    """The shipped demo master keys (``sam/data/demo-keys.json``). Test and demo use only."""

    def __init__(self, path: str | Path = DEMO_KEYS_PATH) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self._health = {k: bytes.fromhex(v) for k, v in data["health_app"]["master_keys"].items()}
        self._purse = {k: bytes.fromhex(v) for k, v in data["purse_app"]["master_keys"].items()}
        self._transport = bytes.fromhex(data["issuance"]["transport_key"])
        self._mf_master = bytes.fromhex(data["issuance"]["mf_master_key"])

    def __repr__(self) -> str:
        return "DemoKeySource(<keys hidden>)"

    def card_key(self, name: str, card_no: bytes, city: bytes | None) -> bytes:
        """Diversify the demo master key called ``name``."""
        if len(card_no) != 8 or (city is not None and len(city) != 8):
            raise DataError("diversification factors are 8 bytes", field="card_no")
        if name == "TRANSPORT":
            return self._transport
        if name == "MF_MASTER":
            return diversify(Algorithm.TDES, self._mf_master, card_no)
        if name in self._purse:
            return diversify(Algorithm.TDES, self._purse[name], card_no)
        if name in self._health:
            return health_card_key(self._health[name], card_no, city)
        df_name = name.removeprefix(DF_MASTER_PREFIX)
        if name.startswith(DF_MASTER_PREFIX) and 1 <= len(df_name) <= 8 and df_name.isascii():
            return health_card_key(self._mf_master, card_no, df_name.encode("ascii").ljust(8, b"\0"))
        raise DataError(f"no master key called {name!r} in the demo key set", field="key")
