"""Purse (ED/EP) cryptography: session keys, MAC1, MAC2 and TAC of load and purchase.

Sources: JR/T 0025.2 session key (session keys), JR/T 0025.2 load MAC/TAC (load), JR/T 0025.2 purchase MAC/TAC
(purchase), SM4 purse variant, sources.md F1 (SM4 variant). Amounts, balances and counters are unsigned big-endian;
``date_time`` is 7 bytes BCD ``YYYYMMDDhhmmss``; ``terminal_id`` 6 bytes. Anchors: pboc_purse.json (published examples)
and regression.json (diversified 3DES and SM4 cases).
"""

from __future__ import annotations

from apdu.errors import ApduFormatError
from apdu.layout import Layout, raw, uint
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
    "load_tac_data",
    "purchase_mac1",
    "purchase_mac2",
    "purchase_session_key",
    "purchase_tac",
    "purchase_tac_data",
    "tac_mac",
    "tac_session_key",
    "transaction_mac",
    "unload_mac",
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


# The data each MAC and TAC is computed over, declared once (JR/T 0025.2 load MAC/TAC, JR/T 0025.2 purchase MAC/TAC).
_AMOUNT, _TX_TYPE, _TERMINAL, _DATE_TIME = (
    uint("amount", 4),
    uint("tx_type", 1),
    raw("terminal_id", 6),
    raw("date_time", 7),
)
LOAD_MAC1_DATA = Layout(uint("balance_before", 4), _AMOUNT, _TX_TYPE, _TERMINAL)
"""Load MAC1: ``old balance(4) ‖ amount(4) ‖ type(1) ‖ TermID(6)``."""
TRANSACTION_DATA = Layout(_AMOUNT, _TX_TYPE, _TERMINAL, _DATE_TIME)
"""Purchase MAC1 and load MAC2: ``amount(4) ‖ type(1) ‖ TermID(6) ‖ date(4) ‖ time(3)``."""
PURCHASE_MAC2_DATA = Layout(_AMOUNT)
"""Purchase MAC2: ``amount(4)`` only."""
PURCHASE_TAC_DATA = Layout(_AMOUNT, _TX_TYPE, _TERMINAL, uint("terminal_serial", 4), _DATE_TIME)
"""Purchase TAC: ``amount ‖ type ‖ TermID ‖ terminal serial(4) ‖ date ‖ time``."""
LOAD_TAC_DATA = Layout(uint("balance_after", 4), uint("online_counter", 2), _AMOUNT, _TX_TYPE, _TERMINAL, _DATE_TIME)
"""Load TAC and the unload answer MAC: ``new balance ‖ online counter before increment ‖ amount ‖ type ‖ TermID ‖
date ‖ time``."""


def _data(layout: Layout, *values: int | bytes) -> bytes:
    """``layout`` packed from ``values`` (in its declaration order); a value that does not fit is a
    :class:`CryptoError` naming its field."""
    try:
        return layout.pack(*values)
    except ApduFormatError as exc:
        raise CryptoError(exc.message) from None


def purchase_session_key(
    alg: Algorithm, purchase_key: bytes, icc_random: bytes, offline_counter: int, terminal_serial: int
) -> bytes:
    """SESPK from ``ICC random(4) ‖ offline counter(2) ‖ low 2 bytes of the terminal serial`` (JR/T 0025.2 session key,
        SM4 purse variant, sources.md F1).

    Example: the published purchase example (``pboc_purse.json`` V2), counter 0, terminal serial 1.

    >>> from sam.crypto.algorithm import Algorithm
    >>> dpk = bytes.fromhex("11223344556677888877665544332211")
    >>> purchase_session_key(Algorithm.TDES, dpk, bytes.fromhex("11223344"), 0, 1).hex().upper()
    '003238ABC57659DD'
    """
    block = (
        _fixed(icc_random, 4, "icc_random")
        + _u(offline_counter, 2, "offline_counter")
        + _u(terminal_serial, 4, "terminal_serial")[2:]
    )
    return _session_key(alg, purchase_key, block)


def load_session_key(alg: Algorithm, load_key: bytes, icc_random: bytes, online_counter: int) -> bytes:
    """SESLK from ``ICC random(4) ‖ online counter(2) ‖ 80 00`` (JR/T 0025.2 session key, SM4 purse variant, sources.md
        F1).

    Example: the published load example (``pboc_purse.json`` V1).

    >>> from sam.crypto.algorithm import Algorithm
    >>> dlk = bytes.fromhex("11223344556677888877665544332211")
    >>> load_session_key(Algorithm.TDES, dlk, bytes.fromhex("11223344"), 0).hex().upper()
    '9B1D924E05595603'
    """
    block = _fixed(icc_random, 4, "icc_random") + _u(online_counter, 2, "online_counter") + b"\x80\x00"
    return _session_key(alg, load_key, block)


def tac_session_key(alg: Algorithm, tac_key: bytes) -> bytes:
    """The key the TAC is computed with: ``DTK_L ⊕ DTK_R`` for 3DES (JR/T 0025.2 purchase MAC/TAC), the DTK itself for
        SM4 (SM4 purse variant, sources.md F1).

    >>> from sam.crypto.algorithm import Algorithm
    >>> tac_session_key(Algorithm.TDES, bytes.fromhex("11223344556677888877665544332211")).hex().upper()
    '9955551111555599'
    """
    if alg is Algorithm.SM4:
        return _fixed(tac_key, 16, "tac_key")
    _fixed(tac_key, 16, "tac_key")
    return bytes(a ^ b for a, b in zip(tac_key[:8], tac_key[8:], strict=True))


