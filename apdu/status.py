"""Status words: one table with English and Chinese meanings, and typed errors for failing words.

Sources:

* ISO/IEC 7816-4:2013 §5.1.3, tables 5 and 6 (61xx, 62xx, 63xx, 64xx, 65xx, 67xx, 68xx, 69xx, 6Axx, 6B00,
  6Cxx, 6D00, 6E00, 6F00);
* PBOC / FMCOS words: pboc-purse.md §12 (S7 list, klks ``parse_return_code``), §2.1-§2.6 (9302, 9303, 9401,
  9403, 9406), §7.2 (63Cx, 6983, 6984); the Chinese wording follows the FMCOS 2.0 manual's SW list [RECALL];
* health-card SAM: health-card.md §6.4/§7 (the SAM answers with the PBOC/PSAM conventions, 61xx + GET RESPONSE).

:func:`describe` never raises; :func:`check` returns a successful response and raises the typed
:class:`~apdu.errors.CardError` subclass otherwise (the SAM variant, also a :class:`~apdu.errors.SamError`,
when ``layer=Layer.SAM``; see the design note in :mod:`apdu.errors`).
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apdu.errors import (
    BlockedError,
    CardError,
    CommandNotSupportedError,
    ConditionsNotSatisfiedError,
    ExecutionError,
    FileError,
    InsufficientFundsError,
    Layer,
    MacError,
    ParameterError,
    PinBlockedError,
    PinError,
    PurseError,
    RecordNotFoundError,
    SecurityStatusError,
    StorageError,
    WarningStatusError,
    WrongLengthError,
    sam_variant,
)

if TYPE_CHECKING:
    from apdu.command import Command
    from apdu.response import Response

__all__ = ["SW_OK", "Category", "StatusInfo", "check", "describe", "error_for", "error_type", "known_words"]

SW_OK = 0x9000


class Category(enum.Enum):
    """Broad class of a status word; decides which error type a failing word raises."""

    OK = "ok"
    WARNING = "warning"
    MORE_DATA = "more data"
    EXECUTION = "execution"
    MEMORY = "memory"
    WRONG_LENGTH = "length"
    SECURITY = "security"
    CONDITIONS = "conditions of use"
    PIN = "pin"
    PIN_BLOCKED = "pin blocked"
    FILE = "file"
    RECORD = "record"
    PARAMETER = "parameter"
    COMMAND = "command"
    MAC = "mac"
    PURSE = "purse"
    FUNDS = "insufficient funds"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """The meaning of one status word."""

    sw: int
    english: str
    chinese: str
    category: Category


_C = Category

# Exact words. Ranges (61xx, 6Cxx, 63Cx) and SW1 groups are handled in describe().
_TABLE: dict[int, tuple[str, str, Category]] = {
    0x9000: ("Success", "成功", _C.OK),
    # 62xx: warning, non-volatile memory unchanged (ISO/IEC 7816-4 table 6)
    0x6200: ("Warning: no information given, memory unchanged", "警告：无信息，存储器未改变", _C.WARNING),
    0x6281: ("Part of returned data may be corrupted", "回送的数据可能有错", _C.WARNING),
    0x6282: ("End of file or record reached before reading Le bytes", "读到 Le 字节前已达文件或记录末尾", _C.WARNING),
    0x6283: ("Selected file deactivated (invalid)", "选择文件无效（已停用）", _C.BLOCKED),
    0x6284: ("File control information not formatted", "文件控制信息格式错误", _C.WARNING),
    0x6285: ("Selected file in termination state", "选择的文件处于终止状态", _C.BLOCKED),
    0x6286: ("No input data available from a sensor", "传感器无输入数据", _C.WARNING),
    # 63xx: warning, non-volatile memory changed
    0x6300: ("Verification failed (no information given)", "认证失败", _C.PIN),
    0x6381: ("File filled up by the last write", "最后一次写入已写满文件", _C.WARNING),
    # 64xx / 65xx: execution errors
    0x6400: ("Execution error, memory unchanged (state flags unchanged)", "执行错误，状态标志未改变", _C.EXECUTION),
    0x6401: ("Immediate response required by the card", "卡要求立即响应", _C.EXECUTION),
    0x6500: ("Execution error, memory changed", "执行错误，存储器已改变", _C.EXECUTION),
    0x6581: ("Memory failure (EEPROM write failed)", "存储器故障（写 EEPROM 失败）", _C.MEMORY),
    # 67xx
    0x6700: ("Wrong length", "长度错误", _C.WRONG_LENGTH),
    # 68xx: functions in CLA not supported
    0x6800: ("Functions in CLA not supported", "不支持 CLA 中的功能", _C.COMMAND),
    0x6881: ("Logical channel not supported", "不支持逻辑通道", _C.COMMAND),
    0x6882: ("Secure messaging not supported", "不支持安全报文", _C.COMMAND),
    0x6883: ("Last command of the chain expected", "应为命令链的最后一条命令", _C.COMMAND),
    0x6884: ("Command chaining not supported", "不支持命令链", _C.COMMAND),
    # 69xx: command not allowed
    0x6900: (
        "Command not allowed (CLA does not match the secure-messaging requirement)",
        "命令不允许（CLA 与线路保护要求不匹配）",
        _C.SECURITY,
    ),
    0x6901: ("Command not accepted (invalid state)", "命令不接受（无效状态）", _C.SECURITY),
    0x6981: ("Command incompatible with file structure", "命令与文件结构不相容", _C.FILE),
    0x6982: ("Security status not satisfied", "安全状态不满足", _C.SECURITY),
    0x6983: ("Authentication method blocked (key or PIN locked)", "密钥（口令）被锁死", _C.PIN_BLOCKED),
    0x6984: ("Reference data not usable (random number invalid)", "引用数据无效（随机数无效）", _C.SECURITY),
    0x6985: ("Conditions of use not satisfied", "使用条件不满足", _C.CONDITIONS),
    0x6986: ("Command not allowed (no current EF)", "不满足命令执行条件（无当前 EF）", _C.COMMAND),
    0x6987: ("Expected secure-messaging data objects missing", "缺少安全报文数据", _C.SECURITY),
    0x6988: ("Incorrect secure-messaging data objects (MAC wrong)", "安全报文数据项不正确（MAC 错误）", _C.MAC),
    # 6Axx: wrong parameters P1-P2
    0x6A80: ("Incorrect parameters in the data field", "数据域参数不正确", _C.PARAMETER),
    0x6A81: ("Function not supported or application locked", "功能不支持或应用已锁定", _C.BLOCKED),
    0x6A82: ("File not found", "文件未找到", _C.FILE),
    0x6A83: ("Record not found", "记录未找到", _C.RECORD),
    0x6A84: ("Not enough memory space in the file", "文件中存储空间不够", _C.MEMORY),
    0x6A85: ("Nc inconsistent with TLV structure", "Lc 与 TLV 结构不一致", _C.PARAMETER),
    0x6A86: ("Incorrect parameters P1-P2", "参数 P1 P2 不正确", _C.PARAMETER),
    0x6A87: ("Nc inconsistent with parameters P1-P2", "Lc 与 P1 P2 不一致", _C.PARAMETER),
    0x6A88: ("Referenced data or key not found", "引用数据（密钥）未找到", _C.PARAMETER),
    0x6A89: ("File already exists", "文件已存在", _C.FILE),
    0x6A8A: ("DF name already exists", "DF 名称已存在", _C.FILE),
    0x6B00: ("Wrong parameters P1-P2 (offset outside the EF)", "参数错误（偏移量超出文件）", _C.PARAMETER),
    0x6D00: ("Instruction not supported", "INS 不支持", _C.COMMAND),
    0x6E00: ("Class not supported", "CLA 不支持", _C.COMMAND),
    0x6F00: ("No precise diagnosis", "数据无效，无精确诊断", _C.EXECUTION),
    # PBOC e-purse (pboc-purse.md §2, §12)
    0x9302: ("MAC error", "MAC 错误", _C.MAC),
    0x9303: ("Application permanently locked", "应用已被永久锁定", _C.BLOCKED),
    0x9401: ("Insufficient funds", "金额不足", _C.FUNDS),
    0x9402: ("Transaction counter reached its maximum", "交易计数器达到最大值", _C.PURSE),
    0x9403: ("Key index not supported", "密钥索引不支持", _C.PURSE),
    0x9406: ("Required MAC not available (no such transaction)", "所需 MAC 不可用（无此交易）", _C.PURSE),
}

# Meaning of an SW1 group when the exact word is not in the table.
_GROUPS: dict[int, tuple[str, str, Category]] = {
    0x62: ("Warning, memory unchanged", "警告，存储器未改变", _C.WARNING),
    0x63: ("Warning, memory changed", "警告，存储器已改变", _C.WARNING),
    0x64: ("Execution error, memory unchanged", "执行错误，存储器未改变", _C.EXECUTION),
    0x65: ("Execution error, memory changed", "执行错误，存储器已改变", _C.EXECUTION),
    0x66: ("Security-related error", "安全相关错误", _C.SECURITY),
    0x67: ("Wrong length", "长度错误", _C.WRONG_LENGTH),
    0x68: ("Functions in CLA not supported", "不支持 CLA 中的功能", _C.COMMAND),
    0x69: ("Command not allowed", "命令不允许", _C.SECURITY),
    0x6A: ("Wrong parameters P1-P2", "参数 P1 P2 错误", _C.PARAMETER),
    0x6F: ("No precise diagnosis", "无精确诊断", _C.EXECUTION),
    0x93: ("E-purse error", "电子钱包错误", _C.PURSE),
    0x94: ("E-purse error", "电子钱包错误", _C.PURSE),
}

_BY_CATEGORY: dict[Category, type[CardError]] = {
    _C.OK: CardError,
    _C.MORE_DATA: CardError,
    _C.UNKNOWN: CardError,
    _C.WARNING: WarningStatusError,
    _C.EXECUTION: ExecutionError,
    _C.MEMORY: StorageError,
    _C.WRONG_LENGTH: WrongLengthError,
    _C.SECURITY: SecurityStatusError,
    _C.CONDITIONS: ConditionsNotSatisfiedError,
    _C.PIN: PinError,
    _C.PIN_BLOCKED: PinBlockedError,
    _C.FILE: FileError,
    _C.RECORD: RecordNotFoundError,
    _C.PARAMETER: ParameterError,
    _C.COMMAND: CommandNotSupportedError,
    _C.MAC: MacError,
    _C.PURSE: PurseError,
    _C.FUNDS: InsufficientFundsError,
    _C.BLOCKED: BlockedError,
}


def known_words() -> tuple[int, ...]:
    """Every exact status word of the table (for documentation and tests)."""
    return tuple(_TABLE)


def describe(sw: int) -> StatusInfo:
    """Return the meaning of ``sw`` (never raises; unknown words get a generic description)."""
    hit = _TABLE.get(sw)
    if hit is not None:
        return StatusInfo(sw, *hit)
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        n = sw2 or 256
        return StatusInfo(sw, f"{n} response bytes still available", f"还有 {n} 字节响应数据", _C.MORE_DATA)
    if sw1 == 0x6C:
        n = sw2 or 256
        return StatusInfo(sw, f"Wrong Le; exact length is {n}", f"Le 错误，正确长度为 {n}", _C.WRONG_LENGTH)
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        n = sw2 & 0x0F
        if n == 0:
            english, chinese = "Verification failed, 0 tries left (blocked)", "校验失败，还剩 0 次机会（已锁定）"
            return StatusInfo(sw, english, chinese, _C.PIN_BLOCKED)
        tries = "1 try" if n == 1 else f"{n} tries"
        return StatusInfo(sw, f"Verification failed, {tries} left", f"校验失败，还剩 {n} 次机会", _C.PIN)
    group = _GROUPS.get(sw1)
    if group is not None:
        return StatusInfo(sw, *group)
    return StatusInfo(sw, "Unknown status word", "未知状态字", _C.UNKNOWN)


def error_type(info: StatusInfo, layer: Layer = Layer.CARD) -> type[CardError]:
    """The error class raised for ``info``: by category, the SAM variant when ``layer`` is ``Layer.SAM``."""
    cls = _BY_CATEGORY[info.category]
    return sam_variant(cls) if layer is Layer.SAM else cls


def error_for(sw: int, command: Command | None = None, *, layer: Layer = Layer.CARD) -> CardError:
    """The typed error for a failing ``sw`` (not raised), carrying the command and the layer."""
    info = describe(sw)
    return error_type(info, layer)(sw, info, command, layer=layer)


def check(
    response: Response,
    command: Command | None = None,
    *,
    layer: Layer = Layer.CARD,
    accept: Collection[int] = (SW_OK,),
) -> Response:
    """Return ``response`` if its status word is in ``accept`` (default only ``9000``); raise otherwise.

    The raised error is the typed :class:`~apdu.errors.CardError` subclass for the word (e.g.
    :class:`~apdu.errors.InsufficientFundsError` for 9401), carries ``command``, ``sw``, ``info`` and ``layer``;
    with ``layer=Layer.SAM`` it is also a :class:`~apdu.errors.SamError`. 61xx and 6Cxx are failures here:
    :class:`apdu.channel.Channel` resolves them before checking.
    """
    if response.sw in accept:
        return response
    raise error_for(response.sw, command, layer=layer)
