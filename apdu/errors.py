"""The project's exception hierarchy: every error says which layer failed.

Layers (PC/SC field problems, sources.md F6.6: users cannot tell a reader failure from a card or library failure):

* ``READER``  – PC/SC, pcscd, vpcd, the socket: no card, card removed, reader gone, transmit failed.
* ``CARD``    – the user card answered with an error status word.
* ``SAM``     – the SAM/PSAM answered with an error status word, or refused an operation.
* ``LIBRARY`` – this library detected a protocol or cryptographic inconsistency (bad MAC from the card,
  malformed response, loop bound exceeded).
* ``DATA``    – the caller's data failed validation (ID number check digit, text too long ...).

Messages never contain keys, PINs or session data.
"""

from __future__ import annotations

import enum
from typing import Protocol, cast

from apdu.status import Category, StatusInfo, describe, tries_in

__all__ = [
    "ApduFormatError",
    "BlockedError",
    "CardError",
    "CommandHeader",
    "CommandNotSupportedError",
    "ConditionsNotSatisfiedError",
    "DataError",
    "ExecutionError",
    "FileError",
    "HealthCardError",
    "InsufficientFundsError",
    "Layer",
    "LibraryError",
    "MacError",
    "MissingInputError",
    "ParameterError",
    "PinBlockedError",
    "PinError",
    "PurseError",
    "ReaderError",
    "RecordNotFoundError",
    "SamError",
    "SecurityStatusError",
    "StorageError",
    "WarningStatusError",
    "WrongLengthError",
    "error_for",
    "error_type",
    "sam_variant",
]


class CommandHeader(Protocol):
    """What an error keeps of the command that caused it (:class:`apdu.command.Command` is one).

    A protocol rather than an import, so ``apdu.command`` (which raises :class:`ApduFormatError`) and this
    module form no import circle.
    """

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        ...


class Layer(enum.Enum):
    """Which layer of the stack failed."""

    READER = "reader"
    CARD = "card"
    SAM = "SAM"
    LIBRARY = "library"
    DATA = "data"


class HealthCardError(Exception):
    """Base of every error raised by the project."""

    layer: Layer = Layer.LIBRARY

    def __init__(self, message: str, *, layer: Layer | None = None) -> None:
        super().__init__(message)
        if layer is not None:
            self.layer = layer
        self.message = message

    def __str__(self) -> str:
        return f"[{self.layer.value}] {self.message}"


class LibraryError(HealthCardError):
    """The library found an inconsistency (protocol, response format, bound exceeded)."""

    layer = Layer.LIBRARY


class MissingInputError(LibraryError):
    """The operation needs something the caller did not give the session; ``needs`` names it.

    ``"sam"`` (no SAM reader / SAM object) or ``"sam_pin"`` (the SAM PIN for PIN-gated SAM operations), so a
    front end can name its own option for it (the ``healthcard`` command says which flag to add).
    """

    def __init__(self, message: str, *, needs: str) -> None:
        super().__init__(message)
        self.needs = needs


