"""Typed ISO 7816 / PBOC / FMCOS APDU layer: commands, responses, status words, transports, channel, tracing."""

from apdu.command import Command, Redact
from apdu.errors import (
    ApduFormatError,
    CardError,
    DataError,
    HealthCardError,
    Layer,
    LibraryError,
    ReaderError,
    SamError,
)
from apdu.response import Response

__all__ = [
    "ApduFormatError",
    "CardError",
    "Command",
    "DataError",
    "HealthCardError",
    "Layer",
    "LibraryError",
    "ReaderError",
    "Redact",
    "Response",
    "SamError",
]
