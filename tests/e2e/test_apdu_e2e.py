"""The APDU layer through the real stack: pyscard → pcscd → vpcd → VpcdCardServer → a small test card.

Covers ISO/IEC 7816-3 cases 1-4, 61xx GET RESPONSE chains (including ``61 00`` = 256 bytes), 6Cxx, the same
through :class:`apdu.channel.Channel` over :class:`apdu.pcsc.PcscTransport`, exclusivity, a reset by another
process, and card removal (vsmartcard vpcd protocol, pcscd polling, sources.md F5, ISO/IEC 7816-3 T=0 61xx/6Cxx, PC/SC
field problems, sources.md F6.3).
"""

from __future__ import annotations

import threading

import pytest
from smartcard import scard
from smartcard.System import readers

from apdu.channel import Channel
from apdu.command import Command, Redact
from apdu.errors import ReaderError
from apdu.pcsc import PcscTransport, list_readers, pcsc_error_name
from apdu.trace import Tracer, TraceRecorder
from tests.e2e.conftest import VpcdFixture

ATR = bytes.fromhex("3B 88 80 01 48 43 54 45 53 54 30 31 6D".replace(" ", ""))


def _pattern(n: int, seed: int = 0) -> bytes:
    return bytes((seed + i) % 256 for i in range(n))


class ChainCard:
    """A test card (class 80):

    * ``80 10 00 00``            case 1 → 9000
    * ``80 12 00 00 Le``         case 2 → Le pattern bytes (Le 00 = 256)
    * ``80 14 00 00 Lc data``    case 3 → stores data, 9000
    * ``80 16 00 00 Lc data Le`` case 4 → stored-then-reversed data, 9000
    * ``80 18 P1 P2``            T=0 style: P1‖P2 bytes of pattern available through ``61 xx`` / GET RESPONSE
    * ``80 1A 00 00 Le``         exact length 8: ``6C 08`` unless Le = 8
    * ``00 C0 00 00 Le``         GET RESPONSE (6Cxx when Le exceeds what is left)
    """

    def __init__(self) -> None:
        self.pending = b""
        self.stored = b""
        self.powered = 0
        self.commands: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return ATR

    def power_on(self) -> None:
        self.powered += 1
        self.pending = b""

    def power_off(self) -> None:
        self.pending = b""

    def reset(self) -> None:
        self.pending = b""

    def _more(self) -> bytes:
        return bytes((0x61, len(self.pending) & 0xFF)) if self.pending else b"\x90\x00"

    def execute(self, apdu: bytes) -> bytes:
        self.commands.append(apdu)
        cmd = Command.decode(apdu)
        if (cmd.cla, cmd.ins) != (0x00, 0xC0):
            self.pending = b""
        match (cmd.cla, cmd.ins):
            case (0x80, 0x10):
                return b"\x90\x00"
            case (0x80, 0x12):
                return _pattern(cmd.le or 0) + b"\x90\x00"
            case (0x80, 0x14):
                self.stored = cmd.data
                return b"\x90\x00"
            case (0x80, 0x16):
                return (self.stored + cmd.data)[::-1] + b"\x90\x00"
            case (0x80, 0x18):
                self.pending = _pattern((cmd.p1 << 8) | cmd.p2, seed=7)
                return self._more()
            case (0x80, 0x1A):
                return _pattern(8, 3) + b"\x90\x00" if cmd.le == 8 else b"\x6c\x08"
            case (0x00, 0xC0):
                n = cmd.le or 0
                if not self.pending:
                    return b"\x69\x85"
                if n > len(self.pending):
                    return bytes((0x6C, len(self.pending) & 0xFF))
                out, self.pending = self.pending[:n], self.pending[n:]
                return out + self._more()
        return b"\x6d\x00"


def _raw_connect(reader: str) -> tuple[object, object, object]:
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    hr, handle, proto = scard.SCardConnect(
        ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
    )
    assert hr == scard.SCARD_S_SUCCESS, pcsc_error_name(hr)
    pci = scard.SCARD_PCI_T1 if proto == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
    return ctx, handle, pci


