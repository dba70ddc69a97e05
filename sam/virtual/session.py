"""Volatile SAM state, cleared at every power-on and reset (apdu/card.py contract; pcscd polling, sources.md F5)."""

from __future__ import annotations

from dataclasses import dataclass

from sam.crypto import Algorithm
from sam.keystore import KeyUsage
from sam.virtual.files import DF, EF

__all__ = ["PendingPurchase", "Session", "WorkingKey"]


@dataclass(frozen=True, slots=True, repr=False)
class WorkingKey:
    """The key set by ``80 1A`` / ``80 DE`` for ``80 FA`` (a diversified or session key; never readable)."""

    algorithm: Algorithm
    usage: KeyUsage
    value: bytes

    def __repr__(self) -> str:
        return f"WorkingKey({self.algorithm.name}, {self.usage.name}, <hidden>)"


@dataclass(frozen=True, slots=True, repr=False)
class PendingPurchase:
    """What CREDIT_SAM_FOR_PURCHASE needs from the preceding INIT_SAM_FOR_PURCHASE."""

    algorithm: Algorithm
    session_key: bytes
    amount: int

    def __repr__(self) -> str:
        return f"PendingPurchase(amount={self.amount}, <session key hidden>)"


@dataclass(slots=True)
class Session:
    """Everything a power cycle forgets."""

    current_df: DF
    current_ef: EF | None = None
    pin_verified: bool = False
    challenge: bytes | None = None
    working_key: WorkingKey | None = None
    mac_chain: bytes | None = None
    purchase: PendingPurchase | None = None
    pending_response: bytes = b""
    sm3_buffer: bytearray | None = None

    def __repr__(self) -> str:
        return f"Session(df={self.current_df.fid:04X}, pin_verified={self.pin_verified})"