def transaction_mac(
    alg: Algorithm, session_key: bytes, amount: int, tx_type: int, terminal_id: bytes, date_time: bytes
) -> bytes:
    """The session-key MAC over :data:`TRANSACTION_DATA` ``amount(4) ‖ type(1) ‖ TermID(6) ‖ date(4) ‖ time(3)``:
    purchase MAC1 and load MAC2 are this one MAC (JR/T 0025.2 purchase MAC/TAC, JR/T 0025.2 load MAC/TAC).

    Examples (``pboc_purse.json``): V2 purchase MAC1, amount 0x1000 fen, type 06, 2012-02-29 13:51:00; V1 load
    MAC2, amount 0x1000 fen, type 01, 2011-12-21 21:48:22.

    >>> from sam.crypto.algorithm import Algorithm
    >>> terminal = bytes.fromhex("001122334455")
    >>> sk, when = bytes.fromhex("003238ABC57659DD"), bytes.fromhex("20120229135100")
    >>> purchase_mac1(Algorithm.TDES, sk, 0x1000, 0x06, terminal, when).hex().upper()
    'F15CAB75'
    >>> sk, when = bytes.fromhex("9B1D924E05595603"), bytes.fromhex("20111221214822")
    >>> load_mac2(Algorithm.TDES, sk, 0x1000, 0x01, terminal, when).hex().upper()
    '3A845BF0'
    """
    data = _data(TRANSACTION_DATA, amount, tx_type, terminal_id, date_time)
    return session_mac(alg, session_key, data)


purchase_mac1 = transaction_mac  # MAC1 of a purchase (the PSAM's, checked by the card)
load_mac2 = transaction_mac  # MAC2 of a load (the host's, checked by the card)


def purchase_mac2(alg: Algorithm, session_key: bytes, amount: int) -> bytes:
    """MAC2 over ``amount(4)`` only (JR/T 0025.2 purchase MAC/TAC).

    >>> from sam.crypto.algorithm import Algorithm
    >>> purchase_mac2(Algorithm.TDES, bytes.fromhex("003238ABC57659DD"), 0x1000).hex().upper()  # V2
    '56988A13'
    """
    return session_mac(alg, session_key, _data(PURCHASE_MAC2_DATA, amount))


def purchase_tac(
    alg: Algorithm,
    tac_key: bytes,
    amount: int,
    tx_type: int,
    terminal_id: bytes,
    terminal_serial: int,
    date_time: bytes,
) -> bytes:
    """TAC over ``amount ‖ type ‖ TermID ‖ terminal serial(4) ‖ date ‖ time`` with the TAC key (JR/T 0025.2 purchase
    MAC/TAC)."""
    return tac_mac(alg, tac_key, purchase_tac_data(amount, tx_type, terminal_id, terminal_serial, date_time))


def purchase_tac_data(amount: int, tx_type: int, terminal_id: bytes, terminal_serial: int, date_time: bytes) -> bytes:
    """What a purchase TAC covers, :data:`PURCHASE_TAC_DATA` (22 bytes; the host SAM's ``80 7E`` checks a TAC over
    it)."""
    return _data(PURCHASE_TAC_DATA, amount, tx_type, terminal_id, terminal_serial, date_time)


def tac_mac(alg: Algorithm, tac_key: bytes, data: bytes) -> bytes:
    """The TAC of ``data`` (:func:`purchase_tac_data` or :func:`load_tac_data`) under the card's TAC key: the session
    MAC keyed with :func:`tac_session_key` (JR/T 0025.2 purchase MAC/TAC; SM4 purse variant, sources.md F1)."""
    return session_mac(alg, tac_session_key(alg, tac_key), data)


def load_mac1(
    alg: Algorithm, session_key: bytes, balance_before: int, amount: int, tx_type: int, terminal_id: bytes
) -> bytes:
    """Load MAC1 over ``old balance(4) ‖ amount(4) ‖ type(1) ‖ TermID(6)`` (JR/T 0025.2 load MAC/TAC).

    Example (``pboc_purse.json`` V1): balance 0, amount 0x1000 fen, type 01, terminal ``001122334455``.

    >>> from sam.crypto.algorithm import Algorithm
    >>> sk = bytes.fromhex("9B1D924E05595603")
    >>> load_mac1(Algorithm.TDES, sk, 0, 0x1000, 0x01, bytes.fromhex("001122334455")).hex().upper()
    '2988AE5A'
    """
    data = _data(LOAD_MAC1_DATA, balance_before, amount, tx_type, terminal_id)
    return session_mac(alg, session_key, data)


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
    """Load TAC over :data:`LOAD_TAC_DATA` with the TAC key (JR/T 0025.2 load MAC/TAC)."""
    return tac_mac(alg, tac_key, load_tac_data(balance_after, online_counter, amount, tx_type, terminal_id, date_time))


def unload_mac(
    alg: Algorithm,
    session_key: bytes,
    balance_after: int,
    online_counter: int,
    amount: int,
    tx_type: int,
    terminal_id: bytes,
    date_time: bytes,
) -> bytes:
    """The DEBIT FOR UNLOAD answer MAC: :data:`LOAD_TAC_DATA` under the session key (the layout is this project's
    choice, JR/T 0025.1 INITIALIZE FOR UNLOAD only says the session key is used [INF])."""
    data = load_tac_data(balance_after, online_counter, amount, tx_type, terminal_id, date_time)
    return session_mac(alg, session_key, data)


def load_tac_data(
    balance_after: int, online_counter: int, amount: int, tx_type: int, terminal_id: bytes, date_time: bytes
) -> bytes:
    """What a load TAC (and the unload answer MAC) covers, :data:`LOAD_TAC_DATA` (24 bytes; the host SAM's ``80 7E``
    checks a TAC over it)."""
    return _data(LOAD_TAC_DATA, balance_after, online_counter, amount, tx_type, terminal_id, date_time)
