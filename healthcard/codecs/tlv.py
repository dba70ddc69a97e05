"""One-TLV-per-record encoding of the health-card record files (WS/T 543.3 record addressing).

Each record holds exactly one ``tag(1) ‖ len(1) ‖ value(len)``; the tag is the data-item number.
"""

from __future__ import annotations

from apdu.errors import DataError

__all__ = ["decode_tlv", "encode_tlv"]


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Build one record ``tag ‖ len ‖ value`` (value up to 255 bytes)."""
    if not 1 <= tag <= 0xFE:
        raise DataError(f"TLV tag must be 1..254, got {tag}", field=f"tag_{tag}")
    if len(value) > 0xFF:
        raise DataError(f"item {tag}: value of {len(value)} bytes does not fit a 1-byte length", field=f"tag_{tag}")
    return bytes((tag, len(value))) + value


def decode_tlv(record: bytes) -> tuple[int, bytes]:
    """Split one record into ``(tag, value)``; trailing ``00``/``FF`` filler after the value is ignored."""
    if len(record) < 2:
        raise DataError(f"TLV record too short: {len(record)} bytes", field="record")
    tag, length = record[0], record[1]
    if len(record) < 2 + length:
        raise DataError(f"item {tag}: length {length} exceeds the {len(record) - 2} bytes present", field=f"tag_{tag}")
    rest = record[2 + length :]
    if rest.strip(b"\x00\xff"):
        raise DataError(f"item {tag}: unexpected bytes after the value", field=f"tag_{tag}")
    return tag, bytes(record[2 : 2 + length])
