"""PBOC electronic passbook / purse (ED/EP) command builders (JR/T 0025.1 data formats, purse commands).

Amounts are integer fen (unsigned 32-bit), counters 16-bit, terminal IDs 6 bytes, datetimes BCD
``YYYYMMDDhhmmss`` built from :class:`datetime.datetime`. The answers parse into the records of
:mod:`apdu.response_records` (:class:`~apdu.response_records.InitForPurchaseResponse` ...).
"""

from __future__ import annotations

import datetime as _dt
import enum

from apdu._checks import check_bytes, check_int, check_sfi
from apdu.bcd import encode_datetime
from apdu.command import Command

__all__ = [
    "InitializeKind",
    "Purse",
    "TransactionType",
    "credit_for_load",
    "debit_for_purchase",
    "debit_for_unload",
    "get_balance",
    "get_transaction_prove",
    "initialize_for_capp_purchase",
    "initialize_for_cash_withdraw",
    "initialize_for_load",
    "initialize_for_purchase",
    "initialize_for_unload",
    "initialize_for_update",
    "update_capp_data_cache",
    "update_overdraft_limit",
]


class Purse(enum.IntEnum):
    """P2 of INITIALIZE and GET BALANCE: which purse (JR/T 0025.1 data formats)."""

    ED = 0x01  # 电子存折, passbook
    EP = 0x02  # 电子钱包, purse


class TransactionType(enum.IntEnum):
    """Transaction-type identifiers (交易类型标识), entering MACs, TACs and detail records (JR/T 0025.1 data
    formats)."""

    ED_LOAD = 0x01
    EP_LOAD = 0x02
    UNLOAD = 0x03
    ED_CASH_WITHDRAW = 0x04
    ED_PURCHASE = 0x05
    EP_PURCHASE = 0x06
    ED_UPDATE_OVERDRAFT = 0x07
    CAPP_PURCHASE = 0x09


class InitializeKind(enum.IntEnum):
    """P1 of INITIALIZE (INS 50) (JR/T 0025.1 data formats); the virtual card dispatches on it too."""

    LOAD = 0x00
    PURCHASE = 0x01
    CASH_WITHDRAW = 0x02
    CAPP_PURCHASE = 0x03
    UPDATE_OVERDRAFT = 0x04
    UNLOAD = 0x05


def _amount(amount: int) -> bytes:
    return check_int("amount", amount, 0, 0xFFFFFFFF).to_bytes(4, "big")


def _initialize(
    kind: InitializeKind, purse: Purse, key_index: int, amount: int | None, terminal_id: bytes, le: int
) -> Command:
    data = bytes((check_int("key_index", key_index, 0, 0xFF),))
    if amount is not None:
        data += _amount(amount)
    data += check_bytes("terminal_id", terminal_id, 6)
    return Command(0x80, 0x50, int(kind), int(Purse(purse)), data, le)


def initialize_for_load(key_index: int, amount: int, terminal_id: bytes, *, purse: Purse = Purse.EP) -> Command:
    """INITIALIZE FOR LOAD ``80 50 00 P2 0B | KeyIdx ‖ Amount(4) ‖ TermID(6) | Le 10`` (JR/T 0025.1 INITIALIZE FOR
    LOAD).

    Answer: :class:`~apdu.response_records.InitForLoadResponse`.

    Example: the command of the published load example (``pboc_purse.json`` V1, passbook):

    >>> initialize_for_load(1, 0x1000, bytes.fromhex("001122334455"), purse=Purse.ED).encode().hex().upper()
    '805000010B010000100000112233445510'
    """
    return _initialize(InitializeKind.LOAD, purse, key_index, amount, terminal_id, 0x10)


def initialize_for_purchase(key_index: int, amount: int, terminal_id: bytes, *, purse: Purse = Purse.EP) -> Command:
    """INITIALIZE FOR PURCHASE ``80 50 01 P2 0B | KeyIdx ‖ Amount(4) ‖ TermID(6) | Le 0F`` (JR/T 0025.1 INITIALIZE FOR
    PURCHASE).

    Answer: :class:`~apdu.response_records.InitForPurchaseResponse`.

    Example: the command of the published purchase example (``pboc_purse.json`` V2):

    >>> initialize_for_purchase(1, 0x1000, bytes.fromhex("001122334455")).encode().hex().upper()
    '805001020B01000010000011223344550F'
    """
    return _initialize(InitializeKind.PURCHASE, purse, key_index, amount, terminal_id, 0x0F)


def initialize_for_unload(key_index: int, amount: int, terminal_id: bytes, *, purse: Purse = Purse.ED) -> Command:
    """INITIALIZE FOR UNLOAD ``80 50 05 01 0B | KeyIdx ‖ Amount ‖ TermID | Le 10`` (JR/T 0025.1 INITIALIZE FOR UNLOAD).

    Answer as for load: :class:`~apdu.response_records.InitForLoadResponse`.
    """
    return _initialize(InitializeKind.UNLOAD, purse, key_index, amount, terminal_id, 0x10)


def initialize_for_cash_withdraw(
    key_index: int, amount: int, terminal_id: bytes, *, purse: Purse = Purse.ED
) -> Command:
    """INITIALIZE FOR CASH WITHDRAW ``80 50 02 01 0B | … | Le 0F`` (JR/T 0025.1 DEBIT FOR CASH WITHDRAW; purchase-style
    answer)."""
    return _initialize(InitializeKind.CASH_WITHDRAW, purse, key_index, amount, terminal_id, 0x0F)


