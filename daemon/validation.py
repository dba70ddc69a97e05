"""Request validation: every bad field is refused with INVALID_ARGUMENT naming the field (issue #6).

Limits: text fields ≤ 64 characters (request id, merchant, order, operator); reader names ≤ 128; amounts are
int64 fen in 1 .. 2**31-1 (the PBOC purse amount field is 4 bytes, JR/T 0025.1 CREDIT FOR LOAD); page sizes 0..1000.
"""

from __future__ import annotations

import datetime as _dt
import re

from google.protobuf.timestamp_pb2 import Timestamp

from apdu.errors import DataError

__all__ = [
    "MAX_AMOUNT_FEN",
    "check_amount",
    "check_business_date",
    "check_page",
    "check_page_size",
    "check_reader",
    "check_request_id",
    "check_text",
    "check_timestamp",
    "loggable",
]

MAX_AMOUNT_FEN = 2**31 - 1
MAX_TEXT = 64
MAX_READER = 128
MAX_PAGE = 1000
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_PAGE_TOKEN = re.compile(r"[0-9]{1,18}")
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_CONTROL = re.compile(r"[\x00-\x1f]")  # one search instead of a Python loop over the characters


def loggable(value: str, *, limit: int = MAX_READER) -> str:
    """``value`` fit for a log line: as is when short and free of control characters, else a bounded stand-in.

    Every string from a request goes through this (or a ``check_*``) before it is logged (issue #11 item 7: a
    0.9 MB reader name reached every log line of its RPC).
    """
    if len(value) <= limit and not _CONTROL.search(value):
        return value
    return f"<invalid: {len(value)} characters>"


def check_text(value: str, field: str, *, limit: int = MAX_TEXT) -> str:
    """An optional free-text reference of at most ``limit`` characters, without control characters."""
    if len(value) > limit:
        raise DataError(f"{field}: {len(value)} characters, at most {limit} allowed", field=field)
    if _CONTROL.search(value):
        raise DataError(f"{field}: control characters are not allowed", field=field)
    return value


def check_request_id(value: str, *, required: bool = True) -> str:
    """The client's idempotency key: 1..64 printable ASCII characters without spaces."""
    if not value:
        if required:
            raise DataError("request_id: required (the client's idempotency key)", field="request_id")
        return value
    if not _REQUEST_ID.match(value):
        raise DataError("request_id: 1..64 printable ASCII characters without spaces", field="request_id")
    return value


def check_reader(value: str) -> str:
    """A reader name is required (unknown names are refused by the reader manager)."""
    if not value:
        raise DataError("reader: required", field="reader")
    return check_text(value, "reader", limit=MAX_READER)


def check_amount(value: int) -> int:
    """A positive amount in fen that fits the card's 4-byte amount field."""
    if value <= 0:
        raise DataError(f"amount_fen: must be positive (got {value})", field="amount_fen")
    if value > MAX_AMOUNT_FEN:
        raise DataError(f"amount_fen: at most {MAX_AMOUNT_FEN} fen", field="amount_fen")
    return value


def check_page_size(page_size: int, *, default: int = 100) -> int:
    """A page size in 0..1000 (0 = ``default``); the token is checked by :mod:`daemon.paging` when decoded."""
    if page_size < 0 or page_size > MAX_PAGE:
        raise DataError(f"page_size: 0..{MAX_PAGE}", field="page_size")
    return page_size or default


def check_page(page_size: int, page_token: str) -> tuple[int, int | None]:
    """``(limit, cursor)`` from a page size (0 = 100) and a numeric page token (empty = first page).

    The token is 1..18 ASCII digits — ``str.isdigit`` also accepts "²" and other Unicode digits that ``int``
    refuses, and 19+ digits overflow SQLite's 64-bit integers (issue #11 item 8): both were INTERNAL errors.
    """
    limit = check_page_size(page_size)
    if page_token and not _PAGE_TOKEN.fullmatch(page_token):
        raise DataError("page_token: not a token returned by this daemon", field="page_token")
    return limit, (int(page_token) if page_token else None)


def check_timestamp(value: Timestamp | None, field: str) -> _dt.datetime | None:
    """A ``google.protobuf.Timestamp`` filter as an aware UTC datetime (``None`` when not set).

    Valid are 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z with nanos in 0..999 999 999 (the
    Timestamp's documented range); anything else is INVALID_ARGUMENT naming ``field``, not INTERNAL.
    """
    if value is None:
        return None
    if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos <= 999_999_999):
        raise DataError(f"{field}: outside 0001-01-01 .. 9999-12-31 (or bad nanos)", field=field)
    return value.ToDatetime(_dt.UTC)


def check_business_date(value: str) -> str:
    """A business day as ``YYYY-MM-DD``."""
    try:
        return _dt.date.fromisoformat(value).isoformat() if len(value) == 10 else _raise()
    except ValueError:
        raise DataError("business_date: required as YYYY-MM-DD", field="business_date") from None


def _raise() -> str:
    raise ValueError
