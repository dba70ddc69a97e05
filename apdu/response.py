"""Response APDUs (ISO/IEC 7816-4 §5.1): data field ‖ SW1 SW2."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from apdu.errors import ApduFormatError, CardError, CommandHeader, Layer, error_for
from apdu.status import SW

__all__ = ["Response", "check"]


@dataclass(frozen=True, slots=True)
class Response:
    """A response APDU: the data field and the status word."""

    data: bytes
    sw1: int
    sw2: int

    def __post_init__(self) -> None:
        if not (0 <= self.sw1 <= 0xFF and 0 <= self.sw2 <= 0xFF):
            raise ApduFormatError("SW1 and SW2 must be bytes", field="sw")
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))

    @property
    def sw(self) -> int:
        """The status word as one integer, e.g. ``0x9000``."""
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        """True for ``9000`` (normal processing)."""
        return self.sw == SW.OK

    def encode(self) -> bytes:
        """Serialise as sent by the card."""
        return self.data + bytes((self.sw1, self.sw2))

    __bytes__ = encode

    @classmethod
    def decode(cls, raw: bytes) -> Response:
        """Split raw card output into data and SW; at least the two SW bytes are required."""
        raw = bytes(raw)
        if len(raw) < 2:
            raise ApduFormatError(f"response APDU too short: {len(raw)} bytes (SW1 SW2 needed)", field="sw")
        return cls(raw[:-2], raw[-2], raw[-1])

    @classmethod
    def from_sw(cls, sw: int, data: bytes = b"") -> Response:
        """Build a response from a 16-bit status word."""
        return cls(data, (sw >> 8) & 0xFF, sw & 0xFF)

    def __str__(self) -> str:
        head = self.data.hex(" ").upper()
        return f"{head} {self.sw:04X}".strip()


def check(
    response: Response,
    command: CommandHeader | None = None,
    *,
    layer: Layer = Layer.CARD,
    accept: Collection[int] = (SW.OK,),
) -> Response:
    """Return ``response`` if its status word is in ``accept`` (default only ``9000``); raise otherwise.

    The raised error is the typed :class:`~apdu.errors.CardError` subclass for the word (e.g.
    :class:`~apdu.errors.InsufficientFundsError` for 9401), carries ``command``, ``sw``, ``info`` and ``layer``;
    with ``layer=Layer.SAM`` it is also a :class:`~apdu.errors.SamError`. 61xx and 6Cxx are failures here:
    :class:`apdu.channel.Channel` resolves them before checking.
    """
    if response.sw in accept:
        return response
    error: CardError = error_for(response.sw, command, layer=layer)
    raise error
