"""Status words: one table with English and Chinese meanings, and typed errors for failing words.

Sources: ISO/IEC 7816-4:2013 §5.1.3 tables 5-6; PBOC/FMCOS words in pboc-purse.md §12 (S7 list, klks
``parse_return_code``); health-card SAM words in health-card.md §6-7.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Category", "StatusInfo", "describe"]


class Category(enum.Enum):
    """Broad class of a status word; decides which error type a failing word raises."""

    OK = "ok"
    WARNING = "warning"
    MORE_DATA = "more data"
    WRONG_LENGTH = "length"
    SECURITY = "security"
    PIN = "pin"
    FILE = "file"
    RECORD = "record"
    PARAMETER = "parameter"
    COMMAND = "command"
    MAC = "mac"
    PURSE = "purse"
    BLOCKED = "blocked"
    MEMORY = "memory"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """The meaning of one status word."""

    sw: int
    english: str
    chinese: str
    category: Category


# Exact words. Ranges (61xx, 6Cxx, 63Cx) are handled in describe().
_TABLE: dict[int, tuple[str, str, Category]] = {
    0x9000: ("Success", "成功", Category.OK),
    0x6700: ("Wrong length", "长度错误", Category.WRONG_LENGTH),
    0x6982: ("Security status not satisfied", "安全状态不满足", Category.SECURITY),
    0x6A82: ("File not found", "文件未找到", Category.FILE),
    0x6D00: ("Instruction not supported", "INS 不支持", Category.COMMAND),
    0x6E00: ("Class not supported", "CLA 不支持", Category.COMMAND),
    0x9302: ("MAC error", "MAC 错误", Category.MAC),
    0x9401: ("Insufficient balance", "金额不足", Category.PURSE),
}


def describe(sw: int) -> StatusInfo:
    """Return the meaning of ``sw`` (never raises; unknown words get a generic description)."""
    hit = _TABLE.get(sw)
    if hit is not None:
        return StatusInfo(sw, *hit)
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        n = sw2 or 256
        return StatusInfo(sw, f"{n} response bytes still available", f"还有 {n} 字节响应数据", Category.MORE_DATA)
    if sw1 == 0x6C:
        n = sw2 or 256
        return StatusInfo(sw, f"Wrong Le; exact length is {n}", f"Le 错误，正确长度为 {n}", Category.WRONG_LENGTH)
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        n = sw2 & 0x0F
        return StatusInfo(sw, f"Verification failed, {n} tries left", f"校验失败，还剩 {n} 次机会", Category.PIN)
    return StatusInfo(sw, "Unknown status word", "未知状态字", Category.UNKNOWN)
