"""The project's exception hierarchy: every error says which layer failed.

Layers (pcsc-vpcd.md §7.6: users cannot tell a reader failure from a card or library failure):

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apdu.command import Command
    from apdu.status import StatusInfo

__all__ = [
    "ApduFormatError",
    "CardError",
    "DataError",
    "HealthCardError",
    "Layer",
    "LibraryError",
    "ReaderError",
    "SamError",
]


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

    def __init__(self, message: str, *, reader: str = "", removed: bool = False) -> None:
        super().__init__(message)
        self.reader = reader
        self.removed = removed


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
        self, sw: int, info: StatusInfo, command: Command | None = None, *, layer: Layer | None = None
    ) -> None:
        self.sw = sw
        self.info = info
        self.command = command
        where = f" to {command.header.hex(' ').upper()}" if command is not None else ""
        super().__init__(f"SW {sw:04X}{where}: {info.english} / {info.chinese}", layer=layer)


class SamError(CardError):
    """The SAM answered with an error status word."""

    layer = Layer.SAM
