"""Typed response records of the e-purse, PSAM and health-card SAM commands.

Each fixed record is a frozen dataclass whose byte layout is declared once, as a compiled ``construct`` Struct
(:class:`Layout`): ``parse(data)`` splits with it (raises :class:`~apdu.errors.ApduFormatError` whose ``field``
names the record on a wrong length) and ``encode()`` builds with it (``field`` names a value that does not fit),
so the terminal parses with the very declaration the simulated card and SAM answer with. Amounts and balances
are integer fen; counters are integers; MACs, TACs and randoms are ``bytes``. :class:`SamPublicInfo` (variable
length, optional trailing fields) keeps a hand-written split. Layouts: JR/T 0025.1 purse commands (card), JR/T 0025.2
purchase with a PSAM; PSAM COS, sources.md V2 (PSAM), 健康卡 SAM spec: files (SAM).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import ClassVar, Self

from apdu._checks import check_bytes, check_int
from apdu.bcd import decode_date, encode_date
from apdu.errors import ApduFormatError
from apdu.layout import Layout, raw, uint

__all__ = [
    "BalanceResponse",
    "CreditForLoadResponse",
    "DebitForPurchaseResponse",
    "DebitForUnloadResponse",
    "HealthSamAppInfo",
    "InitForLoadResponse",
    "InitForPurchaseResponse",
    "InitForUpdateResponse",
    "Layout",
    "SamPublicInfo",
    "SamPurchaseInitResponse",
    "TerminalInfo",
    "TransactionProveResponse",
    "UpdateOverdraftLimitResponse",
]


def _byte(name: str, value: int) -> bytes:
    return bytes((check_int(name, value, 0, 0xFF),))


@dataclass(frozen=True, slots=True)
class _FixedRecord:
    """A record of one :class:`Layout` whose field names are the dataclass's attributes; :attr:`LENGTH` (its
    length in bytes) is the layout's size."""

    LAYOUT: ClassVar[Layout]
    LENGTH: ClassVar[int]

    def __init_subclass__(cls) -> None:  # no super(): a slots dataclass is a new class (its __class__ cell is stale)
        if "LAYOUT" in cls.__dict__:
            cls.LENGTH = cls.LAYOUT.size

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the response bytes by the record's layout."""
        return cls(*cls.LAYOUT.values(cls.__name__, data))  # the layout declares the attributes in order

    def encode(self) -> bytes:
        """The response bytes, built by the record's layout."""
        return self.LAYOUT.build_from(self.__getattribute__)


@dataclass(frozen=True, slots=True)
class InitForLoadResponse(_FixedRecord):
    """INITIALIZE FOR LOAD (and FOR UNLOAD) answer, 16 bytes (JR/T 0025.1 INITIALIZE FOR LOAD, JR/T 0025.1 INITIALIZE
    FOR UNLOAD).

    old balance(4) ‖ online counter(2) ‖ key version(1) ‖ algorithm ID(1) ‖ ICC random(4) ‖ MAC1(4).
    """

    LAYOUT: ClassVar[Layout] = Layout(
        uint("balance", 4), uint("online_counter", 2), uint("key_version", 1), uint("algorithm", 1),
        raw("icc_random", 4), raw("mac1", 4),
    )  # fmt: skip
    balance: int
    online_counter: int
    key_version: int
    algorithm: int
    icc_random: bytes
    mac1: bytes


@dataclass(frozen=True, slots=True)
class InitForPurchaseResponse(_FixedRecord):
    """INITIALIZE FOR PURCHASE (and CASH WITHDRAW, CAPP PURCHASE) answer, 15 bytes (JR/T 0025.1 INITIALIZE FOR
    PURCHASE).

    old balance(4) ‖ offline counter(2) ‖ overdraft limit(3) ‖ key version(1) ‖ algorithm ID(1) ‖ ICC random(4).
    """

    LAYOUT: ClassVar[Layout] = Layout(
        uint("balance", 4), uint("offline_counter", 2), uint("overdraft_limit", 3), uint("key_version", 1),
        uint("algorithm", 1), raw("icc_random", 4),
    )  # fmt: skip
    balance: int
    offline_counter: int
    overdraft_limit: int
    key_version: int
    algorithm: int
    icc_random: bytes


@dataclass(frozen=True, slots=True)
class InitForUpdateResponse(_FixedRecord):
    """INITIALIZE FOR UPDATE (overdraft limit) answer, 19 bytes (JR/T 0025.1 UPDATE OVERDRAW LIMIT).

    balance(4) ‖ online counter(2) ‖ old limit(3) ‖ key version(1) ‖ algorithm ID(1) ‖ random(4) ‖ MAC1(4).
    """

    LAYOUT: ClassVar[Layout] = Layout(
        uint("balance", 4), uint("online_counter", 2), uint("overdraft_limit", 3), uint("key_version", 1),
        uint("algorithm", 1), raw("icc_random", 4), raw("mac1", 4),
    )  # fmt: skip
    balance: int
    online_counter: int
    overdraft_limit: int
    key_version: int
    algorithm: int
    icc_random: bytes
    mac1: bytes


