"""Command APDU encode/decode: round trips (cases 1-4, short and extended) and rejection of malformed input.

Layouts: ISO/IEC 7816-4:2013 §5.1 table 1 (see the table in apdu/command.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

SETTINGS = settings(max_examples=150, deadline=None)

byte = st.integers(0, 255)
valid_ins = byte.filter(lambda i: (i & 0xF0) not in (0x60, 0x90))


@st.composite
def commands(draw: st.DrawFn) -> Command:
    """Any valid command: all four cases, short or extended, lengths across the short/extended boundary."""
    data = draw(st.one_of(st.binary(max_size=260), st.binary(min_size=250, max_size=600)))
    le = draw(st.one_of(st.none(), st.integers(1, 300), st.integers(1, 65536), st.sampled_from([256, 257, 65536])))
    extended = draw(st.booleans())
    return Command(draw(byte), draw(valid_ins), draw(byte), draw(byte), data, le, extended)


@SETTINGS
@given(commands())
def test_round_trip(command: Command) -> None:
    raw = command.encode()
    back = Command.decode(raw)
    assert back == command
    assert back.encode() == raw
    assert back.case == command.case


@SETTINGS
@given(st.binary(min_size=0, max_size=300))
def test_decode_is_inverse_of_encode_or_rejects(raw: bytes) -> None:
    """Every byte string either decodes to a command that re-encodes to exactly it, or is rejected by field."""
    try:
        command = Command.decode(raw)
    except ApduFormatError as exc:
        assert exc.field in {"header", "lc", "le", "ins", "data"}
    else:
        assert command.encode() == raw


@SETTINGS
@given(valid_ins, st.binary(min_size=1, max_size=255), st.integers(1, 256))
def test_short_forms_are_used_when_lengths_fit(ins: int, data: bytes, le: int) -> None:
    c4 = Command(0x00, ins, 1, 2, data, le)
    assert not c4.extended
    assert c4.encode() == bytes((0, ins, 1, 2, len(data))) + data + bytes((le % 256,))
    assert len(Command(0x00, ins, 1, 2, le=le).encode()) == 5


@SETTINGS
@given(st.binary(min_size=256, max_size=700))
def test_long_data_switches_to_extended(data: bytes) -> None:
    c = Command(0x80, 0xD6, 0, 0, data, 65536)
    assert c.extended
    assert c.encode() == bytes.fromhex("80D60000") + b"\x00" + len(data).to_bytes(2, "big") + data + b"\x00\x00"


@pytest.mark.parametrize(
    ("command", "hex_"),
    [
        (Command(0x00, 0x84, 0, 0), "00840000"),  # case 1
        (Command(0x00, 0x84, 0, 0, le=8), "0084000008"),  # case 2 short
        (Command(0x00, 0xB0, 0, 0, le=256), "00B0000000"),  # Le 256 -> 00
        (Command(0x00, 0xB0, 0, 0, le=256, extended=True), "00B0000000 0100"),  # case 2 extended
        (Command(0x00, 0xB0, 0, 0, le=65536), "00B0000000 0000"),  # extended Le 65536 -> 0000
        (Command(0x00, 0xA4, 0, 0, b"\xdd\xf1"), "00A4000002DDF1"),  # case 3 short
        (Command(0x00, 0xA4, 0, 0, b"\xdd\xf1", extended=True), "00A4000000 0002 DDF1"),  # case 3 extended
        (Command(0x00, 0x88, 0, 1, b"\x01\x02", 256), "0088000102 0102 00"),  # case 4 short
        (Command(0x00, 0x88, 0, 1, b"\x01\x02", 300), "0088000100 0002 0102 012C"),  # case 4 extended
    ],
)
def test_exact_case_encodings(command: Command, hex_: str) -> None:
    raw = bytes.fromhex(hex_.replace(" ", ""))
    assert command.encode() == raw
    assert Command.decode(raw) == command


def test_le_none_and_le_256_are_distinct() -> None:
    assert Command(0, 0xB0, 0, 0).encode() != Command(0, 0xB0, 0, 0, le=256).encode()
    assert Command.decode(bytes.fromhex("00B0000000")).le == 256


def test_extended_flag_is_normalised_for_case_1() -> None:
    c = Command(0x00, 0x84, 0, 0, extended=True)
    assert not c.extended
    assert Command.decode(c.encode()) == c


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("", "header"),
        ("00A400", "header"),
        ("00A4000003DDF1", "lc"),  # Lc 3, 2 bytes follow
        ("00A4000002DDF1AAAA", "lc"),  # 2 bytes after the data
        ("00A4000000", None),  # valid: short case 2 with Le 256
        ("00B0000000FF", "lc"),  # 00 then 1 byte: truncated extended length
        ("00A4000000000000", "lc"),  # extended Lc 0
        ("00A40000000003DDF1", "lc"),  # extended Lc 3, 2 bytes follow
        ("00A40000000002DDF100", "lc"),  # extended case 4 with a 1-byte Le
        ("00600000", "ins"),  # INS 6X
        ("00900000", "ins"),  # INS 9X
    ],
)
def test_malformed_input_names_the_field(raw: str, field: str | None) -> None:
    data = bytes.fromhex(raw)
    if field is None:
        assert Command.decode(data).encode() == data
        return
    with pytest.raises(ApduFormatError) as info:
        Command.decode(data)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cla": 256}, "cla"),
        ({"ins": -1}, "ins"),
        ({"p1": 0x100}, "p1"),
        ({"p2": -5}, "p2"),
        ({"le": 0}, "le"),
        ({"le": 65537}, "le"),
        ({"data": bytes(65536)}, "data"),
        ({"ins": 0x61}, "ins"),
    ],
)
def test_out_of_range_fields_are_rejected(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"cla": 0, "ins": 0xB0, "p1": 0, "p2": 0}
    args.update(kwargs)
    with pytest.raises(ApduFormatError) as info:
        Command(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_redacted_data_never_in_repr_or_str() -> None:
    pin = bytes.fromhex("987654")
    c = Command(0x00, 0x20, 0x00, 0x01, pin, redact=Redact.COMMAND_DATA)
    for text in (repr(c), str(c), repr([c])):
        assert "987654" not in text.replace(" ", "").upper()
        assert "\\x98" not in text
    assert "3 data bytes redacted" in str(c)
    assert c.encode() == bytes.fromhex("0020000103987654")
    plain = Command(0x00, 0xA4, 0, 0, b"\xdd\xf1")
    assert str(plain) == "00 A4 00 00 02 DD F1"
    assert "\\xdd\\xf1" in repr(plain)


def test_with_le_and_with_cla_keep_the_rest() -> None:
    c = Command(0x00, 0xB0, 0x81, 0x00, le=0x20, redact=Redact.RESPONSE_DATA)
    assert c.with_le(0x10).encode() == bytes.fromhex("00B0810010")
    assert c.with_cla(0x04).encode() == bytes.fromhex("04B0810020")
    assert c.with_le(0x10).redact is Redact.RESPONSE_DATA
