"""Purse (ED/EP) cryptography: session keys, MAC1, MAC2 and TAC of load and purchase.

Sources: pboc-purse.md §3.2 (session keys), §3.3 (load), §3.4 (purchase), §3.5 (SM4 variant). Amounts, balances
and counters are unsigned big-endian; ``date_time`` is 7 bytes BCD ``YYYYMMDDhhmmss``; ``terminal_id`` 6 bytes.
Anchors: pboc_purse.json (published examples) and regression.json (diversified 3DES and SM4 cases).
"""

from __future__ import annotations

from sam.crypto.algorithm import Algorithm
from sam.crypto.ciphers import encrypt_ecb
from sam.crypto.diversify import invert
from sam.crypto.errors import CryptoError
from sam.crypto.mac import session_mac

__all__ = [
    "load_mac1",
    "load_mac2",
    "load_session_key",
    "load_tac",
    "purchase_mac1",
    "purchase_mac2",
    "purchase_session_key",
    "purchase_tac",
    "tac_session_key",
]


def _u(value: int, size: int, name: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise CryptoError(f"{name}: {value} does not fit {size} unsigned bytes")
    return value.to_bytes(size, "big")


def _fixed(value: bytes, size: int, name: str) -> bytes:
    if len(value) != size:
        raise CryptoError(f"{name}: must be {size} bytes, not {len(value)}")
    return value


def _session_key(alg: Algorithm, key: bytes, block: bytes) -> bytes:
    if alg is Algorithm.SM4:
        return encrypt_ecb(alg, key, block + invert(block))
    if len(key) not in (8, 16):
        raise CryptoError(f"key: a 3DES purse key is 8 or 16 bytes, not {len(key)}")
    return encrypt_ecb(alg, key, block)


def _transaction_fields(amount: int, tx_type: int, terminal_id: bytes, date_time: bytes) -> bytes:
    """``amount(4) ‖ type(1) ‖ TermID(6) ‖ date(4) ‖ time(3)``: purchase MAC1 and load MAC2 (§3.3, §3.4)."""
    return (
        _u(amount, 4, "amount")
        + _u(tx_type, 1, "tx_type")
        + _fixed(terminal_id, 6, "terminal_id")
        + _fixed(date_time, 7, "date_time")
    )


def purchase_session_key(
    alg: Algorithm, purchase_key: bytes, icc_random: bytes, offline_counter: int, terminal_serial: int
) -> bytes:
    """SESPK from ``ICC random(4) ‖ offline counter(2) ‖ low 2 bytes of the terminal serial`` (§3.2, §3.5)."""
    block = (
        _fixed(icc_random, 4, "icc_random")
        + _u(offline_counter, 2, "offline_counter")
        + _u(terminal_serial, 4, "terminal_serial")[2:]
    )
    return _session_key(alg, purchase_key, block)


def load_session_key(alg: Algorithm, load_key: bytes, icc_random: bytes, online_counter: int) -> bytes:
    """SESLK from ``ICC random(4) ‖ online counter(2) ‖ 80 00`` (§3.2, §3.5)."""
    block = _fixed(icc_random, 4, "icc_random") + _u(online_counter, 2, "online_counter") + b"\x80\x00"
    return _session_key(alg, load_key, block)


def tac_session_key(alg: Algorithm, tac_key: bytes) -> bytes:
    """The key the TAC is computed with: ``DTK_L ⊕ DTK_R`` for 3DES (§3.4), the DTK itself for SM4 (§3.5)."""
    if alg is Algorithm.SM4:
        return _fixed(tac_key, 16, "tac_key")
    _fixed(tac_key, 16, "tac_key")
    return bytes(a ^ b for a, b in zip(tac_key[:8], tac_key[8:], strict=True))


def purchase_mac1(
    alg: Algorithm, session_key: bytes, amount: int, tx_type: int, terminal_id: bytes, date_time: bytes
) -> bytes:
    """MAC1 over ``amount(4) ‖ type(1) ‖ TermID(6) ‖ date(4) ‖ time(3)`` (§3.4)."""
    return session_mac(alg, session_key, _transaction_fields(amount, tx_type, terminal_id, date_time))


def purchase_mac2(alg: Algorithm, session_key: bytes, amount: int) -> bytes:
    """MAC2 over ``amount(4)`` only (§3.4)."""
    return session_mac(alg, session_key, _u(amount, 4, "amount"))


def purchase_tac(
    alg: Algorithm,
    tac_key: bytes,
    amount: int,
    tx_type: int,
    terminal_id: bytes,
    terminal_serial: int,
    date_time: bytes,
) -> bytes:
    """TAC over ``amount ‖ type ‖ TermID ‖ terminal serial(4) ‖ date ‖ time`` with the TAC key (§3.4)."""
    data = (
        _u(amount, 4, "amount")
        + _u(tx_type, 1, "tx_type")
        + _fixed(terminal_id, 6, "terminal_id")
        + _u(terminal_serial, 4, "terminal_serial")
        + _fixed(date_time, 7, "date_time")
    )
    return session_mac(alg, tac_session_key(alg, tac_key), data)


def load_mac1(
    alg: Algorithm, session_key: bytes, balance_before: int, amount: int, tx_type: int, terminal_id: bytes
) -> bytes:
    """Load MAC1 over ``old balance(4) ‖ amount(4) ‖ type(1) ‖ TermID(6)`` (§3.3)."""
    data = (
        _u(balance_before, 4, "balance_before")
        + _u(amount, 4, "amount")
        + _u(tx_type, 1, "tx_type")
        + _fixed(terminal_id, 6, "terminal_id")
    )
    return session_mac(alg, session_key, data)


def load_mac2(
    alg: Algorithm, session_key: bytes, amount: int, tx_type: int, terminal_id: bytes, date_time: bytes
) -> bytes:
    """Load MAC2 over ``amount(4) ‖ type(1) ‖ TermID(6) ‖ date(4) ‖ time(3)`` (§3.3)."""
    return session_mac(alg, session_key, _transaction_fields(amount, tx_type, terminal_id, date_time))


def load_tac(
    alg: Algorithm,
    tac_key: bytes,
    balance_after: int,
    online_counter: int,
    amount: int,
    tx_type: int,
    terminal_id: bytes,
    date_time: bytes,
) -> bytes:
    """Load TAC over ``new balance ‖ online counter before increment ‖ amount ‖ type ‖ TermID ‖ date ‖ time``."""
    data = (
        _u(balance_after, 4, "balance_after")
        + _u(online_counter, 2, "online_counter")
        + _u(amount, 4, "amount")
        + _u(tx_type, 1, "tx_type")
        + _fixed(terminal_id, 6, "terminal_id")
        + _fixed(date_time, 7, "date_time")
    )
    return session_mac(alg, tac_session_key(alg, tac_key), data)
