"""Channel: 61xx GET RESPONSE chains, 6Cxx re-send, bounds, opt-outs, typed errors, tracing (ISO/IEC 7816-3 T=0
61xx/6Cxx)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.channel import Channel
from apdu.command import Command, Redact
from apdu.errors import (
    CardError,
    InsufficientFundsError,
    Layer,
    LibraryError,
    ReaderError,
    SamError,
)
from apdu.trace import Tracer, TraceRecorder


class ScriptedTransport:
    """apdu4j ``MockBIBO``-style double: a queue of (expected command hex, response hex)."""

    name = "scripted"
    atr = b"\x3b\x00"

    def __init__(self, *script: tuple[str, str]) -> None:
        self.script = [(bytes.fromhex(c), bytes.fromhex(r)) for c, r in script]
        self.sent: list[bytes] = []

    def connect(self) -> bytes:
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        assert self.script, f"unexpected command {apdu.hex().upper()}"
        expected, response = self.script.pop(0)
        assert apdu == expected, f"expected {expected.hex().upper()} but got {apdu.hex().upper()}"
        return response

    def reset(self, *, cold: bool = False) -> bytes:
        return self.atr

    def disconnect(self) -> None:
        pass

    def exclusive(self) -> AbstractContextManager[None]:
        return nullcontext()

    def done(self) -> bool:
        return not self.script


def test_plain_response_passes_through() -> None:
    t = ScriptedTransport(("00B0000004", "01020304 9000"))
    r = Channel(t).transmit(Command(0x00, 0xB0, 0, 0, le=4))
    assert (r.data, r.sw) == (b"\x01\x02\x03\x04", 0x9000)
    assert t.done()


def test_61xx_chain_with_6100_meaning_256() -> None:
    t = ScriptedTransport(
        ("80FA000003AABBCC", "6100"),
        ("00C0000000", "11" * 256 + "6110"),
        ("00C0000010", "22" * 16 + "9000"),
    )
    r = Channel(t).transmit(Command(0x80, 0xFA, 0, 0, b"\xaa\xbb\xcc"))
    assert r.data == b"\x11" * 256 + b"\x22" * 16
    assert r.sw == 0x9000
    assert t.done()


def test_61xx_keeps_data_of_the_first_answer_and_final_error_sw() -> None:
    t = ScriptedTransport(("00A4040002A000", "AB 6102"), ("00C0000002", "CD EF 6283"))
    r = Channel(t).transmit(Command(0x00, 0xA4, 0x04, 0x00, b"\xa0\x00"))
    assert (r.data, r.sw) == (b"\xab\xcd\xef", 0x6283)


@pytest.mark.parametrize(("cla", "get_cla"), [(0x80, "00"), (0x84, "00"), (0x00, "00"), (0x01, "01"), (0x03, "03")])
def test_get_response_keeps_only_the_logical_channel_bits(cla: int, get_cla: str) -> None:
    t = ScriptedTransport((f"{cla:02X}CA000000", "6105"), (f"{get_cla}C0000005", "0102030405 9000"))
    assert Channel(t).transmit(Command(cla, 0xCA, 0, 0, le=256)).data == bytes.fromhex("0102030405")


def test_6cxx_resends_with_exact_le() -> None:
    t = ScriptedTransport(("00B0000010", "6C08"), ("00B0000008", "0102030405060708 9000"))
    r = Channel(t).transmit(Command(0x00, 0xB0, 0, 0, le=16))
    assert r.data == bytes(range(1, 9)) and r.sw == 0x9000
    assert t.done()


def test_6c00_means_256() -> None:
    t = ScriptedTransport(("00B0000001", "6C00"), ("00B0000000", "00" * 256 + "9000"))
    assert len(Channel(t).transmit(Command(0x00, 0xB0, 0, 0, le=1)).data) == 256


def test_6cxx_then_61xx_chain() -> None:
    t = ScriptedTransport(("00CA9F3601", "6C02"), ("00CA9F3602", "6102"), ("00C0000002", "0003 9000"))
    assert Channel(t).transmit(Command(0x00, 0xCA, 0x9F, 0x36, le=1)).data == b"\x00\x03"


def test_get_response_answered_with_6cxx_is_resent() -> None:
    t = ScriptedTransport(("80700000", "6110"), ("00C0000010", "6C08"), ("00C0000008", "11" * 8 + "9000"))
    assert Channel(t).transmit(Command(0x80, 0x70, 0, 0)).data == b"\x11" * 8


def test_second_6cxx_is_a_library_error() -> None:
    t = ScriptedTransport(("00B0000010", "6C08"), ("00B0000008", "6C04"))
    with pytest.raises(LibraryError) as info:
        Channel(t).transmit(Command(0x00, 0xB0, 0, 0, le=16))
    assert info.value.layer is Layer.LIBRARY
    assert "6Cxx twice" in str(info.value)


def test_chain_bound_stops_an_endless_card() -> None:
    t = ScriptedTransport(("80CA000000", "6101"), *[("00C0000001", "00 6101")] * 3)
    with pytest.raises(LibraryError) as info:
        Channel(t, max_chain=3).transmit(Command(0x80, 0xCA, 0, 0, le=256))
    assert "more than 3 GET RESPONSE" in str(info.value)
    assert t.done()  # exactly 3 GET RESPONSE commands were sent, not one more


def test_max_chain_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chain"):
        Channel(ScriptedTransport(), max_chain=0)


def test_opt_outs_return_the_raw_word() -> None:
    t = ScriptedTransport(("80CA000000", "6110"), ("00B0000010", "6C08"))
    ch = Channel(t)
    assert ch.transmit(Command(0x80, 0xCA, 0, 0, le=256), get_response=False).sw == 0x6110
    assert ch.transmit(Command(0x00, 0xB0, 0, 0, le=16), retry_wrong_le=False).sw == 0x6C08
    assert t.done()


def test_short_response_is_a_library_error() -> None:
    t = ScriptedTransport(("00840000 08", "90"))
    with pytest.raises(LibraryError, match="SW1 SW2 missing"):
        Channel(t).transmit(Command(0x00, 0x84, 0, 0, le=8))


def test_send_raises_the_typed_error_with_command_and_layer() -> None:
    cmd = Command(0x80, 0x54, 0x01, 0x00, bytes(15), le=8)
    t = ScriptedTransport((cmd.encode().hex(), "9401"))
    with pytest.raises(InsufficientFundsError) as info:
        Channel(t).send(cmd)
    assert info.value.sw == 0x9401 and info.value.command == cmd
    assert info.value.layer is Layer.CARD
    assert "金额不足" in str(info.value)


def test_send_for_the_sam_raises_a_sam_error() -> None:
    t = ScriptedTransport(("80FA0000", "6A82"))
    with pytest.raises(SamError) as info:
        Channel(t).send(Command(0x80, 0xFA, 0, 0), layer=Layer.SAM)
    assert isinstance(info.value, CardError) and info.value.layer is Layer.SAM


def test_send_after_chain_returns_9000() -> None:
    t = ScriptedTransport(("80FA0000", "6102"), ("00C0000002", "ABCD 9000"))
    assert Channel(t).send(Command(0x80, 0xFA, 0, 0)).data == b"\xab\xcd"


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(min_size=1, max_size=1500), first=st.integers(1, 256), le_zero=st.booleans())
def test_chain_reassembles_any_payload(payload: bytes, first: int, le_zero: bool) -> None:
    """A card that hands out its answer through 61xx in pieces: the channel returns exactly the payload."""

    class T0Card(ScriptedTransport):
        def __init__(self) -> None:
            super().__init__()
            self.left = payload

        def transmit(self, apdu: bytes) -> bytes:
            self.sent.append(apdu)
            if apdu[1] == 0xC0:
                n = apdu[4] or 256
                out, self.left = self.left[:n], self.left[n:]
            else:
                out = b""
            if not self.left:
                return out + b"\x90\x00"
            more = 0 if le_zero and len(self.left) >= 256 else min(len(self.left), first) & 0xFF
            return out + bytes((0x61, more))

    t = T0Card()
    r = Channel(t, max_chain=2000).transmit(Command(0x80, 0xCA, 0, 0))
    assert r.data == payload and r.sw == 0x9000


# --- tracing through the channel ------------------------------------------------------------------------


def test_trace_keeps_intermediate_words() -> None:
    rec = TraceRecorder()
    t = ScriptedTransport(("00B0000010", "6C02"), ("00B0000002", "6102"), ("00C0000002", "0102 9000"))
    Channel(t, tracer=Tracer(rec)).transmit(Command(0x00, 0xB0, 0, 0, le=16))
    assert [(e.command, e.sw, e.intermediate) for e in rec.events] == [
        ("00 B0 00 00 10", 0x6C02, True),
        ("00 B0 00 00 02", 0x6102, True),
        ("00 C0 00 00 02", 0x9000, False),
    ]
    assert all(e.reader == "scripted" and e.ended_ns >= e.started_ns for e in rec.events)
    assert [e.seq for e in rec.events] == [1, 2, 3]


def test_get_response_inherits_response_redaction() -> None:
    rec = TraceRecorder()
    secret = bytes.fromhex("5A5A5A5A11223344")
    t = ScriptedTransport(("80FA0000", "6108"), ("00C0000008", secret.hex() + "9000"))
    r = Channel(t, tracer=Tracer(rec)).transmit(Command(0x80, 0xFA, 0, 0, redact=Redact.RESPONSE_DATA))
    assert r.data == secret
    assert rec.events[1].response == "** ** ** ** ** ** ** ** 90 00"
    assert "5A" not in "".join(rec.lines())


def test_transport_error_is_traced_and_reraised() -> None:
    class Broken(ScriptedTransport):
        def transmit(self, apdu: bytes) -> bytes:
            raise ReaderError("card removed", reader="scripted", removed=True)

    rec = TraceRecorder()
    with pytest.raises(ReaderError):
        Channel(Broken(), tracer=Tracer(rec)).transmit(Command(0x00, 0x84, 0, 0, le=8))
    (event,) = rec.events
    assert event.sw is None and event.response == "" and event.error is not None and "removed" in event.error


def test_tracer_without_observers_is_skipped() -> None:
    tracer = Tracer()
    assert not tracer.enabled
    t = ScriptedTransport(("00840000 08", "0102030405060708 9000"))
    Channel(t, tracer=tracer).transmit(Command(0x00, 0x84, 0, 0, le=8))
    rec = TraceRecorder()
    tracer.add(rec)
    assert tracer.enabled
    t.script.append((bytes.fromhex("0084000008"), bytes.fromhex("9000")))
    Channel(t, tracer=tracer).transmit(Command(0x00, 0x84, 0, 0, le=8))
    assert len(rec) == 1 and rec.events[0].seq == 1


def test_exchanges_are_counted_without_a_tracer() -> None:
    """Every round trip counts (GET RESPONSE, the 6Cxx re-send and a failed one included), with no tracer."""
    t = ScriptedTransport(
        ("00B0000000", "6C04"), ("00B0000004", "6102"), ("00C0000002", "AABB 9000"), ("00840000 08", "9000")
    )
    channel = Channel(t)
    assert channel.exchanges == 0
    channel.transmit(Command(0x00, 0xB0, 0, 0, le=256))
    assert channel.exchanges == 3
    channel.transmit(Command(0x00, 0x84, 0, 0, le=8))
    assert channel.exchanges == 4
    with pytest.raises(AssertionError):  # the transport fails: the attempt crossed the interface
        channel.transmit(Command(0x00, 0x84, 0, 0, le=8))
    assert channel.exchanges == 5
