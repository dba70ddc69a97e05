"""Status words the virtual SAM answers (ISO/IEC 7816-4 table 6; PBOC/FMCOS additions, pboc-purse.md §12)."""

from __future__ import annotations

__all__ = [
    "BLOCKED",
    "CLA_NOT_SUPPORTED",
    "CONDITIONS_NOT_SATISFIED",
    "DATA_INVALID",
    "FILE_NOT_FOUND",
    "INS_NOT_SUPPORTED",
    "KEY_INDEX_UNSUPPORTED",
    "KEY_NOT_FOUND",
    "MAC_ERROR",
    "NO_CURRENT_EF",
    "NO_SPACE",
    "OK",
    "SECURITY_NOT_SATISFIED",
    "UNKNOWN_ERROR",
    "WRONG_LENGTH",
    "WRONG_OFFSET",
    "WRONG_P1P2",
    "more_data",
    "tries_left",
    "wrong_le",
]

OK = 0x9000
WRONG_LENGTH = 0x6700
SECURITY_NOT_SATISFIED = 0x6982
BLOCKED = 0x6983
CONDITIONS_NOT_SATISFIED = 0x6985
NO_CURRENT_EF = 0x6986
DATA_INVALID = 0x6A80
FILE_NOT_FOUND = 0x6A82
NO_SPACE = 0x6A84
WRONG_P1P2 = 0x6A86
KEY_NOT_FOUND = 0x6A88
WRONG_OFFSET = 0x6B00
INS_NOT_SUPPORTED = 0x6D00
CLA_NOT_SUPPORTED = 0x6E00
UNKNOWN_ERROR = 0x6F00
MAC_ERROR = 0x9302
KEY_INDEX_UNSUPPORTED = 0x9403


def more_data(n: int) -> int:
    """``61xx``: ``n`` bytes wait for GET RESPONSE (``6100`` = 256 or more)."""
    return 0x6100 | (n if n < 256 else 0)


def wrong_le(n: int) -> int:
    """``6Cxx``: re-send with Le = ``n``."""
    return 0x6C00 | (n if n < 256 else 0)


def tries_left(n: int) -> int:
    """``63Cx``: verification failed, ``n`` tries left."""
    return 0x63C0 | min(n, 15)