@dataclass(frozen=True, slots=True)
class DebitForPurchaseResponse(_FixedRecord):
    """DEBIT FOR PURCHASE answer: TAC(4) ‖ MAC2(4), in that order (JR/T 0025.1 DEBIT FOR PURCHASE)."""

    LAYOUT: ClassVar[Layout] = Layout(raw("tac", 4), raw("mac2", 4))
    tac: bytes
    mac2: bytes


_TAC = Layout(raw("tac", 4))


@dataclass(frozen=True, slots=True)
class CreditForLoadResponse(_FixedRecord):
    """CREDIT FOR LOAD answer: TAC(4) (JR/T 0025.1 CREDIT FOR LOAD)."""

    LAYOUT: ClassVar[Layout] = _TAC
    tac: bytes


@dataclass(frozen=True, slots=True)
class UpdateOverdraftLimitResponse(_FixedRecord):
    """UPDATE OVERDRAW LIMIT answer: TAC(4) (JR/T 0025.1 UPDATE OVERDRAW LIMIT)."""

    LAYOUT: ClassVar[Layout] = _TAC
    tac: bytes


@dataclass(frozen=True, slots=True)
class DebitForUnloadResponse(_FixedRecord):
    """DEBIT FOR UNLOAD answer: a MAC(4) under the session key, not a TAC (JR/T 0025.1 INITIALIZE FOR UNLOAD)."""

    LAYOUT: ClassVar[Layout] = Layout(raw("mac", 4))
    mac: bytes


@dataclass(frozen=True, slots=True)
class TransactionProveResponse(_FixedRecord):
    """GET TRANSACTION PROVE answer: MAC(4) ‖ TAC(4) (JR/T 0025.1 GET TRANSACTION PROVE: TAC at bytes 4..7, M
    confidence)."""

    LAYOUT: ClassVar[Layout] = Layout(raw("mac", 4), raw("tac", 4))
    mac: bytes
    tac: bytes


@dataclass(frozen=True, slots=True)
class BalanceResponse(_FixedRecord):
    """GET BALANCE answer: balance(4), big-endian fen (JR/T 0025.1 GET BALANCE)."""

    LAYOUT: ClassVar[Layout] = Layout(uint("balance", 4))
    balance: int


@dataclass(frozen=True, slots=True)
class SamPurchaseInitResponse(_FixedRecord):
    """PSAM INIT_SAM_FOR_PURCHASE (``80 70``) answer: terminal transaction serial(4) ‖ MAC1(4) (JR/T 0025.2 purchase
    with a PSAM)."""

    LAYOUT: ClassVar[Layout] = Layout(uint("terminal_serial", 4), raw("mac1", 4))
    terminal_serial: int
    mac1: bytes


@dataclass(frozen=True, slots=True)
class TerminalInfo(_FixedRecord):
    """The 6-byte terminal number (终端机编号): PSAM EF16 ``00 B0 96 00 06`` (PSAM files, sources.md V2), health SAM
    EF0016 (健康卡 SAM spec: files: province(1) ‖ city(1) ‖ issuer(1) ‖ serial(3))."""

    LAYOUT: ClassVar[Layout] = Layout(raw("terminal_id", 6))
    terminal_id: bytes

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

    The first 10 bytes are the SAM serial number (PSAM files, sources.md V2, read ``00 B0 95 00 0A``). The health SAM's
    14-byte file continues with version(1) ‖ key-card type(1) ‖ command-set version(1) ‖ issuer FCI data(1)
    (健康卡 SAM spec: files); fields not present are ``None`` / empty.
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
    """Health SAM DF01/EF001A, 25 bytes (健康卡 SAM spec: files).

    key index(1) ‖ application issuer ID(8) ‖ application receiver ID(8) ‖ start date(4, BCD) ‖
    expiry date(4, BCD).
    """

    LAYOUT: ClassVar[Layout] = Layout(
        uint("key_index", 1), raw("issuer_id", 8), raw("receiver_id", 8), raw("start_date", 4),
        raw("expiry_date", 4),
    )  # fmt: skip
    LENGTH: ClassVar[int] = LAYOUT.size
    key_index: int
    issuer_id: bytes
    receiver_id: bytes
    start_date: _dt.date
    expiry_date: _dt.date

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Split the 25 bytes; the dates must be valid BCD dates."""
        f = cls.LAYOUT.parse(cls.__name__, data)
        start = decode_date(f["start_date"], field="start_date")
        expiry = decode_date(f["expiry_date"], field="expiry_date")
        return cls(f["key_index"], f["issuer_id"], f["receiver_id"], start, expiry)

    def encode(self) -> bytes:
        """The 25 bytes."""
        dates = {"start_date": encode_date(self.start_date), "expiry_date": encode_date(self.expiry_date)}
        return self.LAYOUT.build({"key_index": self.key_index, "issuer_id": self.issuer_id,
                                  "receiver_id": self.receiver_id, **dates})  # fmt: skip
