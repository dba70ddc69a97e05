"""Typed response records of the e-purse, PSAM and health-card SAM commands.

Each record is a frozen dataclass with ``parse(data)`` (raises :class:`~apdu.errors.ApduFormatError` whose
``field`` names the record, or the offending field, on a wrong length) and ``encode()`` (the exact bytes, so a
simulated card can answer with the same type). Amounts and balances are integer fen; counters are integers;
MACs, TACs and randoms are ``bytes``. Layouts: pboc-purse.md §2 (card), §4-§5 (PSAM), health-card.md §7.1 (SAM).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import ClassVar, Self

from apdu._checks import check_bytes, check_int
from apdu.bcd import decode_date, encode_date
from apdu.errors import ApduFormatError

__all__ = [
    "BalanceResponse",
    "CreditForLoadResponse",
    "DebitForPurchaseResponse",
    "DebitForUnloadResponse",
    "HealthSamAppInfo",
    "InitForLoadResponse",
    "InitForPurchaseResponse",
    "InitForUpdateResponse",
    "SamPublicInfo",
    "SamPurchaseInitResponse",
    "TerminalInfo",
    "TransactionProveResponse",
    "UpdateOverdraftLimitResponse",
]


def _need(record: str, data: bytes, length: int) -> bytes:
    data = bytes(data)
    if len(data) != length:
        raise ApduFormatError(f"{record} response must be {length} bytes, got {len(data)}", field=record)
    return data


def _byte(name: str, value: int) -> bytes:
    return bytes((check_int(name, value, 0, 0xFF),))


def _u(data: bytes, start: int, length: int) -> int:
    return int.from_bytes(data[start : start + length], "big")


@dataclass(frozen=True, slots=True)
class InitForLoadResponse:
    """INITIALIZE FOR LOAD (and FOR UNLOAD) answer, 16 bytes (pboc-purse.md §2.1, §2.7).

    old balance(4) ‖ online counter(2) ‖ key version(1) ‖ algorithm ID(1) ‖ ICC random(4) ‖ MAC1(4).
    """

    LENGTH: ClassVar[int] = 16
    balance: int
    online_counter: int
    key_version: int
    algorithm: int
    icc_random: bytes
    mac1: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 16 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(_u(d, 0, 4), _u(d, 4, 2), d[6], d[7], d[8:12], d[12:16])

    def encode(self) -> bytes:
        """The 16 response bytes."""
        return (
            check_int("balance", self.balance, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + check_int("online_counter", self.online_counter, 0, 0xFFFF).to_bytes(2, "big")
            + _byte("key_version", self.key_version)
            + _byte("algorithm", self.algorithm)
            + check_bytes("icc_random", self.icc_random, 4)
            + check_bytes("mac1", self.mac1, 4)
        )


@dataclass(frozen=True, slots=True)
class InitForPurchaseResponse:
    """INITIALIZE FOR PURCHASE (and CASH WITHDRAW, CAPP PURCHASE) answer, 15 bytes (pboc-purse.md §2.3).

    old balance(4) ‖ offline counter(2) ‖ overdraft limit(3) ‖ key version(1) ‖ algorithm ID(1) ‖ ICC random(4).
    """

    LENGTH: ClassVar[int] = 15
    balance: int
    offline_counter: int
    overdraft_limit: int
    key_version: int
    algorithm: int
    icc_random: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 15 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(_u(d, 0, 4), _u(d, 4, 2), _u(d, 6, 3), d[9], d[10], d[11:15])

    def encode(self) -> bytes:
        """The 15 response bytes."""
        return (
            check_int("balance", self.balance, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + check_int("offline_counter", self.offline_counter, 0, 0xFFFF).to_bytes(2, "big")
            + check_int("overdraft_limit", self.overdraft_limit, 0, 0xFFFFFF).to_bytes(3, "big")
            + _byte("key_version", self.key_version)
            + _byte("algorithm", self.algorithm)
            + check_bytes("icc_random", self.icc_random, 4)
        )


@dataclass(frozen=True, slots=True)
class InitForUpdateResponse:
    """INITIALIZE FOR UPDATE (overdraft limit) answer, 19 bytes (pboc-purse.md §2.8).

    balance(4) ‖ online counter(2) ‖ old limit(3) ‖ key version(1) ‖ algorithm ID(1) ‖ random(4) ‖ MAC1(4).
    """

    LENGTH: ClassVar[int] = 19
    balance: int
    online_counter: int
    overdraft_limit: int
    key_version: int
    algorithm: int
    icc_random: bytes
    mac1: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 19 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(_u(d, 0, 4), _u(d, 4, 2), _u(d, 6, 3), d[9], d[10], d[11:15], d[15:19])

    def encode(self) -> bytes:
        """The 19 response bytes."""
        return (
            check_int("balance", self.balance, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + check_int("online_counter", self.online_counter, 0, 0xFFFF).to_bytes(2, "big")
            + check_int("overdraft_limit", self.overdraft_limit, 0, 0xFFFFFF).to_bytes(3, "big")
            + _byte("key_version", self.key_version)
            + _byte("algorithm", self.algorithm)
            + check_bytes("icc_random", self.icc_random, 4)
            + check_bytes("mac1", self.mac1, 4)
        )


@dataclass(frozen=True, slots=True)
class DebitForPurchaseResponse:
    """DEBIT FOR PURCHASE answer: TAC(4) ‖ MAC2(4), in that order (pboc-purse.md §2.4)."""

    LENGTH: ClassVar[int] = 8
    tac: bytes
    mac2: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 8 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(d[0:4], d[4:8])

    def encode(self) -> bytes:
        """The 8 response bytes."""
        return check_bytes("tac", self.tac, 4) + check_bytes("mac2", self.mac2, 4)


@dataclass(frozen=True, slots=True)
class _TacResponse:
    """An answer that is the 4-byte TAC alone."""

    LENGTH: ClassVar[int] = 4
    tac: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """The 4-byte TAC."""
        return cls(_need(cls.__name__, data, cls.LENGTH))

    def encode(self) -> bytes:
        """The 4 response bytes."""
        return check_bytes("tac", self.tac, 4)


@dataclass(frozen=True, slots=True)
class CreditForLoadResponse(_TacResponse):
    """CREDIT FOR LOAD answer: TAC(4) (pboc-purse.md §2.2)."""


@dataclass(frozen=True, slots=True)
class UpdateOverdraftLimitResponse(_TacResponse):
    """UPDATE OVERDRAW LIMIT answer: TAC(4) (pboc-purse.md §2.8)."""


@dataclass(frozen=True, slots=True)
class DebitForUnloadResponse:
    """DEBIT FOR UNLOAD answer: a MAC(4) under the session key, not a TAC (pboc-purse.md §2.7)."""

    LENGTH: ClassVar[int] = 4
    mac: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """The 4-byte MAC."""
        return cls(_need(cls.__name__, data, cls.LENGTH))

    def encode(self) -> bytes:
        """The 4 response bytes."""
        return check_bytes("mac", self.mac, 4)


@dataclass(frozen=True, slots=True)
class TransactionProveResponse:
    """GET TRANSACTION PROVE answer: MAC(4) ‖ TAC(4) (pboc-purse.md §2.6: TAC at bytes 4..7, M confidence)."""

    LENGTH: ClassVar[int] = 8
    mac: bytes
    tac: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 8 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(d[0:4], d[4:8])

    def encode(self) -> bytes:
        """The 8 response bytes."""
        return check_bytes("mac", self.mac, 4) + check_bytes("tac", self.tac, 4)


@dataclass(frozen=True, slots=True)
class BalanceResponse:
    """GET BALANCE answer: balance(4), big-endian fen (pboc-purse.md §2.5)."""

    LENGTH: ClassVar[int] = 4
    balance: int

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """The balance in fen."""
        return cls(_u(_need(cls.__name__, data, cls.LENGTH), 0, 4))

    def encode(self) -> bytes:
        """The 4 response bytes."""
        return check_int("balance", self.balance, 0, 0xFFFFFFFF).to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class SamPurchaseInitResponse:
    """PSAM INIT_SAM_FOR_PURCHASE (``80 70``) answer: terminal transaction serial(4) ‖ MAC1(4) (pboc-purse.md §4)."""

    LENGTH: ClassVar[int] = 8
    terminal_serial: int
    mac1: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 8 response bytes."""
        d = _need(cls.__name__, data, cls.LENGTH)
        return cls(_u(d, 0, 4), d[4:8])

    def encode(self) -> bytes:
        """The 8 response bytes."""
        serial = check_int("terminal_serial", self.terminal_serial, 0, 0xFFFFFFFF)
        return serial.to_bytes(4, "big") + check_bytes("mac1", self.mac1, 4)


