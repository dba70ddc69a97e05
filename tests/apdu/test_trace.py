"""Tracing: redaction of PINs, keys, cryptograms and session data in every trace and log line."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.channel import Channel
from apdu.command import Command, Redact
from apdu.inprocess import InProcessTransport
from apdu.trace import (
    LoggingObserver,
    TraceEvent,
    Tracer,
    TraceRecorder,
    redacted_command_hex,
    redacted_response_hex,
)

PIN = bytes.fromhex("123456")
KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


class EchoSecretsCard:
    """Answers SAM-style ``80 FA`` with its own data field (session data coming back), anything else with 9000."""

    atr = b"\x3b\x00"

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def execute(self, apdu: bytes) -> bytes:
        command = Command.decode(apdu)
        return (command.data if command.ins == 0xFA else b"") + b"\x90\x00"


def _channel(*observers: object) -> Channel:
    transport = InProcessTransport(EchoSecretsCard(), name="inprocess:test")
    transport.connect()
    return Channel(transport, tracer=Tracer(*observers))  # type: ignore[arg-type]


def test_command_hex_short_and_extended() -> None:
    verify = Command(0x00, 0x20, 0x00, 0x00, PIN, redact=Redact.COMMAND_DATA)
    assert redacted_command_hex(verify) == "00 20 00 00 03 ** ** **"
    write_key = Command(0x80, 0xD4, 0x01, 0x00, bytes(300), le=256, redact=Redact.COMMAND_DATA)
    text = redacted_command_hex(write_key)
    assert text.startswith("80 D4 01 00 00 01 2C **")
    assert text.endswith("** 01 00")
    assert text.count("**") == 300
    plain = Command(0x00, 0xB0, 0x81, 0x00, le=16)
    assert redacted_command_hex(plain) == "00 B0 81 00 10"


def test_response_hex() -> None:
    assert redacted_response_hex(b"\x01\x02\x90\x00", Redact.RESPONSE_DATA) == "** ** 90 00"
    assert redacted_response_hex(b"\x01\x02\x90\x00", Redact.COMMAND_DATA) == "01 02 90 00"
    assert redacted_response_hex(b"\x63\xc2", Redact.BOTH) == "63 C2"


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        (Command(0x00, 0x20, 0x00, 0x00, PIN, redact=Redact.COMMAND_DATA), PIN),  # VERIFY
        (Command(0x80, 0x5E, 0x01, 0x00, PIN + b"\xff" + PIN[::-1], redact=Redact.COMMAND_DATA), PIN),  # CHANGE PIN
        (Command(0x80, 0xD4, 0x01, 0x00, KEY, redact=Redact.COMMAND_DATA), KEY),  # WRITE KEY
        (Command(0x00, 0x82, 0x00, 0x01, KEY[:8], redact=Redact.COMMAND_DATA), KEY[:8]),  # EXTERNAL AUTH
        (Command(0x80, 0xFA, 0x00, 0x00, KEY, redact=Redact.BOTH), KEY),  # SAM session data
    ],
)
def test_secrets_never_appear_in_traces_or_logs(
    command: Command, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    rec = TraceRecorder()
    channel = _channel(rec, LoggingObserver(logging.getLogger("apdu.trace.test")))
    with caplog.at_level(logging.DEBUG, logger="apdu.trace.test"):
        response = channel.transmit(command)
    secret_hex = secret.hex(" ").upper()
    everything = "\n".join([*rec.lines(), caplog.text, repr(rec.events), *(e.command + e.response for e in rec.events)])
    assert secret_hex not in everything
    assert secret.hex().upper() not in everything.replace(" ", "")
    assert "**" in rec.events[0].command
    assert caplog.records and "**" in caplog.text
    if command.redact & Redact.RESPONSE_DATA:
        assert response.data == secret  # the secret really came back from the card, and was hidden in the trace
        assert rec.events[0].response.startswith("**")


@settings(max_examples=50, deadline=None)
@given(secret=st.binary(min_size=1, max_size=300), extended=st.booleans(), le=st.none() | st.integers(1, 256))
def test_redacted_text_never_contains_the_data(secret: bytes, extended: bool, le: int | None) -> None:
    cmd = Command(0x00, 0x20, 0x00, 0x81, secret, le=le, extended=extended, redact=Redact.COMMAND_DATA)
    text = redacted_command_hex(cmd)
    assert text.count("**") == len(secret)
    raw = cmd.encode()
    start = 7 if cmd.extended else 5
    # Everything around the data field is visible and exact.
    assert text.replace("** ", "").replace(" **", "") == (raw[:start] + raw[start + len(secret) :]).hex(" ").upper()


def test_event_text_and_duration() -> None:
    event = TraceEvent(7, "r", "00 A4 00 00", "90 00", 0x9000, 1_000, 251_000, intermediate=True)
    assert event.duration_us == 250.0
    assert str(event) == "#7~ [r] > 00 A4 00 00 < 90 00 (250 µs)"


def test_failing_observer_does_not_break_the_exchange(caplog: pytest.LogCaptureFixture) -> None:
    class Bad:
        def on_exchange(self, event: TraceEvent) -> None:
            raise RuntimeError("boom")

    rec = TraceRecorder()
    channel = _channel(Bad(), rec)
    assert channel.transmit(Command(0x00, 0xB0, 0, 0, b"\x01")).sw == 0x9000
    assert len(rec) == 1
    assert "observer" in caplog.text


def test_recorder_maxlen_and_remove() -> None:
    rec = TraceRecorder(maxlen=2)
    tracer = Tracer(rec)
    channel = _channel()
    channel.tracer = tracer
    for i in range(3):
        channel.transmit(Command(0x00, 0xB0, 0, i, b"\x01"))
    assert [e.seq for e in rec] == [2, 3]
    tracer.remove(rec)
    assert not tracer.enabled
    rec.clear()
    assert len(rec) == 0
