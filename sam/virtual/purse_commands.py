"""Purse commands: INIT_SAM_FOR_PURCHASE ``80 70``, CREDIT_SAM_FOR_PURCHASE ``80 72`` (JR/T 0025.2 purchase with a PSAM)
and the project's load authorisation ``80 7C`` (an extension: real PSAMs do not hold load keys, JR/T 0025.2 load
MAC/TAC).

``80 70 00 00 Lc | ICC random(4) ‖ offline counter(2) ‖ amount(4) ‖ type(1) ‖ datetime(7) ‖ key version(1) ‖
algorithm(1) ‖ factors(8N)``, Lc = ``14 + 8N`` (N = 0..3; N = 0 uses the purchase key undiversified) →
``terminal serial(4) ‖ MAC1(4)``. The serial is incremented, saved, and its low two bytes enter the session key
(JR/T 0025.2 session key); MAC1 covers amount ‖ type ‖ terminal ID (EF16) ‖ datetime (JR/T 0025.2 purchase MAC/TAC). No
purchase key for the version and algorithm → ``9403``.

``80 72 00 00 04 | MAC2`` → ``9000`` if MAC2 = MAC(SESPK, amount), else ``9302``. Either way the purchase
session ends; without one → ``6985``. Both need the verified SAM PIN (``6982``), as every key-using command of
this SAM does (issue #11 item 6).

``80 7C 00 00 Lc | ICC random(4) ‖ online counter(2) ‖ balance before(4) ‖ amount(4) ‖ type(1) ‖ terminal ID(6) ‖
datetime(7) ‖ MAC1(4) ‖ key version(1) ‖ algorithm(1) ‖ factors(8N)``, Lc = ``22 + 8N``: verifies the card's
load MAC1 (``9302`` if wrong) and returns the load MAC2 for CREDIT FOR LOAD (JR/T 0025.2 load MAC/TAC). Needs the SAM
PIN. With type ``03`` (unload, 圈提, JR/T 0025.1 INITIALIZE FOR UNLOAD) it uses the unload master key instead and
answers ``MAC2 ‖ answer MAC`` (8 bytes): the MAC the card's DEBIT FOR UNLOAD must answer, over new balance ‖ online
counter ‖ amount ‖ type ‖ terminal ID ‖ datetime (the project's layout, docs/virtual-card.md), so the terminal can
check that the card really unloaded. No such key → ``9403``.

``80 7E P1 00 Lc | covered ‖ TAC(4) ‖ key version(1) ‖ algorithm(1) ‖ factors(8N)`` (project extension, the host
SAM's TAC check): P1 is the transaction type the TAC covers; ``covered`` is what the card's TAC covers (JR/T 0025.2
purchase MAC/TAC, load MAC/TAC): for a purchase (``05``/``06``) ``amount(4) ‖ type(1) ‖ TermID(6) ‖ terminal
serial(4) ‖ datetime(7)``, 22 bytes; for a load (``01``/``02``) ``new balance(4) ‖ online counter(2) ‖ amount(4) ‖
type(1) ‖ TermID(6) ‖ datetime(7)``, 24 bytes; its type byte must equal P1. ``9000`` if the TAC is right under the
TAC master key of that version and algorithm diversified through the factors, ``9302`` if not; no data either way:
the SAM verifies TACs, it never makes one. ``9403`` no TAC key, ``6A80`` type byte ≠ P1, ``6A86`` P1/P2, ``6700``
Lc. Needs the SAM PIN.
"""

from __future__ import annotations

import hmac

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_p1p2
from apdu.pboc import TransactionType
from apdu.response_records import SamPurchaseInitResponse
from apdu.status import SW
from sam.crypto import (
    Algorithm,
    diversify_path,
    load_mac1,
    load_mac2,
    load_session_key,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    tac_mac,
    unload_mac,
)
from sam.keystore import KeyEntry, UnknownKeyError
from sam.virtual.cipher import ordered_factors
from sam.virtual.context import SamContext, require_pin
from sam.virtual.image import MAX_SERIAL
from sam.virtual.session import PendingPurchase

__all__ = ["authorise_load", "credit_for_purchase", "init_for_purchase", "verify_tac"]

_INIT_FIXED = 0x14
_LOAD_FIXED = 0x22
#: ``80 7E`` P1 (transaction type) → length of what the TAC covers and the offset of its type byte.
_TAC_LAYOUTS = {0x05: (22, 4), 0x06: (22, 4), 0x01: (24, 10), 0x02: (24, 10)}
MAX_LEVELS = 3


def _factors(data: bytes) -> list[bytes]:
    return [data[i : i + 8] for i in range(0, len(data), 8)]


def _levels(cmd: Command, fixed: int) -> int:
    extra = len(cmd.data) - fixed
    if extra < 0 or extra % 8 or extra // 8 > MAX_LEVELS:
        raise SwError(SW.WRONG_LENGTH)
    return extra // 8


def _algorithm(code: int) -> Algorithm:
    try:
        return Algorithm(code)
    except ValueError:
        raise SwError(SW.KEY_INDEX_UNSUPPORTED) from None


