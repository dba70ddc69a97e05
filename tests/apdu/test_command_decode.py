"""``Command.decode``'s fast path (no ``__post_init__``) against the validating constructor, on any bytes.

The reference below reads the ISO/IEC 7816-3 §12.1.3 case table the other way round from ``Command.decode``: it
lists the seven layouts a command of ``n`` bytes could have, keeps the one whose length fields account for
exactly ``n`` bytes, and builds the command with the validating constructor. The fast path must give an equal
object with the same fields (``extended`` and ``redact`` included) or fail with the same ``ApduFormatError``
field; through the engine, a failure is ``6700``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.command import Command, Redact
from apdu.engine import Engine
from apdu.errors import ApduFormatError

SETTINGS = settings(max_examples=400, deadline=None)


def reference_decode(raw: bytes) -> Command:
    """The one layout of the case table (short and extended) that fits ``raw``, through ``Command(...)``."""
    n = len(raw)
    if n < 4:
        raise ApduFormatError("short", field="header")
    header = (raw[0], raw[1], raw[2], raw[3])
    body = raw[4:]
    fits: list[Command] = []
    if not body:  # case 1
        fits.append(Command(*header))
    if len(body) == 1:  # case 2S: Le 00 = 256
        fits.append(Command(*header, le=body[0] or 256))
    if len(body) >= 2 and body[0] and len(body) == 1 + body[0]:  # case 3S
        fits.append(Command(*header, body[1:]))
    if len(body) >= 3 and body[0] and len(body) == 2 + body[0]:  # case 4S
        fits.append(Command(*header, body[1:-1], le=body[-1] or 256))
    if len(body) == 3 and body[0] == 0:  # case 2E: Le 0000 = 65536
        fits.append(Command(*header, le=int.from_bytes(body[1:], "big") or 65536, extended=True))
    if len(body) > 3 and body[0] == 0:
        nc = int.from_bytes(body[1:3], "big")
        if nc and len(body) == 3 + nc:  # case 3E
            fits.append(Command(*header, body[3:], extended=True))
        if nc and len(body) == 5 + nc:  # case 4E
            fits.append(Command(*header, body[3:-2], le=int.from_bytes(body[-2:], "big") or 65536, extended=True))
    assert len(fits) <= 1, fits  # the table is unambiguous
    if not fits:
        raise ApduFormatError("no layout fits", field="lc")
    return fits[0]


def _outcome(decode: Callable[[bytes], Command], raw: bytes | bytearray | memoryview) -> tuple[str, object]:
    try:
        command = decode(raw)  # type: ignore[arg-type]  # decode also takes a bytearray or memoryview
    except ApduFormatError as exc:
        return "error", exc.field
    return "command", command


@st.composite
def near_valid(draw: st.DrawFn) -> bytes:
    """A header (INS 6X/9X included) and a body built from one layout, its length fields sometimes off by one."""
    header = draw(st.binary(min_size=4, max_size=4))
    data = draw(st.one_of(st.binary(max_size=12), st.binary(min_size=250, max_size=300)))
    le = draw(st.binary(min_size=0, max_size=2))
    skew = draw(st.sampled_from([0, 0, 0, -1, 1]))
    if draw(st.booleans()):
        lc = bytes(((len(data) + skew) % 256,)) if data else b""
    else:
        lc = b"\x00" + ((len(data) + skew) % 65536).to_bytes(2, "big") if data else b"\x00"
    return header + lc + data + le


def _same(fast: Command, strict: Command) -> None:
    assert fast == strict
    for f in dataclasses.fields(Command):
        assert getattr(fast, f.name) == getattr(strict, f.name), f.name
    assert type(fast.data) is bytes
    assert fast.redact is Redact.NOTHING
    assert hash(fast) == hash(strict)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), near_valid()))
def test_fast_decode_agrees_with_the_validating_constructor(raw: bytes) -> None:
    fast, strict = _outcome(Command.decode, raw), _outcome(reference_decode, raw)
    assert fast[0] == strict[0], (raw.hex(), fast, strict)
    if fast[0] == "command":
        assert isinstance(fast[1], Command) and isinstance(strict[1], Command)
        _same(fast[1], strict[1])
        assert fast[1].encode() == raw
    else:
        assert fast[1] == strict[1]  # header, lc (length fields first), then ins


@SETTINGS
@given(st.one_of(st.binary(max_size=300), near_valid()))
def test_fast_decode_accepts_bytearray_and_memoryview(raw: bytes) -> None:
    expected = _outcome(Command.decode, raw)
    assert _outcome(Command.decode, bytearray(raw)) == expected
    assert _outcome(Command.decode, memoryview(raw)) == expected


def _data(ctx: list[Command], cmd: Command) -> bytes:
    ctx.append(cmd)
    return b""


ENGINE: Engine[list[Command]] = Engine(by_ins={ins: _data for ins in range(256)}, classes=range(256))


@SETTINGS
@given(st.one_of(st.binary(max_size=300), near_valid()))
def test_the_engine_hands_over_the_same_command_or_answers_6700(raw: bytes) -> None:
    """What a handler gets is what the validating constructor builds; no layout fits: ``6700``, no handler runs."""
    seen: list[Command] = []
    answer = ENGINE.execute(seen, raw)
    try:
        strict = reference_decode(raw)
    except ApduFormatError:
        assert answer == b"\x67\x00"
        assert not seen
    else:
        assert answer == b"\x90\x00"
        _same(seen[0], strict)


def test_a_decoded_command_is_frozen() -> None:
    command = Command.decode(bytes.fromhex("00B0000010"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.p1 = 1  # type: ignore[misc]
    assert command == Command(0x00, 0xB0, 0x00, 0x00, le=16)
    assert repr(command) == repr(Command(0x00, 0xB0, 0x00, 0x00, le=16))
