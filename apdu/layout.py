"""Fixed byte layouts declared once: named big-endian unsigned integers and byte strings, in order.

A :class:`Layout` is both the codec of a card or SAM answer (:mod:`apdu.response_records`) and the declaration of
the data a MAC or TAC is computed over (:mod:`sam.crypto.purse_crypto`), so the two sides of a transaction build
the same bytes from the same declaration (JR/T 0025.1 data formats: amounts and counters big-endian binary).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import construct as cs

from apdu._checks import check_bytes, check_int
from apdu.errors import ApduFormatError

__all__ = ["Layout", "raw", "uint"]


def _need(record: str, data: bytes, length: int) -> bytes:
    data = bytes(data)
    if len(data) != length:
        raise ApduFormatError(f"{record} response must be {length} bytes, got {len(data)}", field=record)
    return data


class Layout:
    """A fixed byte layout declared once: named big-endian unsigned integers and byte strings, in order.

    The declaration is a ``construct`` Struct (:attr:`struct`, the reference codec: the tests check that
    :meth:`parse` and :meth:`build` agree with it byte for byte). The two methods slice by the offsets it
    declares, because a compiled Struct costs about 10 µs per record, a quarter of the virtual card's purchase
    rate (benchmarks/simulator.py). Values are checked so that one that does not fit raises
    :class:`~apdu.errors.ApduFormatError` naming its field.
    """

    def __init__(self, *fields: cs.Renamed) -> None:
        self.struct = cs.Struct(*fields)
        self.size: int = self.struct.sizeof()
        self.fields: tuple[tuple[str, int, bool], ...] = tuple(
            (f.name, f.sizeof(), isinstance(f.subcon, cs.Bytes)) for f in fields
        )
        offsets, at = [], 0
        for name, size, is_bytes in self.fields:
            offsets.append((name, at, at + size, is_bytes))
            at += size
        self._slices: tuple[tuple[str, int, int, bool], ...] = tuple(offsets)
        codes = {1: "B", 2: "H", 4: "I", 8: "Q"}  # a 3-byte integer has no struct code: pack() checks field by field
        fmt = "".join(f"{size}s" if is_bytes else codes.get(size, "?") for _, size, is_bytes in self.fields)
        self._packer = struct.Struct(">" + fmt) if "?" not in fmt else None
        self._bytes_at = tuple((i, size) for i, (_, size, is_bytes) in enumerate(self.fields) if is_bytes)
        self._ints_at = tuple(i for i, (_, _, is_bytes) in enumerate(self.fields) if not is_bytes)

    def parse(self, record: str, data: bytes) -> dict[str, Any]:
        """The field values of ``data``; ``ApduFormatError(field=record)`` unless it has exactly :attr:`size` bytes."""
        return dict(zip((name for name, _, _ in self.fields), self.values(record, data), strict=True))

    def values(self, record: str, data: bytes) -> list[Any]:
        """The field values of ``data`` in declaration order (see :meth:`parse`)."""
        d = _need(record, data, self.size)
        return [d[a:b] if is_bytes else int.from_bytes(d[a:b], "big") for _, a, b, is_bytes in self._slices]

    def build(self, values: dict[str, Any]) -> bytes:
        """The bytes of ``values`` (every field checked: ints in range, byte strings of their length)."""
        return self.build_from(values.__getitem__)

    def pack(self, *values: Any) -> bytes:
        """:meth:`build` with the values in declaration order: the same checks and the same bytes, through a
        precompiled ``struct`` when every value fits (the MAC and TAC data of each purchase,
        :mod:`sam.crypto.purse_crypto`; ``build`` costs about 3 µs more)."""
        if self._packer is not None and len(values) == len(self.fields):
            for i, size in self._bytes_at:  # struct would pad or cut a byte string of another length
                if type(values[i]) is not bytes or len(values[i]) != size:
                    break
            else:
                for i in self._ints_at:  # nor bool nor float: exactly int, as check_int wants
                    if type(values[i]) is not int:
                        break
                else:
                    try:
                        return self._packer.pack(*values)
                    except struct.error:
                        pass  # an integer out of range: build names it
        return self.build(dict(zip((name for name, _, _ in self.fields), values, strict=True)))

    def build_from(self, value: Callable[[str], Any]) -> bytes:
        """The bytes of the values ``value(name)`` gives (see :meth:`build`)."""
        out = b""
        for name, size, is_bytes in self.fields:
            if is_bytes:
                out += check_bytes(name, value(name), size)
            else:
                out += check_int(name, value(name), 0, (1 << (8 * size)) - 1).to_bytes(size, "big")
        return out


def uint(name: str, size: int) -> cs.Renamed:
    """A big-endian unsigned integer field of ``size`` bytes."""
    return name / cs.BytesInteger(size)


def raw(name: str, size: int) -> cs.Renamed:
    """A byte-string field of exactly ``size`` bytes."""
    return name / cs.Bytes(size)
