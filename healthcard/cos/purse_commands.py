"""PBOC ED/EP purse commands (JR/T 0025.1 purse commands, cryptography JR/T 0025.2 MAC/TAC via :mod:`sam.crypto`).

* INITIALIZE FOR LOAD / PURCHASE / UNLOAD ``80 50 P1 P2 0B | key index ‖ amount ‖ terminal ID`` (P2 ``01`` ED,
  ``02`` EP): a 4-byte card random, the session key, and for load/unload MAC1; the transaction waits for the
  very next command.
* CREDIT FOR LOAD ``80 52 00 00 0B | date ‖ time ‖ MAC2`` → TAC; DEBIT FOR PURCHASE ``80 54 01 00 0F | terminal
  serial ‖ date ‖ time ‖ MAC1`` → TAC ‖ MAC2; DEBIT FOR UNLOAD ``80 54 03 00 0B | date ‖ time ‖ MAC2`` → MAC.
  A wrong MAC answers 9302 and ends the transaction.
* Balance, counter, detail record (JR/T 0025.1 transaction detail file, cyclic file by SFI) and the last transaction's
  MAC ‖ TAC
  are committed in one atomic step; GET TRANSACTION PROVE ``80 5A 00 TT 02 | counter after`` returns that
  MAC ‖ TAC (order: JR/T 0025.1 GET TRANSACTION PROVE "more likely"; 9406 otherwise), so a purchase whose answer was
  lost can be recovered.
* GET BALANCE ``80 5C 00 P2 04``.

The overdraft limit (INITIALIZE FOR PURCHASE answer, detail records) is already part of the balance: PBOC's
UPDATE OVERDRAW LIMIT moves the balance by the change of the limit (docs/decisions.md D8), so a purchase needs
``amount <= balance`` and the balance never goes below 0 (9401 otherwise). Every balance this COS produces fits
the 4-byte unsigned field and loads from an image.

The unload answer MAC (session key over new balance ‖ online counter ‖ amount ‖ type ‖ terminal ‖ date ‖ time)
is this project's choice: JR/T 0025.1 INITIALIZE FOR UNLOAD only says it uses the session key [INF].
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_length, require_no_data
from apdu.fmcos import KeyType
from apdu.pboc import InitializeKind, TransactionType
from apdu.response_records import (
    CreditForLoadResponse,
    DebitForPurchaseResponse,
    DebitForUnloadResponse,
    InitForLoadResponse,
    InitForPurchaseResponse,
    TransactionProveResponse,
)
from apdu.status import SW
from healthcard.cos.sm import algorithm_of
from healthcard.fs.journal import Op, SetPurse, SetRecords
from healthcard.fs.keys import Key
from healthcard.fs.nodes import LastTransaction, PurseEF, RecordEF
from sam.crypto import (
    Algorithm,
    load_mac1,
    load_mac2,
    load_session_key,
    load_tac,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    purchase_tac,
    unload_mac,
)

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = [
    "MAX_BALANCE",
    "Pending",
    "credit_for_load",
    "debit",
    "get_balance",
    "get_transaction_prove",
    "initialize",
]

MAX_BALANCE = 0x7FFFFFFF
_LOAD, _PURCHASE, _UNLOAD = InitializeKind.LOAD, InitializeKind.PURCHASE, InitializeKind.UNLOAD
_KEY_TYPES: dict[int, KeyType] = {_LOAD: KeyType.LOAD, _PURCHASE: KeyType.PURCHASE, _UNLOAD: KeyType.UNLOAD}


@dataclass(slots=True)
class Pending:
    """An initialised purse transaction waiting for its second command (volatile)."""

    kind: int
    purse_fid: int
    alg: Algorithm
    key: Key = field(repr=False)
    random: bytes
    counter: int
    amount: int
    terminal_id: bytes
    tx_type: int
    session_key: bytes = field(default=b"", repr=False)


def _proprietary(cmd: Command) -> None:
    if cmd.cla != 0x80:
        raise SwError(SW.CLA_NOT_SUPPORTED)


def _purse(card: VirtualCard, p2: int) -> PurseEF:
    if p2 not in (0x01, 0x02):
        raise SwError(SW.WRONG_P1P2)
    node = card.df.children.get(p2)
    if not isinstance(node, PurseEF):
        raise SwError(SW.FILE_NOT_FOUND)
    card.need(node.read)
    return node


def _tac_key(card: VirtualCard) -> Key:
    key = card.key_file().find(KeyType.INTERNAL, 0x00)
    if key is None:
        raise SwError(SW.KEY_NOT_FOUND)
    return key


def initialize(card: VirtualCard, cmd: Command) -> bytes:
    """``80 50 P1 P2 0B``: P1 ``00`` load, ``01`` purchase, ``05`` unload."""
    _proprietary(cmd)
    kind = cmd.p1
    if kind not in (_LOAD, _PURCHASE, _UNLOAD):
        raise SwError(SW.WRONG_P1P2)
    data = require_length(cmd, 11)
    purse = _purse(card, cmd.p2)
    index, amount, terminal = data[0], int.from_bytes(data[1:5], "big"), data[5:11]
    key_type = _KEY_TYPES[kind]
    key = card.key_file().find(key_type, index)
    if key is None:
        raise SwError(SW.KEY_INDEX_UNSUPPORTED)
    card.need(key.use_right)
    _tac_key(card)
    alg, rnd, bal = algorithm_of(key.algorithm), card.rng(4), purse.balance
    if kind == _PURCHASE:
        if amount > bal:
            raise SwError(SW.INSUFFICIENT_FUNDS)
        if purse.offline_counter >= 0xFFFF:
            raise SwError(SW.COUNTER_MAX)
        tx = TransactionType.EP_PURCHASE if purse.is_ep else TransactionType.ED_PURCHASE
        card.pending = Pending(kind, purse.fid, alg, key, rnd, purse.offline_counter, amount, terminal, tx)
        answer = InitForPurchaseResponse(
            bal, purse.offline_counter, purse.overdraft_limit, key.version, key.algorithm, rnd
        )
        return answer.encode()
    if purse.online_counter >= 0xFFFF:
        raise SwError(SW.COUNTER_MAX)
    if kind == _LOAD and bal + amount > MAX_BALANCE:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    if kind == _UNLOAD and amount > bal:
        raise SwError(SW.INSUFFICIENT_FUNDS)
    load = TransactionType.EP_LOAD if purse.is_ep else TransactionType.ED_LOAD
    tx = TransactionType.UNLOAD if kind == _UNLOAD else load
    sk = load_session_key(alg, key.value, rnd, purse.online_counter)
    mac1 = load_mac1(alg, sk, bal, amount, tx, terminal)
    card.pending = Pending(kind, purse.fid, alg, key, rnd, purse.online_counter, amount, terminal, tx, sk)
    return InitForLoadResponse(bal, purse.online_counter, key.version, key.algorithm, rnd, mac1).encode()


def _take(card: VirtualCard, kind: int) -> tuple[Pending, PurseEF]:
    pending, card.pending = card.pending, None
    if pending is None or pending.kind != kind:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    node = card.df.children.get(pending.purse_fid)
    if not isinstance(node, PurseEF):
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    return pending, node


def _detail_ops(card: VirtualCard, purse: PurseEF, p: Pending, counter: int, date_time: bytes) -> list[Op]:
    detail = card.df.by_sfi(purse.detail_sfi)
    if not isinstance(detail, RecordEF):
        return []
    record = (counter.to_bytes(2, "big") + purse.overdraft_limit.to_bytes(3, "big") + p.amount.to_bytes(4, "big")
              + bytes((p.tx_type,)) + p.terminal_id + date_time)  # fmt: skip
    record = record[: detail.length].ljust(detail.length, b"\x00")
    return [SetRecords((*card.df_path, detail.fid), tuple([record, *detail.records][: detail.count]))]


def credit_for_load(card: VirtualCard, cmd: Command) -> bytes:
    """``80 52 00 00 0B | date(4) ‖ time(3) ‖ MAC2`` → TAC (JR/T 0025.1 CREDIT FOR LOAD, JR/T 0025.2 load MAC/TAC)."""
    _proprietary(cmd)
    if cmd.p1 or cmd.p2:
        card.pending = None
        raise SwError(SW.WRONG_P1P2)
    p, purse = _take(card, _LOAD)
    date_time, mac2 = _verified_host_mac2(card, p, cmd.data, "load:mac2-verified")
    balance = purse.balance + p.amount
    tac_key = _tac_key(card)
    tac = load_tac(algorithm_of(tac_key.algorithm), tac_key.value, balance, p.counter, p.amount, p.tx_type,
                   p.terminal_id, date_time)  # fmt: skip
    card.point("load:tac-computed")
    last = LastTransaction(p.tx_type, p.counter + 1, mac2, tac)
    ops: list[Op] = [SetPurse((*card.df_path, purse.fid), balance, p.counter + 1, purse.offline_counter, last)]
    card.commit(ops + _detail_ops(card, purse, p, p.counter, date_time), "load")
    return CreditForLoadResponse(tac).encode()


def _debit_purchase(card: VirtualCard, data: bytes) -> bytes:
    p, purse = _take(card, _PURCHASE)
    if len(data) != 15:
        raise SwError(SW.WRONG_LENGTH)
    serial, date_time, mac1 = int.from_bytes(data[:4], "big"), data[4:11], data[11:15]
    sk = purchase_session_key(p.alg, p.key.value, p.random, p.counter, serial)
    expected = purchase_mac1(p.alg, sk, p.amount, p.tx_type, p.terminal_id, date_time)
    if not hmac.compare_digest(expected, mac1):
        raise SwError(SW.MAC_ERROR)
    if p.amount > purse.balance:
        raise SwError(SW.INSUFFICIENT_FUNDS)
    card.point("purchase:mac1-verified")
    mac2 = purchase_mac2(p.alg, sk, p.amount)
    tac_key = _tac_key(card)
    tac = purchase_tac(algorithm_of(tac_key.algorithm), tac_key.value, p.amount, p.tx_type, p.terminal_id, serial,
                       date_time)  # fmt: skip
    card.point("purchase:tac-computed")
    last = LastTransaction(p.tx_type, p.counter + 1, mac2, tac)
    balance = purse.balance - p.amount
    ops: list[Op] = [SetPurse((*card.df_path, purse.fid), balance, purse.online_counter, p.counter + 1, last)]
    card.commit(ops + _detail_ops(card, purse, p, p.counter, date_time), "purchase")
    return DebitForPurchaseResponse(tac, mac2).encode()


def _verified_host_mac2(card: VirtualCard, p: Pending, data: bytes, point: str) -> tuple[bytes, bytes]:
    """Check the host's MAC2 over ``amount ‖ type ‖ TermID ‖ date ‖ time`` (JR/T 0025.2 load MAC/TAC, JR/T 0025.1
    INITIALIZE FOR UNLOAD) and return ``(date_time, mac2)``; 6700 on a wrong length, 9302 on a wrong MAC."""
    if len(data) != 11:
        raise SwError(SW.WRONG_LENGTH)
    date_time, mac2 = data[:7], data[7:11]
    expected = load_mac2(p.alg, p.session_key, p.amount, p.tx_type, p.terminal_id, date_time)
    if not hmac.compare_digest(expected, mac2):
        raise SwError(SW.MAC_ERROR)
    card.point(point)
    return date_time, mac2


def _debit_unload(card: VirtualCard, data: bytes) -> bytes:
    p, purse = _take(card, _UNLOAD)
    date_time, mac2 = _verified_host_mac2(card, p, data, "unload:mac2-verified")
    balance = purse.balance - p.amount
    answer = unload_mac(p.alg, p.session_key, balance, p.counter, p.amount, p.tx_type, p.terminal_id, date_time)
    last = LastTransaction(p.tx_type, p.counter + 1, mac2, answer)
    ops: list[Op] = [SetPurse((*card.df_path, purse.fid), balance, p.counter + 1, purse.offline_counter, last)]
    card.commit(ops + _detail_ops(card, purse, p, p.counter, date_time), "unload")
    return DebitForUnloadResponse(answer).encode()


def debit(card: VirtualCard, cmd: Command) -> bytes:
    """``80 54 01 00`` DEBIT FOR PURCHASE and ``80 54 03 00`` DEBIT FOR UNLOAD."""
    _proprietary(cmd)
    if cmd.p2 == 0x00:
        if cmd.p1 == 0x01:
            return _debit_purchase(card, cmd.data)
        if cmd.p1 == 0x03:
            return _debit_unload(card, cmd.data)
    card.pending = None
    raise SwError(SW.WRONG_P1P2)


def get_balance(card: VirtualCard, cmd: Command) -> bytes:
    """``80 5C 00 P2 04`` → balance (4 bytes)."""
    _proprietary(cmd)
    if cmd.p1:
        raise SwError(SW.WRONG_P1P2)
    purse = _purse(card, cmd.p2)
    require_no_data(cmd)
    return purse.balance.to_bytes(4, "big")


def get_transaction_prove(card: VirtualCard, cmd: Command) -> bytes:
    """``80 5A 00 TT 02 | counter after`` → MAC ‖ TAC of that transaction, or 9406."""
    _proprietary(cmd)
    if cmd.p1:
        raise SwError(SW.WRONG_P1P2)
    counter = int.from_bytes(require_length(cmd, 2), "big")
    for fid in (0x0002, 0x0001):
        purse = card.df.children.get(fid)
        if isinstance(purse, PurseEF) and purse.last is not None:
            last = purse.last
            if last.tx_type == cmd.p2 and last.counter_after == counter:
                return TransactionProveResponse(last.mac, last.tac).encode()
    raise SwError(SW.NO_TRANSACTION)
