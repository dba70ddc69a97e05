"""The simulators' command engine (apdu.engine): dispatch, class check, status words, never raise."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import Engine, require_length, require_no_data, require_p1p2
from apdu.status import SW


class PowerLossError(Exception):
    """Stands for the virtual card's tear."""


def _echo(ctx: list[bytes], cmd: Command) -> bytes:
    ctx.append(cmd.data)
    return cmd.data[::-1]


def _warn(ctx: list[bytes], cmd: Command) -> bytes:
    raise SwError(SW.FILE_DEACTIVATED, b"\x6f\x00")


def _boom(ctx: list[bytes], cmd: Command) -> bytes:
    raise RuntimeError("handler bug")


def _tear(ctx: list[bytes], cmd: Command) -> bytes:
    raise PowerLossError


BY_PAIR: Engine[list[bytes]] = Engine(
    by_cla_ins={(0x80, 0x10): _echo, (0x80, 0x12): _warn, (0x00, 0x14): _boom, (0x00, 0x16): _tear},
    passthrough=(PowerLossError,),
    name="test",
)


def _header_handler(ctx: list[bytes], cmd: Command) -> bytes:
    ctx.append(cmd.header)
    return b"\x01"


BY_INS: Engine[list[bytes]] = Engine(by_ins={0xB0: _header_handler}, classes=(0x00, 0x04))


def test_handler_data_gets_9000_and_the_parsed_command() -> None:
    seen: list[bytes] = []
    assert BY_PAIR.execute(seen, bytes.fromhex("8010000003AABBCC")) == bytes.fromhex("CCBBAA9000")
    assert seen == [bytes.fromhex("AABBCC")]


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("801000", 0x6700),  # shorter than a header
        ("8010000005AABB", 0x6700),  # Lc says 5, two bytes follow
        ("0010000003AABBCC", 0x6E00),  # known INS, other class
        ("80200000", 0x6D00),  # unknown INS
        ("00140000", 0x6F00),  # a handler bug
    ],
)
def test_failures_answer_a_status_word(apdu: str, sw: int) -> None:
    assert BY_PAIR.execute([], bytes.fromhex(apdu)) == sw.to_bytes(2, "big")


def test_a_warning_word_carries_its_data() -> None:
    assert BY_PAIR.execute([], bytes.fromhex("80120000")) == bytes.fromhex("6F006283")


def test_an_unexpected_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="apdu.engine"):
        BY_PAIR.execute([], bytes.fromhex("00140000"))
    assert "unexpected error on INS 14" in caplog.text


def test_passthrough_exceptions_leave_the_engine() -> None:
    with pytest.raises(PowerLossError):
        BY_PAIR.execute([], bytes.fromhex("00160000"))


def test_by_ins_checks_the_class_first_then_the_length_fields() -> None:
    seen: list[bytes] = []
    assert BY_INS.execute(seen, bytes.fromhex("80B0000010")) == bytes.fromhex("6E00")
    assert BY_INS.execute(seen, bytes.fromhex("80C0000010")) == bytes.fromhex("6E00")
    assert BY_INS.execute(seen, bytes.fromhex("00C0000010")) == bytes.fromhex("6D00")
    assert BY_INS.execute(seen, bytes.fromhex("80B0000003AA")) == bytes.fromhex("6E00")  # class before length
    assert BY_INS.execute(seen, bytes.fromhex("00C0000003AA")) == bytes.fromhex("6D00")  # instruction before length
    assert BY_INS.execute(seen, bytes.fromhex("00B0000003AA")) == bytes.fromhex("6700")
    assert BY_INS.execute(seen, bytes.fromhex("04B0000010")) == bytes.fromhex("019000")
    assert seen == [bytes.fromhex("04B00000")]


def test_before_and_after_hooks() -> None:
    calls: list[str] = []

    def before(ctx: list[bytes], apdu: bytes) -> None:
        calls.append("before")
        if apdu[2]:
            raise SwError(SW.APP_LOCKED)

    def after(ctx: list[bytes], cmd: Command, data: bytes) -> bytes:
        calls.append("after")
        return b"\x61\x03"

    engine: Engine[list[bytes]] = Engine(by_cla_ins={(0x80, 0x10): _echo}, before=before, after=after)
    assert engine.execute([], bytes.fromhex("8010010001AA")) == bytes.fromhex("6A81")
    assert calls == ["before"]
    assert engine.execute([], bytes.fromhex("8010000001AA")) == bytes.fromhex("6103")
    assert calls == ["before", "before", "after"]
    assert engine.execute([], bytes.fromhex("8010010002AA")) == bytes.fromhex("6A81")  # before the length fields
    assert engine.execute([], bytes.fromhex("8010000002AA")) == bytes.fromhex("6700")  # ... which no handler sees
    assert calls == ["before", "before", "after", "before", "before"]


def test_an_engine_needs_one_table() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Engine()
    with pytest.raises(ValueError, match="classes"):
        Engine(by_ins={0xB0: _header_handler})


@given(st.binary(max_size=300))
def test_never_raises_and_always_ends_with_a_status_word(apdu: bytes) -> None:
    out = BY_PAIR.execute([], apdu) if apdu[1:2] != b"\x16" else b"\x90\x00"
    assert len(out) >= 2


@pytest.mark.parametrize(
    ("apdu", "check", "sw"),
    [
        ("80100000", lambda c: require_p1p2(c, 0, 0), None),
        ("80100100", lambda c: require_p1p2(c, 0, 0), 0x6A86),
        ("80100001", lambda c: require_p1p2(c, 0, 0), 0x6A86),
        ("8010000002AABB", lambda c: require_length(c, 1, 2), None),
        ("8010000003AABBCC", lambda c: require_length(c, 1, 2), 0x6700),
        ("80100000", lambda c: require_length(c, 1, 2), 0x6700),
        ("8010000008", require_no_data, None),
        ("8010000001AA", require_no_data, 0x6700),
    ],
)
def test_the_shared_checks(apdu: str, check: Callable[[Command], object], sw: int | None) -> None:
    """The P1-P2 and length checks both simulators' handlers use (ISO/IEC 7816-4 table 6: 6A86, 6700)."""
    cmd = Command.decode(bytes.fromhex(apdu))
    if sw is None:
        check(cmd)
    else:
        with pytest.raises(SwError) as caught:
            check(cmd)
        assert caught.value.sw == sw


def test_require_length_returns_the_data() -> None:
    assert require_length(Command.decode(bytes.fromhex("8010000002AABB")), 2) == bytes.fromhex("AABB")
