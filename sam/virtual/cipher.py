"""Key derivation and general computation: ``80 1A`` (PSAM), ``80 DE`` (health SAM), ``80 FA`` (both).

``80 1A P1 P2 Lc factors(8N)`` — 通用 DES 计算初始化 (PSAM COS, sources.md V2): P1 = N << 5 | key attribute
(:class:`~sam.keystore.KeyUsage`), P2 = key index; the purse key is diversified through the N factors into the
volatile working key. Master-control, purchase, load and TAC keys cannot be used this way (``6985``): their own
commands (``80 70``, ``80 7C``, ``80 7E``) keep their session keys inside the SAM, and a TAC key only *verifies* a
TAC (``80 7E``): a SAM that computed TACs for any data would let whoever holds its PIN forge uploads. Needs the
verified SAM PIN (``6982``): every command that uses a key does (``80 1A``, ``80 DE``, ``80 FA``, ``80 70``, ``80 72``,
``80 7C``, ``80 7E``, ``80 CE``; issue #11 item 6), so a SAM taken out of its terminal computes no cryptogram for
anyone without its PIN.

``80 DE P1 P2 Lc cardNo ‖ [cityFactor ‖] challenge`` — health-card key derivation (WS/T 543.4 key table, WS/T 543.4
EXTERNAL AUTHENTICATE; docs/decisions.md D1): the same P1 layout (``27`` = one level + authentication key, ``47`` two
levels, ``28``/``48`` protection keys), P2 = SAM key index; ``K = div(MK, factors)`` then ``SK = SM4_ECB(K, challenge ‖
~challenge)`` becomes the working key. Needs the verified SAM PIN (``6982``).

``80 FA P1 00 Lc data`` — 通用 DES 计算 with the working key, PIN-gated like the derivations (PSAM COS, sources.md V2
table; WS/T 543.4 EXTERNAL AUTHENTICATE, SM UPDATE RECORD):

====  =====================================================================================================
P1    meaning
====  =====================================================================================================
00    encrypt (ECB), last or only block group; ``02`` the same with more to follow
05    MAC, only group: data = IV(one block) ‖ blocks → the 4-byte MAC
07    MAC, first group: IV ‖ blocks (no output); ``03`` middle group; ``01`` last group → the MAC
====  =====================================================================================================

The caller supplies the ``80 00..`` padding (data must be whole blocks, else ``6700``). The MAC is the PBOC MAC
of JR/T 0025.2 MAC algorithm; SM4 purse variant, sources.md F1 without its padding step: SM4 CBC-MAC; 3DES with a
16-byte key = ISO/IEC 9797-1 algorithm 3, with an 8-byte key single-DES CBC-MAC. The left 4 bytes of the final block
are returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from apdu.card import SwError
from apdu.command import Command
from apdu.status import SW
from sam.crypto import Algorithm, block_size, decrypt_ecb, diversify, diversify_path, encrypt_cbc, encrypt_ecb
from sam.keystore import KeyEntry, KeyUsage, UnknownKeyError
from sam.virtual.context import SamContext, require_pin
from sam.virtual.session import WorkingKey

__all__ = ["cipher_data", "health_derive", "init_cipher", "ordered_factors"]

_NOT_VIA_1A = frozenset({KeyUsage.MASTER, KeyUsage.PURCHASE, KeyUsage.LOAD, KeyUsage.TAC, KeyUsage.UNLOAD})
MAX_LEVELS = 3


def ordered_factors(ctx: SamContext, factors: Sequence[bytes]) -> list[bytes]:
    """The factors in the order the SAM applies them (image ``factor_order``; D1: most general first)."""
    return list(reversed(factors)) if ctx.image.factor_order == "general_first" else list(factors)


def _split(data: bytes) -> list[bytes]:
    return [data[i : i + 8] for i in range(0, len(data), 8)]


def _key(ctx: SamContext, p1: int, p2: int, app: str) -> KeyEntry:
    try:
        usage = KeyUsage(p1 & 0x1F)
    except ValueError:
        raise SwError(SW.WRONG_P1P2) from None
    try:
        return ctx.image.keys.find(usage, p2, app=app)
    except UnknownKeyError:
        raise SwError(SW.KEY_NOT_FOUND) from None


def _set_working_key(ctx: SamContext, key: WorkingKey) -> bytes:
    ctx.session.working_key = key
    ctx.session.mac_chain = None
    return b""


def init_cipher(ctx: SamContext, cmd: Command) -> bytes:
    """``80 1A``: diversify a purse key into the working key. Needs the verified SAM PIN (``6982``)."""
    require_pin(ctx)
    levels = cmd.p1 >> 5
    if levels > MAX_LEVELS:
        raise SwError(SW.WRONG_P1P2)
    if len(cmd.data) != 8 * levels:
        raise SwError(SW.WRONG_LENGTH)
    ctx.session.working_key = None
    entry = _key(ctx, cmd.p1, cmd.p2, "purse")
    if entry.usage in _NOT_VIA_1A:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    value = diversify_path(entry.algorithm, entry.value, ordered_factors(ctx, _split(cmd.data)))
    return _set_working_key(ctx, WorkingKey(entry.algorithm, entry.usage, value))


def health_derive(ctx: SamContext, cmd: Command) -> bytes:
    """``80 DE``: health-card session key from cardNo [‖ city] ‖ challenge (D1)."""
    require_pin(ctx)
    levels = cmd.p1 >> 5
    if not 1 <= levels <= 2:
        raise SwError(SW.WRONG_P1P2)
    if len(cmd.data) != 8 * levels + 8:
        raise SwError(SW.WRONG_LENGTH)
    ctx.session.working_key = None
    entry = _key(ctx, cmd.p1, cmd.p2, "health")
    if entry.usage not in (KeyUsage.ENCRYPT, KeyUsage.MAC_ENCRYPT):
        raise SwError(SW.WRONG_P1P2)
    parts = _split(cmd.data)
    card_key = diversify_path(entry.algorithm, entry.value, ordered_factors(ctx, parts[:-1]))
    session_key = diversify(entry.algorithm, card_key, parts[-1])
    return _set_working_key(ctx, WorkingKey(entry.algorithm, entry.usage, session_key))


def _mac_key(key: WorkingKey) -> tuple[bytes, bytes | None]:
    """(key chaining the blocks, right half for the ISO 9797-1 algorithm 3 output transform or ``None``)."""
    value = key.value
    if key.algorithm is Algorithm.SM4:
        return value, None
    if len(value) == 16:
        return value[:8], value[8:]
    return value, None


def _chain(key: WorkingKey, blocks: bytes, iv: bytes) -> bytes:
    chain_key, _ = _mac_key(key)
    return encrypt_cbc(key.algorithm, chain_key, blocks, iv)[-block_size(key.algorithm) :]


def _finish(key: WorkingKey, chained: bytes) -> bytes:
    chain_key, right = _mac_key(key)
    if right is not None:
        chained = encrypt_ecb(Algorithm.TDES, chain_key, decrypt_ecb(Algorithm.TDES, right, chained))
    return chained[:4]


def cipher_data(ctx: SamContext, cmd: Command) -> bytes:
    """``80 FA``: encrypt or MAC with the working key. Needs the verified SAM PIN (``6982``)."""
    require_pin(ctx)
    if cmd.p2 != 0 or cmd.p1 not in (0x00, 0x02, 0x05, 0x07, 0x03, 0x01):
        raise SwError(SW.WRONG_P1P2)
    s = ctx.session
    key = s.working_key
    if key is None:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    size = block_size(key.algorithm)
    data = cmd.data
    if not data or len(data) % size:
        raise SwError(SW.WRONG_LENGTH)
    if cmd.p1 in (0x00, 0x02):
        s.mac_chain = None
        return encrypt_ecb(key.algorithm, key.value, data)
    if cmd.p1 in (0x05, 0x07):
        if len(data) < 2 * size:
            raise SwError(SW.WRONG_LENGTH)
        chained = _chain(key, data[size:], data[:size])
    else:
        if s.mac_chain is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        chained = _chain(key, data, s.mac_chain)
    if cmd.p1 in (0x07, 0x03):
        s.mac_chain = chained
        return b""
    s.mac_chain = None
    return _finish(key, chained)
