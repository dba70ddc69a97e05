"""E-purse fixed records: EF15 public application data (30 B) and the 23-byte detail record.

* EF15 (SFI 0x15) layout chosen for the project (docs/profiles.md; JR/T 0025.2 key diversification, purchase with a PSAM
  use "the rightmost
  8 bytes of the application serial" as diversification factor, sam/data/demo-keys.json): issuer id 8 ‖
  application type 1 ‖ version 1 ‖ application serial 10 ‖ start date 4 (cn) ‖ expiry date 4 (cn) ‖ FCI 2.
* Detail record (JR/T 0025.1 transaction detail file, 23 B): counter 2 ‖ overdraft limit 3 ‖ amount 4 ‖ type 1 ‖
  terminal 6 ‖
  date 4 ‖ time 3.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import construct as cs

from apdu import bcd
from apdu.errors import DataError
from apdu.hexdata import from_hex
from healthcard.codecs.encoding import decode_date, encode_date, parse_date

__all__ = ["DETAIL_RECORD", "EF15_LAYOUT", "PurseApplicationData", "PurseDetail"]

EF15_LAYOUT = cs.Struct(
    "issuer_id" / cs.Bytes(8),
    "app_type" / cs.Int8ub,
    "app_version" / cs.Int8ub,
    "app_serial" / cs.Bytes(10),
    "start_date" / cs.Bytes(4),
    "expiry_date" / cs.Bytes(4),
    "fci" / cs.Bytes(2),
)
DETAIL_RECORD = cs.Struct(
    "counter" / cs.Int16ub,
    "overdraft_limit" / cs.Int24ub,
    "amount" / cs.Int32ub,
    "transaction_type" / cs.Int8ub,
    "terminal_id" / cs.Bytes(6),
    "date" / cs.Bytes(4),
    "time" / cs.Bytes(3),
)


def _hex(value: str, size: int, name: str) -> bytes:
    raw = from_hex(value, name, lambda message: DataError(message, field=name))
    if len(raw) != size:
        raise DataError(f"{name}: {len(raw)} bytes, {size} required", field=name)
    return raw


@dataclass(frozen=True)
class PurseApplicationData:
    """EF15 公共应用基本数据 of the e-purse ADF (30 bytes)."""

    SIZE: ClassVar[int] = 30
    issuer_id: bytes
    app_serial: bytes
    start_date: _dt.date
    expiry_date: _dt.date
    app_type: int = 0x02
    app_version: int = 0x01
    fci: bytes = b"\x00\x00"

    def __post_init__(self) -> None:
        for name, value, size in (
            ("issuer_id", self.issuer_id, 8),
            ("app_serial", self.app_serial, 10),
            ("fci", self.fci, 2),
        ):
            if len(value) != size:
                raise DataError(f"EF15 {name}: {len(value)} bytes, {size} required", field=name)
        for name, byte in (("app_type", self.app_type), ("app_version", self.app_version)):
            if not 0 <= byte <= 0xFF:
                raise DataError(f"EF15 {name}: must be one byte", field=name)
        if self.expiry_date < self.start_date:
            raise DataError("EF15: expiry date before start date", field="expiry_date")

    @property
    def diversification_factor(self) -> bytes:
        """The rightmost 8 bytes of the application serial (EF15 bytes 12..19, JR/T 0025.2 key diversification)."""
        return self.app_serial[-8:]

    def to_bytes(self) -> bytes:
        """The 30-byte file content."""
        out: bytes = EF15_LAYOUT.build(
            {
                "issuer_id": self.issuer_id,
                "app_type": self.app_type,
                "app_version": self.app_version,
                "app_serial": self.app_serial,
                "start_date": encode_date(self.start_date, field="start_date"),
                "expiry_date": encode_date(self.expiry_date, field="expiry_date"),
                "fci": self.fci,
            }
        )
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse the 30-byte content."""
        if len(data) != cls.SIZE:
            raise DataError(f"EF15: {len(data)} bytes, 30 expected", field="EF15")
        p = EF15_LAYOUT.parse(data)
        start = decode_date(p.start_date, field="start_date")
        expiry = decode_date(p.expiry_date, field="expiry_date")
        if start is None or expiry is None:
            raise DataError("EF15: start and expiry dates are required", field="start_date")
        return cls(bytes(p.issuer_id), bytes(p.app_serial), start, expiry, p.app_type, p.app_version, bytes(p.fci))

    def to_json(self) -> dict[str, Any]:
        """Hex strings and ISO dates."""
        return {
            "issuer_id": self.issuer_id.hex().upper(),
            "app_type": self.app_type,
            "app_version": self.app_version,
            "app_serial": self.app_serial.hex().upper(),
            "start_date": self.start_date.isoformat(),
            "expiry_date": self.expiry_date.isoformat(),
            "fci": self.fci.hex().upper(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_json`."""
        return cls(
            _hex(str(data["issuer_id"]), 8, "issuer_id"),
            _hex(str(data["app_serial"]), 10, "app_serial"),
            parse_date(str(data["start_date"]), field="start_date"),
            parse_date(str(data["expiry_date"]), field="expiry_date"),
            int(data.get("app_type", 2)),
            int(data.get("app_version", 1)),
            _hex(str(data.get("fci", "0000")), 2, "fci"),
        )


@dataclass(frozen=True)
class PurseDetail:
    """One 23-byte transaction detail record (JR/T 0025.1 transaction detail file)."""

    SIZE: ClassVar[int] = 23
    counter: int
    overdraft_limit: int
    amount: int
    transaction_type: int
    terminal_id: bytes
    when: _dt.datetime

    def to_bytes(self) -> bytes:
        """The 23-byte record (date and time BCD)."""
        try:
            out: bytes = DETAIL_RECORD.build(
                {
                    "counter": self.counter,
                    "overdraft_limit": self.overdraft_limit,
                    "amount": self.amount,
                    "transaction_type": self.transaction_type,
                    "terminal_id": self.terminal_id,
                    "date": bcd.encode_date(self.when),
                    "time": bcd.encode_time(self.when),
                }
            )
        except cs.ConstructError as exc:
            raise DataError(f"detail record: {exc}", field="detail") from exc
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> Self | None:
        """Parse a record; ``None`` for an empty (all ``00`` or ``FF``) record."""
        if len(data) != cls.SIZE:
            raise DataError(f"detail record: {len(data)} bytes, 23 expected", field="detail")
        if set(data) <= {0x00} or set(data) <= {0xFF}:
            return None
        p = DETAIL_RECORD.parse(data)
        try:
            when = bcd.decode_datetime(bytes(p.date) + bytes(p.time), field="when")
        except ValueError as exc:
            raise DataError("detail record: invalid date/time", field="when") from exc
        return cls(p.counter, p.overdraft_limit, p.amount, p.transaction_type, bytes(p.terminal_id), when)
