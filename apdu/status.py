"""Status words: one table with English and Chinese meanings, and typed errors for failing words.

Sources:

* ISO/IEC 7816-4:2013 §5.1.3, tables 5 and 6 (61xx, 62xx, 63xx, 64xx, 65xx, 67xx, 68xx, 69xx, 6Axx, 6B00,
  6Cxx, 6D00, 6E00, 6F00);
* PBOC / FMCOS words: ISO/IEC 7816-4 and JR/T 0025.1 status words (S7 list, klks ``parse_return_code``), JR/T 0025.1
  INITIALIZE FOR LOAD, CREDIT FOR LOAD, INITIALIZE FOR PURCHASE, DEBIT FOR PURCHASE, GET BALANCE, GET TRANSACTION PROVE
  (9302, 9303, 9401,
  9403, 9406), ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE (63Cx, 6983, 6984); the Chinese wording follows the FMCOS
  2.0 manual's SW list [RECALL];
* health-card SAM: WS/T 543.4 responses; 健康卡 SAM spec (the SAM answers with the PBOC/PSAM conventions, 61xx + GET
  RESPONSE).

:class:`SW` names every exact word; the virtual card and the virtual SAM answer with these names, the terminal
side describes and raises on them (:func:`apdu.errors.error_for`, :func:`apdu.response.check`). This module
imports nothing of ``apdu``: ``errors`` builds on it, ``command`` and ``response`` on ``errors``, so the four
modules form no import circle. :func:`describe` never raises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "SW",
    "SW_OK",
    "Category",
    "StatusInfo",
    "describe",
    "known_words",
    "more_data",
    "sw_bytes",
    "tries_in",
    "tries_left",
    "wrong_le",
]


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


class SW(enum.IntEnum):
    """Every exact status word of the table, by name (one vocabulary for terminal and simulators)."""

    OK = 0x9000
    WARNING_UNCHANGED = 0x6200
    DATA_CORRUPTED = 0x6281
    END_OF_FILE = 0x6282
    FILE_DEACTIVATED = 0x6283
    FCI_NOT_FORMATTED = 0x6284
    FILE_TERMINATED = 0x6285
    NO_SENSOR_DATA = 0x6286
    VERIFICATION_FAILED = 0x6300
    FILE_FILLED = 0x6381
    EXECUTION_ERROR = 0x6400
    IMMEDIATE_RESPONSE_REQUIRED = 0x6401
    EXECUTION_ERROR_MEMORY_CHANGED = 0x6500
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    CLA_FUNCTION_NOT_SUPPORTED = 0x6800
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SM_NOT_SUPPORTED = 0x6882
    LAST_COMMAND_EXPECTED = 0x6883
    CHAINING_NOT_SUPPORTED = 0x6884
    SM_REQUIRED_BY_CLA = 0x6900
    INVALID_STATE = 0x6901
    INCOMPATIBLE_FILE = 0x6981
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_BLOCKED = 0x6983
    RANDOM_INVALID = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986
    SM_OBJECTS_MISSING = 0x6987
    SM_OBJECTS_WRONG = 0x6988
    DATA_INVALID = 0x6A80
    APP_LOCKED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_SPACE = 0x6A84
    NC_TLV_MISMATCH = 0x6A85
    WRONG_P1P2 = 0x6A86
    NC_P1P2_MISMATCH = 0x6A87
    KEY_NOT_FOUND = 0x6A88
    FILE_EXISTS = 0x6A89
    DF_NAME_EXISTS = 0x6A8A
    WRONG_OFFSET = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00
    MAC_ERROR = 0x9302
    APP_PERMANENTLY_LOCKED = 0x9303
    INSUFFICIENT_FUNDS = 0x9401
    COUNTER_MAX = 0x9402
    KEY_INDEX_UNSUPPORTED = 0x9403
    NO_TRANSACTION = 0x9406


_C = Category

# Exact words. Ranges (61xx, 6Cxx, 63Cx) and SW1 groups are handled in describe().
_TABLE: dict[int, tuple[str, str, Category]] = {
    SW.OK: ("Success", "成功", _C.OK),
    # 62xx: warning, non-volatile memory unchanged (ISO/IEC 7816-4 table 6)
    SW.WARNING_UNCHANGED: ("Warning: no information given, memory unchanged", "警告：无信息，存储器未改变", _C.WARNING),
    SW.DATA_CORRUPTED: ("Part of returned data may be corrupted", "回送的数据可能有错", _C.WARNING),
    SW.END_OF_FILE: (
        "End of file or record reached before reading Le bytes",
        "读到 Le 字节前已达文件或记录末尾",
        _C.WARNING,
    ),
    SW.FILE_DEACTIVATED: ("Selected file deactivated (invalid)", "选择文件无效（已停用）", _C.BLOCKED),
    SW.FCI_NOT_FORMATTED: ("File control information not formatted", "文件控制信息格式错误", _C.WARNING),
    SW.FILE_TERMINATED: ("Selected file in termination state", "选择的文件处于终止状态", _C.BLOCKED),
    SW.NO_SENSOR_DATA: ("No input data available from a sensor", "传感器无输入数据", _C.WARNING),
    # 63xx: warning, non-volatile memory changed
    SW.VERIFICATION_FAILED: ("Verification failed (no information given)", "认证失败", _C.PIN),
    SW.FILE_FILLED: ("File filled up by the last write", "最后一次写入已写满文件", _C.WARNING),
    # 64xx / 65xx: execution errors
    SW.EXECUTION_ERROR: (
        "Execution error, memory unchanged (state flags unchanged)",
        "执行错误，状态标志未改变",
        _C.EXECUTION,
    ),
    SW.IMMEDIATE_RESPONSE_REQUIRED: ("Immediate response required by the card", "卡要求立即响应", _C.EXECUTION),
    SW.EXECUTION_ERROR_MEMORY_CHANGED: ("Execution error, memory changed", "执行错误，存储器已改变", _C.EXECUTION),
    SW.MEMORY_FAILURE: ("Memory failure (EEPROM write failed)", "存储器故障（写 EEPROM 失败）", _C.MEMORY),
    # 67xx
    SW.WRONG_LENGTH: ("Wrong length", "长度错误", _C.WRONG_LENGTH),
    # 68xx: functions in CLA not supported
    SW.CLA_FUNCTION_NOT_SUPPORTED: ("Functions in CLA not supported", "不支持 CLA 中的功能", _C.COMMAND),
    SW.LOGICAL_CHANNEL_NOT_SUPPORTED: ("Logical channel not supported", "不支持逻辑通道", _C.COMMAND),
    SW.SM_NOT_SUPPORTED: ("Secure messaging not supported", "不支持安全报文", _C.COMMAND),
    SW.LAST_COMMAND_EXPECTED: ("Last command of the chain expected", "应为命令链的最后一条命令", _C.COMMAND),
    SW.CHAINING_NOT_SUPPORTED: ("Command chaining not supported", "不支持命令链", _C.COMMAND),
    # 69xx: command not allowed
    SW.SM_REQUIRED_BY_CLA: (
        "Command not allowed (CLA does not match the secure-messaging requirement)",
        "命令不允许（CLA 与线路保护要求不匹配）",
        _C.SECURITY,
    ),
    SW.INVALID_STATE: ("Command not accepted (invalid state)", "命令不接受（无效状态）", _C.SECURITY),
    SW.INCOMPATIBLE_FILE: ("Command incompatible with file structure", "命令与文件结构不相容", _C.FILE),
    SW.SECURITY_NOT_SATISFIED: ("Security status not satisfied", "安全状态不满足", _C.SECURITY),
    SW.AUTH_BLOCKED: ("Authentication method blocked (key or PIN locked)", "密钥（口令）被锁死", _C.PIN_BLOCKED),
    SW.RANDOM_INVALID: ("Reference data not usable (random number invalid)", "引用数据无效（随机数无效）", _C.SECURITY),
    SW.CONDITIONS_NOT_SATISFIED: ("Conditions of use not satisfied", "使用条件不满足", _C.CONDITIONS),
    SW.COMMAND_NOT_ALLOWED: ("Command not allowed (no current EF)", "不满足命令执行条件（无当前 EF）", _C.COMMAND),
    SW.SM_OBJECTS_MISSING: ("Expected secure-messaging data objects missing", "缺少安全报文数据", _C.SECURITY),
    SW.SM_OBJECTS_WRONG: (
        "Incorrect secure-messaging data objects (MAC wrong)",
        "安全报文数据项不正确（MAC 错误）",
        _C.MAC,
    ),
    # 6Axx: wrong parameters P1-P2
    SW.DATA_INVALID: ("Incorrect parameters in the data field", "数据域参数不正确", _C.PARAMETER),
    SW.APP_LOCKED: ("Function not supported or application locked", "功能不支持或应用已锁定", _C.BLOCKED),
    SW.FILE_NOT_FOUND: ("File not found", "文件未找到", _C.FILE),
    SW.RECORD_NOT_FOUND: ("Record not found", "记录未找到", _C.RECORD),
    SW.NOT_ENOUGH_SPACE: ("Not enough memory space in the file", "文件中存储空间不够", _C.MEMORY),
    SW.NC_TLV_MISMATCH: ("Nc inconsistent with TLV structure", "Lc 与 TLV 结构不一致", _C.PARAMETER),
    SW.WRONG_P1P2: ("Incorrect parameters P1-P2", "参数 P1 P2 不正确", _C.PARAMETER),
    SW.NC_P1P2_MISMATCH: ("Nc inconsistent with parameters P1-P2", "Lc 与 P1 P2 不一致", _C.PARAMETER),
    SW.KEY_NOT_FOUND: ("Referenced data or key not found", "引用数据（密钥）未找到", _C.PARAMETER),
    SW.FILE_EXISTS: ("File already exists", "文件已存在", _C.FILE),
    SW.DF_NAME_EXISTS: ("DF name already exists", "DF 名称已存在", _C.FILE),
    SW.WRONG_OFFSET: ("Wrong parameters P1-P2 (offset outside the EF)", "参数错误（偏移量超出文件）", _C.PARAMETER),
    SW.INS_NOT_SUPPORTED: ("Instruction not supported", "INS 不支持", _C.COMMAND),
    SW.CLA_NOT_SUPPORTED: ("Class not supported", "CLA 不支持", _C.COMMAND),
    SW.NO_PRECISE_DIAGNOSIS: ("No precise diagnosis", "数据无效，无精确诊断", _C.EXECUTION),
    # PBOC e-purse (JR/T 0025.1 purse commands, ISO/IEC 7816-4 and JR/T 0025.1 status words)
    SW.MAC_ERROR: ("MAC error", "MAC 错误", _C.MAC),
    SW.APP_PERMANENTLY_LOCKED: ("Application permanently locked", "应用已被永久锁定", _C.BLOCKED),
    SW.INSUFFICIENT_FUNDS: ("Insufficient funds", "金额不足", _C.FUNDS),
    SW.COUNTER_MAX: ("Transaction counter reached its maximum", "交易计数器达到最大值", _C.PURSE),
    SW.KEY_INDEX_UNSUPPORTED: ("Key index not supported", "密钥索引不支持", _C.PURSE),
    SW.NO_TRANSACTION: ("Required MAC not available (no such transaction)", "所需 MAC 不可用（无此交易）", _C.PURSE),
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

SW_OK = SW.OK


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


def tries_left(n: int) -> int:
    """The word for a failed verification with ``n`` tries left: ``63Cx``, or ``6983`` when none is left.

    ISO/IEC 7816-4:2013 table 6 gives ``63Cx`` "counter x" and ``6983`` "authentication method blocked"; the
    FMCOS / PBOC cards answer ``6983`` once the key or PIN is locked (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE).
    The card and the SAM both answer this way, so the attempt that uses the last try already says "blocked"
    (docs/decisions.md D11). ``n`` above 15 is reported as 15 (four bits).
    """
    if n < 0:
        raise ValueError(f"tries left must be >= 0, got {n}")
    return 0x63C0 | min(n, 15) if n > 0 else SW.AUTH_BLOCKED


def tries_in(sw: int) -> int | None:
    """The tries left that ``sw`` reports: ``x`` of ``63Cx``, 0 for ``6983``, ``None`` for any other word."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 0x0F
    if sw == SW.AUTH_BLOCKED:
        return 0
    return None


def more_data(n: int) -> int:
    """``61xx``: ``n`` bytes wait for GET RESPONSE (``6100`` = 256 or more) (ISO/IEC 7816-4 §5.3.4)."""
    return 0x6100 | (n if n < 256 else 0)


def wrong_le(n: int) -> int:
    """``6Cxx``: re-send with Le = ``n`` (``6C00`` = 256) (ISO/IEC 7816-4 table 5)."""
    return 0x6C00 | (n if n < 256 else 0)


def sw_bytes(sw: int) -> bytes:
    """SW1 SW2 of ``sw`` as two bytes (``0x9000`` -> ``b"\\x90\\x00"``)."""
    return bytes((sw >> 8, sw & 0xFF))