def initialize_for_capp_purchase(
    key_index: int, amount: int, terminal_id: bytes, *, purse: Purse = Purse.EP
) -> Command:
    """INITIALIZE FOR CAPP PURCHASE ``80 50 03 02 0B | … | Le 0F`` (JR/T 0025 CAPP purchase; purchase-style answer)."""
    return _initialize(InitializeKind.CAPP_PURCHASE, purse, key_index, amount, terminal_id, 0x0F)


def initialize_for_update(key_index: int, terminal_id: bytes, *, purse: Purse = Purse.ED) -> Command:
    """INITIALIZE FOR UPDATE (overdraft limit) ``80 50 04 01 07 | KeyIdx ‖ TermID | Le 13`` (JR/T 0025.1 UPDATE OVERDRAW
    LIMIT).

    Answer: :class:`~apdu.response_records.InitForUpdateResponse`.
    """
    return _initialize(InitializeKind.UPDATE_OVERDRAFT, purse, key_index, None, terminal_id, 0x13)


def credit_for_load(when: _dt.datetime, mac2: bytes) -> Command:
    """CREDIT FOR LOAD ``80 52 00 00 0B | date(4) ‖ time(3) ‖ MAC2(4) | Le 04`` (JR/T 0025.1 CREDIT FOR LOAD).

    Answer: :class:`~apdu.response_records.CreditForLoadResponse` (TAC).

    Example: the CREDIT FOR LOAD of the published load example (``pboc_purse.json`` V1):

    >>> import datetime
    >>> when = datetime.datetime(2011, 12, 21, 21, 48, 22)
    >>> credit_for_load(when, bytes.fromhex("3A845BF0")).encode().hex().upper()
    '805200000B201112212148223A845BF004'
    """
    return Command(0x80, 0x52, 0x00, 0x00, encode_datetime(when) + check_bytes("mac2", mac2, 4), 0x04)


def debit_for_purchase(terminal_serial: int, when: _dt.datetime, mac1: bytes) -> Command:
    """DEBIT FOR PURCHASE ``80 54 01 00 0F | serial(4) ‖ date(4) ‖ time(3) ‖ MAC1(4) | Le 08`` (JR/T 0025.1 DEBIT FOR
    PURCHASE).

    ``terminal_serial`` is the PSAM's terminal transaction serial. The same command serves CAPP purchases
    (JR/T 0025 CAPP purchase). Answer: :class:`~apdu.response_records.DebitForPurchaseResponse` (TAC ‖ MAC2).
    """
    serial = check_int("terminal_serial", terminal_serial, 0, 0xFFFFFFFF).to_bytes(4, "big")
    return Command(0x80, 0x54, 0x01, 0x00, serial + encode_datetime(when) + check_bytes("mac1", mac1, 4), 0x08)


def debit_for_unload(when: _dt.datetime, mac2: bytes) -> Command:
    """DEBIT FOR UNLOAD ``80 54 03 00 0B | date ‖ time ‖ MAC2 | Le 04`` (JR/T 0025.1 INITIALIZE FOR UNLOAD).

    Answer: :class:`~apdu.response_records.DebitForUnloadResponse` (a session-key MAC).
    """
    return Command(0x80, 0x54, 0x03, 0x00, encode_datetime(when) + check_bytes("mac2", mac2, 4), 0x04)


def update_overdraft_limit(new_limit: int, when: _dt.datetime, mac2: bytes) -> Command:
    """UPDATE OVERDRAW LIMIT ``80 58 00 00 0E | new limit(3) ‖ date ‖ time ‖ MAC2 | Le 04`` (JR/T 0025.1 UPDATE OVERDRAW
    LIMIT).

    The reference lists no Le; the answer is the 4-byte TAC
    (:class:`~apdu.response_records.UpdateOverdraftLimitResponse`), so Le ``04`` is sent as for CREDIT FOR LOAD.
    """
    limit = check_int("new_limit", new_limit, 0, 0xFFFFFF).to_bytes(3, "big")
    return Command(0x80, 0x58, 0x00, 0x00, limit + encode_datetime(when) + check_bytes("mac2", mac2, 4), 0x04)


def get_balance(purse: Purse = Purse.EP) -> Command:
    """GET BALANCE ``80 5C 00 P2 04`` (JR/T 0025.1 GET BALANCE). Answer:
    :class:`~apdu.response_records.BalanceResponse`.

    >>> get_balance().encode().hex().upper()
    '805C000204'
    """
    return Command(0x80, 0x5C, 0x00, int(Purse(purse)), le=0x04)


def get_transaction_prove(transaction_type: TransactionType | int, counter: int) -> Command:
    """GET TRANSACTION PROVE ``80 5A 00 TT 02 | counter(2) | Le 08`` (JR/T 0025.1 GET TRANSACTION PROVE).

    ``transaction_type`` is the type of the transaction being proved (02 EP load, 06 EP purchase, 09 CAPP);
    ``counter`` the card counter *after* it (the counter used + 1). Answer:
    :class:`~apdu.response_records.TransactionProveResponse` (MAC ‖ TAC).

    >>> get_transaction_prove(TransactionType.EP_PURCHASE, 5).encode().hex().upper()
    '805A000602000508'
    """
    tt = check_int("transaction_type", int(transaction_type), 0, 0xFF)
    data = check_int("counter", counter, 0, 0xFFFF).to_bytes(2, "big")
    return Command(0x80, 0x5A, 0x00, tt, data, 0x08)


def update_capp_data_cache(identifier: int, sfi: int, record: bytes) -> Command:
    """UPDATE CAPP DATA CACHE ``80 DC P1 SFI<<3 Lc record`` (JR/T 0025 CAPP purchase; e.g. ``80 DC 02 D0 …``)."""
    check_int("identifier", identifier, 0, 0xFF)
    return Command(0x80, 0xDC, identifier, check_sfi(sfi) << 3, check_bytes("record", record, low=1, high=255))