@dataclass(frozen=True, slots=True)
class TerminalInfo:
    """The 6-byte terminal number (终端机编号): PSAM EF16 ``00 B0 96 00 06`` (pboc-purse.md §5.2), health SAM
    EF0016 (health-card.md §7.1: province(1) ‖ city(1) ‖ issuer(1) ‖ serial(3))."""

    LENGTH: ClassVar[int] = 6
    terminal_id: bytes

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """The 6 bytes."""
        return cls(_need(cls.__name__, data, cls.LENGTH))

    def encode(self) -> bytes:
        """The 6 bytes."""
        return check_bytes("terminal_id", self.terminal_id, 6)

    @property
    def province(self) -> int:
        """Health SAM layout: province code (byte 1)."""
        return self.terminal_id[0]

    @property
    def city(self) -> int:
        """Health SAM layout: city code (byte 2)."""
        return self.terminal_id[1]

    @property
    def issuer(self) -> int:
        """Health SAM layout: issuer code (byte 3)."""
        return self.terminal_id[2]

    @property
    def serial(self) -> int:
        """Health SAM layout: serial number (bytes 4..6)."""
        return int.from_bytes(self.terminal_id[3:6], "big")


@dataclass(frozen=True, slots=True)
class SamPublicInfo:
    """SAM public information file EF15/EF0015.

    The first 10 bytes are the SAM serial number (pboc-purse.md §5.2, read ``00 B0 95 00 0A``). The health SAM's
    14-byte file continues with version(1) ‖ key-card type(1) ‖ command-set version(1) ‖ issuer FCI data(1)
    (health-card.md §7.1); fields not present are ``None`` / empty.
    """

    serial: bytes
    version: int | None = None
    key_card_type: int | None = None
    command_set_version: int | None = None
    issuer_data: bytes = field(default=b"")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Accept 10 bytes (serial only) or more."""
        d = bytes(data)
        if len(d) < 10:
            raise ApduFormatError(f"SamPublicInfo needs at least 10 bytes, got {len(d)}", field="serial")
        opt = [d[i] if len(d) > i else None for i in (10, 11, 12)]
        return cls(d[:10], opt[0], opt[1], opt[2], d[13:])

    def encode(self) -> bytes:
        """The bytes of the file as far as its fields are set."""
        out = check_bytes("serial", self.serial, 10)
        for name in ("version", "key_card_type", "command_set_version"):
            value = getattr(self, name)
            if value is None:
                return out
            out += _byte(name, value)
        return out + self.issuer_data


@dataclass(frozen=True, slots=True)
class HealthSamAppInfo:
    """Health SAM DF01/EF001A, 25 bytes (health-card.md §7.1).

    key index(1) ‖ application issuer ID(8) ‖ application receiver ID(8) ‖ start date(4, BCD) ‖
    expiry date(4, BCD).
    """

    LENGTH: ClassVar[int] = 25
    key_index: int
    issuer_id: bytes
    receiver_id: bytes
    start_date: _dt.date
    expiry_date: _dt.date

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 25 bytes; the dates must be valid BCD dates."""
        d = _need(cls.__name__, data, cls.LENGTH)
        start, expiry = decode_date(d[17:21], field="start_date"), decode_date(d[21:25], field="expiry_date")
        return cls(d[0], d[1:9], d[9:17], start, expiry)

    def encode(self) -> bytes:
        """The 25 bytes."""
        return (
            _byte("key_index", self.key_index)
            + check_bytes("issuer_id", self.issuer_id, 8)
            + check_bytes("receiver_id", self.receiver_id, 8)
            + encode_date(self.start_date)
            + encode_date(self.expiry_date)
        )
