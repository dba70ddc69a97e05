"""Helpers shared by the SAM tests: APDU shortcuts and small key stores."""

from __future__ import annotations

from apdu.card import SimulatedCard
from sam.crypto import Algorithm
from sam.keystore import KeyEntry, KeyStore, KeyUsage

H = bytes.fromhex
#: The published purse examples' card key (pboc_purse.json: DPK of pboc-purchase-v2, DLK of pboc-load-v1).
VECTOR_KEY = H("11223344556677888877665544332211")


def run(card: SimulatedCard, apdu: str | bytes) -> tuple[bytes, int]:
    """Execute one APDU (hex text or bytes); return (data, SW)."""
    raw = H(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu
    out = card.execute(raw)
    assert len(out) >= 2
    return out[:-2], int.from_bytes(out[-2:], "big")


def sw_of(card: SimulatedCard, apdu: str | bytes) -> int:
    """Only the status word."""
    return run(card, apdu)[1]


def vector_store(*, purchase_version: int = 1, load_version: int = 2) -> KeyStore:
    """A key store whose purchase and load keys are the published vectors' card keys, used undiversified."""
    return KeyStore(
        [
            KeyEntry("purchase", "purse", Algorithm.TDES, KeyUsage.PURCHASE, 1, purchase_version, VECTOR_KEY),
            KeyEntry("load", "purse", Algorithm.TDES, KeyUsage.LOAD, 1, load_version, VECTOR_KEY),
        ],
        terminal_id=H("001122334455"),
    )
