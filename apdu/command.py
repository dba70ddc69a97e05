"""Command APDUs (ISO/IEC 7816-4 §5.1): one immutable type for all seven cases.

Cases (ISO/IEC 7816-4:2013 §5.1, table 1; openemv/emv-utils ``iso7816_apdu.h``):

====  ===========================================  =====================================
case  short form                                   extended form
====  ===========================================  =====================================
1     CLA INS P1 P2                                --
2     CLA INS P1 P2 Le(1)                          CLA INS P1 P2 00 Le(2)
3     CLA INS P1 P2 Lc(1) data                     CLA INS P1 P2 00 Lc(2) data
4     CLA INS P1 P2 Lc(1) data Le(1)               CLA INS P1 P2 00 Lc(2) data Le(2)
====  ===========================================  =====================================

"No Le" (``le=None``) is kept distinct from "Le = 0": a short ``Le`` byte ``00`` means 256 and an extended
``00 00`` means 65536, so ``le`` holds the *number of bytes expected* (1..65536) and the encoder writes the
zero byte(s) itself. Confusing the two caused an endless read loop in OpenSC (OpenSC#1731).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

from apdu.errors import ApduFormatError

__all__ = ["MAX_EXTENDED_LC", "MAX_EXTENDED_LE", "MAX_SHORT_LC", "MAX_SHORT_LE", "Command", "Redact"]

MAX_SHORT_LC = 255
MAX_SHORT_LE = 256
MAX_EXTENDED_LC = 65535
MAX_EXTENDED_LE = 65536


class Redact(enum.Flag):
    """What an APDU trace must hide for this command (PINs, keys, session data)."""

    NOTHING = 0
    COMMAND_DATA = enum.auto()
    RESPONSE_DATA = enum.auto()
    BOTH = COMMAND_DATA | RESPONSE_DATA


_RESERVED_INS = frozenset((0x60, 0x90))  # INS 6X and 9X (ISO/IEC 7816-3 §10.3.2: procedure bytes under T=0)
_new = object.__new__


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ApduFormatError(f"{name} must be a byte (0..255), got {value}", field=name)


@dataclass(frozen=True, slots=True, repr=False)
class Command:
    """A command APDU.

    Parameters
    ----------
    cla, ins, p1, p2:
        Header bytes.
    data:
        Command data field (``Nc`` = ``len(data)`` bytes, 0..65535).
    le:
        Expected response length ``Ne`` in bytes (1..65536), or ``None`` for no Le field. ``256`` encodes as a
        short ``00``; ``65536`` as an extended ``00 00``.
    extended:
        Force the extended form. By default the short form is used whenever the lengths fit.
    redact:
        What tracing must hide (set by builders for VERIFY, WRITE KEY, SAM key operations ...). Not part of the
        encoding and ignored by equality.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False
    redact: Redact = field(default=Redact.NOTHING, compare=False)

    def __post_init__(self) -> None:
        if not (0 <= self.cla <= 0xFF and 0 <= self.ins <= 0xFF and 0 <= self.p1 <= 0xFF and 0 <= self.p2 <= 0xFF):
            for name in ("cla", "ins", "p1", "p2"):
                _check_byte(name, getattr(self, name))
        data = self.data
        if type(data) is not bytes:
            data = bytes(data)
            object.__setattr__(self, "data", data)
        nc, le = len(data), self.le
        if nc > MAX_EXTENDED_LC:
            raise ApduFormatError(f"data field too long: {nc} > {MAX_EXTENDED_LC}", field="data")
        if le is not None and not 1 <= le <= MAX_EXTENDED_LE:
            raise ApduFormatError(f"Le must be 1..{MAX_EXTENDED_LE} or absent, got {le}", field="le")
        if not self.extended:
            if nc > MAX_SHORT_LC or (le is not None and le > MAX_SHORT_LE):
                object.__setattr__(self, "extended", True)
        elif not nc and le is None:
            # Case 1 has no length field, hence no extended form: normalise so decode(encode(c)) == c.
            object.__setattr__(self, "extended", False)
        if (self.ins & 0xF0) in _RESERVED_INS:
            raise ApduFormatError(f"INS {self.ins:02X} is invalid (6X and 9X are reserved)", field="ins")

    @property
    def case(self) -> int:
        """ISO/IEC 7816-3 case number 1..4."""
        if self.data:
            return 4 if self.le is not None else 3
        return 2 if self.le is not None else 1

    @property
    def header(self) -> bytes:
        """The four header bytes CLA INS P1 P2."""
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def encode(self) -> bytes:
        """Serialise to the bytes sent to the card."""
        out = bytearray(self.header)
        nc = len(self.data)
        if self.extended:
            if nc:
                out += b"\x00" + nc.to_bytes(2, "big") + self.data
                if self.le is not None:
                    out += (self.le % 65536).to_bytes(2, "big")
            elif self.le is not None:
                out += b"\x00" + (self.le % 65536).to_bytes(2, "big")
        else:
            if nc:
                out.append(nc)
                out += self.data
            if self.le is not None:
                out.append(self.le % 256)
        return bytes(out)

    __bytes__ = encode

    def with_le(self, le: int | None) -> Command:
        """The same command with another Le (used for the 6Cxx re-send)."""
        return Command(self.cla, self.ins, self.p1, self.p2, self.data, le, self.extended, self.redact)

    def with_cla(self, cla: int) -> Command:
        """The same command with another class byte (e.g. secure messaging ``04``/``84``)."""
        return Command(cla, self.ins, self.p1, self.p2, self.data, self.le, self.extended, self.redact)

    @classmethod
    def decode(cls, raw: bytes) -> Command:
        """Parse any valid short or extended command APDU; raise :class:`ApduFormatError` otherwise.

        The case is decided from the length as in ISO/IEC 7816-3 §12.1.3 (and emv-utils
        ``iso7816_apdu_case``). This is the simulators' per-APDU path (:mod:`apdu.engine`), so the object is built
        without :meth:`__post_init__`: every value taken from the bytes is already a byte, a length within range
        or an Le of 1..65536, and only the INS byte can still be invalid. ``tests/apdu/test_command_decode.py``
        checks that the result equals what the validating constructor builds, for any bytes.
        """
        if type(raw) is not bytes:
            raw = bytes(raw)
        n = len(raw)
        if n < 4:
            raise ApduFormatError(f"command APDU too short: {n} bytes (the header alone is 4)", field="header")
        data, le, extended = b"", None, False
        if n == 5:
            le = raw[4] or 256
        elif n > 5:
            nc = raw[4]
            if nc:
                if n == 5 + nc:
                    data = raw[5:]
                elif n == 6 + nc:
                    data, le = raw[5:-1], raw[-1] or 256
                else:
                    raise ApduFormatError(f"Lc = {nc} does not match the {n - 5} bytes that follow it", field="lc")
            else:  # 00 and more bytes: extended length
                extended = True
                if n == 6:
                    raise ApduFormatError("extended length field truncated: 00 must be followed by 2 bytes", field="lc")
                if n == 7:
                    le = ((raw[5] << 8) | raw[6]) or 65536
                else:
                    nc = (raw[5] << 8) | raw[6]
                    if nc == 0:
                        raise ApduFormatError("extended Lc of 0 is not allowed", field="lc")
                    if n == 7 + nc:
                        data = raw[7:]
                    elif n == 9 + nc:
                        data, le = raw[7:-2], ((raw[-2] << 8) | raw[-1]) or 65536
                    else:
                        raise ApduFormatError(
                            f"extended Lc = {nc} does not match the {n - 7} bytes that follow it", field="lc"
                        )
        ins = raw[1]
        if (ins & 0xF0) in _RESERVED_INS:
            raise ApduFormatError(f"INS {ins:02X} is invalid (6X and 9X are reserved)", field="ins")
        command = _new(cls)
        # The slots written directly (the dataclass is frozen for everyone else; object.__setattr__ is slower).
        _set_cla(command, raw[0])
        _set_ins(command, ins)
        _set_p1(command, raw[2])
        _set_p2(command, raw[3])
        _set_data(command, data)
        _set_le(command, le)
        _set_extended(command, extended)
        _set_redact(command, _NOTHING)
        return command

    def __str__(self) -> str:
        """Hex form; a command flagged ``Redact.COMMAND_DATA`` shows its data length only."""
        if self.redact & Redact.COMMAND_DATA and self.data:
            head = self.header.hex(" ").upper()
            tail = f" Le={self.le}" if self.le is not None else ""
            return f"{head} <{len(self.data)} data bytes redacted>{tail}"
        return self.encode().hex(" ").upper()

    def __repr__(self) -> str:
        """Like the dataclass repr, but redacted data is never shown (PINs, keys)."""
        data = (
            f"<{len(self.data)} bytes redacted>" if self.redact & Redact.COMMAND_DATA and self.data else repr(self.data)
        )
        return (
            f"Command(cla=0x{self.cla:02X}, ins=0x{self.ins:02X}, p1=0x{self.p1:02X}, p2=0x{self.p2:02X}, "
            f"data={data}, le={self.le}, extended={self.extended}, redact={self.redact})"
        )


# Command.decode's direct slot writers (member descriptors of the frozen dataclass's __slots__).
_set_cla, _set_ins, _set_p1, _set_p2, _set_data, _set_le, _set_extended, _set_redact = (
    getattr(Command, f.name).__set__ for f in fields(Command)
)
_NOTHING = Redact.NOTHING