class ApduFormatError(LibraryError, ValueError):
    """A command or response APDU could not be built or parsed; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class DataError(HealthCardError, ValueError):
    """Caller-supplied data failed validation; ``field`` names the data element."""

    layer = Layer.DATA

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ReaderError(HealthCardError):
    """The reader, PC/SC service or transport failed (no card, removed card, reader gone ...)."""

    layer = Layer.READER

    def __init__(self, message: str, *, reader: str = "", removed: bool = False, no_card: bool = False) -> None:
        super().__init__(message)
        self.reader = reader
        #: The card went away (during an operation, or there was none when one started).
        self.removed = removed or no_card
        #: There was no card in the reader when the operation started (nothing was sent to a card).
        self.no_card = no_card


class CardError(HealthCardError):
    """A card (or SAM) answered with an error status word.

    Attributes
    ----------
    sw:
        The 16-bit status word.
    info:
        Its English and Chinese meaning and its category (:class:`apdu.status.StatusInfo`).
    command:
        The command that caused it (traces redact its data when the command asks for it; ``str(error)``
        never prints command data).
    """

    layer = Layer.CARD

    def __init__(
        self, sw: int, info: StatusInfo, command: CommandHeader | None = None, *, layer: Layer | None = None
    ) -> None:
        self.sw = sw
        self.info = info
        self.command = command
        where = f" to {command.header.hex(' ').upper()}" if command is not None else ""
        super().__init__(f"SW {sw:04X}{where}: {info.english} / {info.chinese}", layer=layer)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable although __init__ takes (sw, info, command) rather than the message.
        return (type(self), (self.sw, self.info, self.command), self.__dict__)


class SamError(CardError):
    """The SAM answered with an error status word."""

    layer = Layer.SAM


# --- Typed status-word errors -------------------------------------------------------------------------------
#
# Design: every failing status word raises a subclass of CardError chosen by apdu.status (by word, then by
# category). A SAM answering the same word raises the *SAM variant* of that class: a class deriving from both
# SamError and the typed class (e.g. ``SamMacError(SamError, MacError)``), generated once for every typed class
# below and registered in this module under its name. So ``except MacError`` catches a MAC failure from the card
# or from the SAM, ``except SamError`` catches every SAM failure, and ``error.layer`` tells them apart.


class WarningStatusError(CardError):
    """A warning word (62xx, 63xx other than 63Cx) where success was required (ISO/IEC 7816-4 table 6)."""


class ExecutionError(CardError):
    """An execution error (64xx, 65xx other than memory failures, 6F00, 6Fxx) (ISO/IEC 7816-4 table 6)."""


class StorageError(CardError):
    """Memory failure or not enough space (6581, 6A84) (ISO/IEC 7816-4 table 6; ISO/IEC 7816-4 and JR/T 0025.1 status
    words)."""


class WrongLengthError(CardError):
    """Wrong length (6700, 67xx) or wrong Le (6Cxx).

    ``exact_length`` is the length the card asks for in a 6Cxx word (``6C00`` = 256), otherwise ``None``.
    """

    @property
    def exact_length(self) -> int | None:
        """Le the card asks for (6Cxx), or ``None``."""
        return (self.sw & 0xFF or 256) if self.sw >> 8 == 0x6C else None


class SecurityStatusError(CardError):
    """Security status not satisfied and related access refusals (6982, 6984, 6986, 6987 ...)."""


class ConditionsNotSatisfiedError(SecurityStatusError):
    """Conditions of use not satisfied (6985), e.g. CREDIT FOR LOAD not preceded by INITIALIZE FOR LOAD."""


class MacError(SecurityStatusError):
    """A MAC or secure-messaging object was wrong (9302 MAC error, 6988 incorrect SM data objects)."""


class PinError(SecurityStatusError):
    """Verification of a PIN or key failed (63Cx, 6300; VERIFY or EXTERNAL AUTHENTICATE).

    ``tries_left`` is the ``x`` of 63Cx, 0 for a blocked PIN/key (6983), ``None`` when the card does not say.
    """

    @property
    def tries_left(self) -> int | None:
        """Remaining tries, or ``None`` if the word does not carry them."""
        return tries_in(self.sw)


class PinBlockedError(PinError):
    """The PIN or key is blocked (6983 "authentication method blocked" / 密钥被锁死)."""


class FileError(CardError):
    """File-system errors: file not found (6A82), incompatible structure (6981), file exists (6A89) ..."""


class RecordNotFoundError(FileError):
    """Record not found (6A83)."""


class ParameterError(CardError):
    """Wrong parameters: P1-P2 (6A86, 6B00, 6Axx), data field (6A80), referenced data/key not found (6A88)."""


class CommandNotSupportedError(CardError):
    """INS or CLA not supported (6D00, 6E00), CLA functions not supported (68xx), command not allowed (6986)."""


class BlockedError(CardError):
    """Application or card blocked: 9303 permanently locked, 6A81 function not supported / locked, 6283."""


class PurseError(CardError):
    """E-purse refusals (93xx, 94xx): key index not supported (9403), MAC unavailable (9406) ..."""


class InsufficientFundsError(PurseError):
    """Insufficient funds for the purchase (9401, 金额不足)."""


_TYPED: tuple[type[CardError], ...] = (
    WarningStatusError,
    ExecutionError,
    StorageError,
    WrongLengthError,
    SecurityStatusError,
    ConditionsNotSatisfiedError,
    MacError,
    PinError,
    PinBlockedError,
    FileError,
    RecordNotFoundError,
    ParameterError,
    CommandNotSupportedError,
    BlockedError,
    PurseError,
    InsufficientFundsError,
)

_SAM_VARIANTS: dict[type[CardError], type[SamError]] = {CardError: SamError, SamError: SamError}


def _make_sam_variant(cls: type[CardError]) -> type[SamError]:
    name = f"Sam{cls.__name__}"
    namespace = {"__doc__": f"{cls.__name__} answered by the SAM.", "__module__": __name__}
    variant = cast("type[SamError]", type(name, (SamError, cls), namespace))
    globals()[name] = variant  # importable and picklable by name: apdu.errors.SamMacError ...
    return variant


for _cls in _TYPED:
    _SAM_VARIANTS[_cls] = _make_sam_variant(_cls)


def sam_variant(cls: type[CardError]) -> type[SamError]:
    """The class raised when the SAM answers with a word that maps to ``cls`` (subclass of both)."""
    try:
        return _SAM_VARIANTS[cls]
    except KeyError:
        variant = _SAM_VARIANTS[cls] = _make_sam_variant(cls)
        return variant


_C = Category

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


def error_type(info: StatusInfo, layer: Layer = Layer.CARD) -> type[CardError]:
    """The error class raised for ``info``: by category, the SAM variant when ``layer`` is ``Layer.SAM``."""
    cls = _BY_CATEGORY[info.category]
    return sam_variant(cls) if layer is Layer.SAM else cls


def error_for(sw: int, command: CommandHeader | None = None, *, layer: Layer = Layer.CARD) -> CardError:
    """The typed error for a failing ``sw`` (not raised), carrying the command and the layer."""
    info = describe(sw)
    return error_type(info, layer)(sw, info, command, layer=layer)