def test_plain_pyscard_by_reader_name(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    with vpcd(card, slot=0) as name:
        assert name == "Virtual PCD 00 00"
        assert name in [str(r) for r in readers()]
        assert name in list_readers()
        connection = next(r for r in readers() if str(r) == name).createConnection()
        connection.connect()
        try:
            assert bytes(connection.getATR()) == ATR

            def send(hexstr: str) -> tuple[bytes, int]:
                data, sw1, sw2 = connection.transmit(list(bytes.fromhex(hexstr)))
                return bytes(data), (sw1 << 8) | sw2

            assert send("80100000") == (b"", 0x9000)  # case 1
            assert send("8012000010") == (_pattern(16), 0x9000)  # case 2
            assert send("8012000000") == (_pattern(256), 0x9000)  # case 2, Le 00 = 256
            assert send("8014000003A1A2A3") == (b"", 0x9000)  # case 3
            assert send("8016000002B1B200") == (bytes.fromhex("B2B1A3A2A1"), 0x9000)  # case 4
            # pyscard leaves 61xx and 6Cxx to the caller (ISO/IEC 7816-3 T=0 61xx/6Cxx): they arrive raw.
            assert send("80180005") == (b"", 0x6105)
            assert send("00C0000005") == (_pattern(5, 7), 0x9000)
            assert send("801A000010") == (b"", 0x6C08)
            assert send("801A000008") == (_pattern(8, 3), 0x9000)
        finally:
            connection.disconnect()


def test_extended_length_passes_through_vpcd(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    data = _pattern(300, 1)
    with vpcd(card, slot=1) as name, PcscTransport(name) as transport:
        assert name == "Virtual PCD 00 01"
        channel = Channel(transport)
        channel.send(Command(0x80, 0x14, 0, 0, data))
        assert card.commands[-1] == bytes.fromhex("8014000000012C") + data
        assert channel.send(Command(0x80, 0x16, 0, 0, b"\x01", le=65536)).data == (data + b"\x01")[::-1]


def test_channel_over_pcsc_handles_61xx_and_6cxx(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    recorder = TraceRecorder()
    with vpcd(card) as name, PcscTransport(name) as transport:
        channel = Channel(transport, tracer=Tracer(recorder))
        assert transport.atr == ATR
        assert transport.protocol == "T=1"  # vpcd stamps T=1 (vsmartcard vpcd protocol)
        assert channel.send(Command(0x80, 0x10, 0, 0)).data == b""
        assert channel.send(Command(0x80, 0x12, 0, 0, le=256)).data == _pattern(256)
        assert channel.send(Command(0x80, 0x14, 0, 0, b"\xaa\xbb")).sw == 0x9000
        assert channel.send(Command(0x80, 0x16, 0, 0, b"\xcc", le=256)).data == b"\xcc\xbb\xaa"

        card.commands.clear()
        recorder.clear()
        # 0x0300 = 768 bytes: 61 00 (= 256) three times, then 9000.
        response = channel.send(Command(0x80, 0x18, 0x03, 0x00))
        assert response.data == _pattern(768, 7)
        assert card.commands[1:] == [bytes.fromhex("00C0000000")] * 3
        assert [e.sw for e in recorder.events] == [0x6100, 0x6100, 0x6100, 0x9000]
        assert [e.intermediate for e in recorder.events] == [True, True, True, False]

        # 0x0105 = 261 bytes: 61 05 after the first GET RESPONSE of 256.
        card.commands.clear()
        assert channel.send(Command(0x80, 0x18, 0x01, 0x05)).data == _pattern(261, 7)
        assert card.commands[1:] == [bytes.fromhex("00C0000005"), bytes.fromhex("00C0000000")]

        card.commands.clear()
        assert channel.send(Command(0x80, 0x1A, 0, 0, le=16)).data == _pattern(8, 3)
        assert card.commands == [bytes.fromhex("801A000010"), bytes.fromhex("801A000008")]

        raw = channel.transmit(Command(0x80, 0x18, 0, 4), get_response=False)
        assert raw.sw == 0x6104


def test_redaction_through_pcsc(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    recorder = TraceRecorder()
    with vpcd(card) as name, PcscTransport(name) as transport:
        channel = Channel(transport, tracer=Tracer(recorder))
        channel.send(Command(0x80, 0x14, 0, 0, b"\x12\x34\x56", redact=Redact.COMMAND_DATA))
    assert recorder.events[0].command == "80 14 00 00 03 ** ** **"
    assert "12 34 56" not in "\n".join(recorder.lines())


def test_exclusive_is_reentrant_and_blocks_others(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    with vpcd(card) as name, PcscTransport(name) as transport, PcscTransport(name) as other:
        channel = Channel(transport)
        results: list[int] = []
        with transport.exclusive():
            with transport.exclusive():
                assert channel.send(Command(0x80, 0x10, 0, 0)).sw == 0x9000

            def other_side() -> None:
                with other.exclusive():
                    results.append(Channel(other).send(Command(0x80, 0x10, 0, 0)).sw)

            thread = threading.Thread(target=other_side)
            thread.start()
            thread.join(0.3)
            assert thread.is_alive() and results == []  # blocked by our transaction
        thread.join(5)
        assert results == [0x9000]


def test_reset_by_another_process_reconnects(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    hooks: list[str] = []
    with vpcd(card) as name, PcscTransport(name, on_reset=lambda: hooks.append("reset")) as transport:
        channel = Channel(transport)
        assert channel.send(Command(0x80, 0x10, 0, 0)).sw == 0x9000
        ctx, handle, _pci = _raw_connect(name)
        assert scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD) == scard.SCARD_S_SUCCESS
        scard.SCardReleaseContext(ctx)
        # Outside a transaction: reconnect, run the hooks, send again.
        assert channel.send(Command(0x80, 0x12, 0, 0, le=4)).data == _pattern(4)
        assert hooks == ["reset"] and transport.reset_count == 1

        # A reset between two business operations is found when the next transaction begins (OpenSC sc_lock):
        # reconnect, hooks, then the transaction is held and the operation runs normally.
        ctx, handle, _pci = _raw_connect(name)
        assert scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD) == scard.SCARD_S_SUCCESS
        scard.SCardReleaseContext(ctx)
        with transport.exclusive():
            assert hooks == ["reset", "reset"]
            assert channel.send(Command(0x80, 0x10, 0, 0)).sw == 0x9000
        assert transport.reset_count == 2


def test_card_removal_raises_reader_error_removed(vpcd: VpcdFixture) -> None:
    card = ChainCard()
    with vpcd(card) as name, PcscTransport(name) as transport:
        channel = Channel(transport)
        assert channel.send(Command(0x80, 0x10, 0, 0)).sw == 0x9000
        vpcd.handles[0].stop()  # pull the card: vpcd sees the socket close
        with pytest.raises(ReaderError) as info:
            channel.send(Command(0x80, 0x10, 0, 0))
        assert info.value.removed is True
        assert info.value.reader == name
        assert "SCARD_" in str(info.value)
        with pytest.raises(ReaderError) as again:
            transport.connect()
        assert again.value.removed is True


def test_unknown_reader_is_a_reader_error(pcscd: None) -> None:
    with pytest.raises(ReaderError) as info:
        PcscTransport("No Such Reader 00 00").connect()
    assert "SCARD_E_UNKNOWN_READER" in str(info.value) or "SCARD_E_NO_SERVICE" in str(info.value)
    assert info.value.removed is False