def _card_key(ctx: SamContext, entry: KeyEntry, factors: bytes) -> bytes:
    return diversify_path(entry.algorithm, entry.value, ordered_factors(ctx, _factors(factors)))


def init_for_purchase(ctx: SamContext, cmd: Command) -> bytes:
    """``80 70``: next terminal serial and MAC1. Needs the verified SAM PIN (``6982``)."""
    require_pin(ctx)
    require_p1p2(cmd, 0, 0)
    _levels(cmd, _INIT_FIXED)
    ctx.session.purchase = None
    d = cmd.data
    random, counter, amount = d[0:4], int.from_bytes(d[4:6], "big"), int.from_bytes(d[6:10], "big")
    tx_type, date_time, version, alg = d[10], d[11:18], d[18], _algorithm(d[19])
    try:
        entry = ctx.image.keys.purchase_key(version, alg)
    except UnknownKeyError:
        raise SwError(SW.KEY_INDEX_UNSUPPORTED) from None
    image = ctx.image
    if image.terminal_serial >= MAX_SERIAL:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    dpk = _card_key(ctx, entry, d[_INIT_FIXED:])
    image.terminal_serial += 1
    ctx.persist()  # before MAC1 leaves the SAM: a serial is never used twice
    serial = image.terminal_serial
    session_key = purchase_session_key(alg, dpk, random, counter, serial)
    mac1 = purchase_mac1(alg, session_key, amount, tx_type, image.terminal_id, date_time)
    ctx.session.purchase = PendingPurchase(alg, session_key, amount)
    return SamPurchaseInitResponse(serial, mac1).encode()


def credit_for_purchase(ctx: SamContext, cmd: Command) -> bytes:
    """``80 72``: verify the card's MAC2 (with the purchase session key: needs the verified SAM PIN)."""
    require_pin(ctx)
    require_p1p2(cmd, 0, 0)
    if len(cmd.data) != 4:
        raise SwError(SW.WRONG_LENGTH)
    pending, ctx.session.purchase = ctx.session.purchase, None
    if pending is None:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    expected = purchase_mac2(pending.algorithm, pending.session_key, pending.amount)
    if not hmac.compare_digest(expected, cmd.data):
        raise SwError(SW.MAC_ERROR)
    return b""


def authorise_load(ctx: SamContext, cmd: Command) -> bytes:
    """``80 7C`` (project extension): verify the card's load MAC1, return MAC2."""
    require_p1p2(cmd, 0, 0)
    _levels(cmd, _LOAD_FIXED)
    require_pin(ctx)
    d = cmd.data
    random, counter = d[0:4], int.from_bytes(d[4:6], "big")
    balance, amount, tx_type = int.from_bytes(d[6:10], "big"), int.from_bytes(d[10:14], "big"), d[14]
    terminal_id, date_time, mac1 = d[15:21], d[21:28], d[28:32]
    version, alg = d[32], _algorithm(d[33])
    unload = tx_type == TransactionType.UNLOAD
    try:
        entry = (ctx.image.keys.unload_key if unload else ctx.image.keys.load_key)(version, alg)
    except UnknownKeyError:
        raise SwError(SW.KEY_INDEX_UNSUPPORTED) from None
    session_key = load_session_key(alg, _card_key(ctx, entry, d[_LOAD_FIXED:]), random, counter)
    if not hmac.compare_digest(load_mac1(alg, session_key, balance, amount, tx_type, terminal_id), mac1):
        raise SwError(SW.MAC_ERROR)
    mac2 = load_mac2(alg, session_key, amount, tx_type, terminal_id, date_time)
    if not unload:
        return mac2
    if amount > balance:
        raise SwError(SW.INSUFFICIENT_FUNDS)
    return mac2 + unload_mac(alg, session_key, balance - amount, counter, amount, tx_type, terminal_id, date_time)


def verify_tac(ctx: SamContext, cmd: Command) -> bytes:
    """``80 7E`` (project extension): whether the TAC is right; the SAM never hands one out."""
    if cmd.p1 not in _TAC_LAYOUTS or cmd.p2 != 0:
        raise SwError(SW.WRONG_P1P2)
    covered_length, type_at = _TAC_LAYOUTS[cmd.p1]
    fixed = covered_length + 6
    _levels(cmd, fixed)
    require_pin(ctx)
    d = cmd.data
    covered, tac, version, alg = d[:covered_length], d[covered_length : covered_length + 4], d[fixed - 2], d[fixed - 1]
    if covered[type_at] != cmd.p1:
        raise SwError(SW.DATA_INVALID)
    algorithm = _algorithm(alg)
    try:
        entry = ctx.image.keys.tac_key(version, algorithm)
    except UnknownKeyError:
        raise SwError(SW.KEY_INDEX_UNSUPPORTED) from None
    if not hmac.compare_digest(tac_mac(algorithm, _card_key(ctx, entry, d[fixed:]), covered), tac):
        raise SwError(SW.MAC_ERROR)
    return b""
