"""Status words answered by the virtual COS, as ready-made response bytes (pboc-purse.md §12; apdu.status).

Handlers raise :class:`apdu.card.SwError` with one of the integer words; the success path returns
``data + OK`` without any exception.
"""

from __future__ import annotations

__all__ = [
    "APP_LOCKED",
    "APP_PERMANENTLY_LOCKED",
    "AUTH_BLOCKED",
    "CLA_NOT_SUPPORTED",
    "COMMAND_NOT_ALLOWED",
    "CONDITIONS",
    "COUNTER_MAX",
    "DATA_INVALID",
    "DF_NAME_EXISTS",
    "FILE_EXISTS",
    "FILE_INVALIDATED",
    "FILE_NOT_FOUND",
    "INCOMPATIBLE_FILE",
    "INSUFFICIENT_FUNDS",
    "INS_NOT_SUPPORTED",
    "KEY_INDEX_UNSUPPORTED",
    "KEY_NOT_FOUND",
    "MAC_ERROR",
    "NOT_ENOUGH_SPACE",
    "NO_PRECISE_DIAGNOSIS",
    "NO_RANDOM",
    "NO_TRANSACTION",
    "OFFSET_OUTSIDE",
    "OK",
    "P1P2",
    "RECORD_NOT_FOUND",
    "SECURITY",
    "SM_MISSING",
    "SM_NOT_SUPPORTED",
    "SM_WRONG",
    "VERIFY_FAILED",
    "WRONG_LENGTH",
    "sw_bytes",
    "tries_left",
]

OK = b"\x90\x00"

WRONG_LENGTH = 0x6700
SM_NOT_SUPPORTED = 0x6882
INCOMPATIBLE_FILE = 0x6981
SECURITY = 0x6982
AUTH_BLOCKED = 0x6983
NO_RANDOM = 0x6984
CONDITIONS = 0x6985
COMMAND_NOT_ALLOWED = 0x6986
SM_MISSING = 0x6987
SM_WRONG = 0x6988
DATA_INVALID = 0x6A80
APP_LOCKED = 0x6A81
FILE_NOT_FOUND = 0x6A82
RECORD_NOT_FOUND = 0x6A83
NOT_ENOUGH_SPACE = 0x6A84
P1P2 = 0x6A86
KEY_NOT_FOUND = 0x6A88
FILE_EXISTS = 0x6A89
DF_NAME_EXISTS = 0x6A8A
OFFSET_OUTSIDE = 0x6B00
INS_NOT_SUPPORTED = 0x6D00
CLA_NOT_SUPPORTED = 0x6E00
NO_PRECISE_DIAGNOSIS = 0x6F00
FILE_INVALIDATED = 0x6283
VERIFY_FAILED = 0x6300
MAC_ERROR = 0x9302
APP_PERMANENTLY_LOCKED = 0x9303
INSUFFICIENT_FUNDS = 0x9401
COUNTER_MAX = 0x9402
KEY_INDEX_UNSUPPORTED = 0x9403
NO_TRANSACTION = 0x9406


def sw_bytes(sw: int) -> bytes:
    """The two status bytes of ``sw``."""
    return bytes((sw >> 8, sw & 0xFF))


def tries_left(n: int) -> int:
    """``63Cx`` for ``n`` remaining tries, ``6983`` when none is left (pboc-purse.md §7.2)."""
    return 0x63C0 | n if n > 0 else AUTH_BLOCKED
