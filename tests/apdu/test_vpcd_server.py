"""VpcdCardServer against a fake vpcd (a listening socket in the test): framing, control codes, short reads,
side-effect-free GET ATR, socket options, on_change, reconnect and stop (vsmartcard vpcd protocol, pcscd polling,
sources.md F5; sources.md F7).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from apdu.card import SimulatedCard
from apdu.vpcd import VpcdCardServer, VpcdServerHandle, reader_name
from tests.apdu.fake_vpcd import FakeVpcd

ATR = bytes.fromhex("3B8880014843544553543031 6D".replace(" ", ""))


class RecordingCard:
    def __init__(self) -> None:
        self.events: list[str] = []

    @property
    def atr(self) -> bytes:
        return ATR

    def power_on(self) -> None:
        self.events.append("on")

    def power_off(self) -> None:
        self.events.append("off")

    def reset(self) -> None:
        self.events.append("reset")

    def execute(self, apdu: bytes) -> bytes:
        self.events.append(f"apdu {apdu.hex()}")
        if apdu == b"\xde\xad\xbe\xef":
            raise RuntimeError("simulator bug")
        return apdu[::-1] + b"\x90\x00"


@pytest.fixture
def fake_vpcd() -> Iterator[FakeVpcd]:
    v = FakeVpcd()
    yield v
    v.close()


def _serve(card: SimulatedCard, port: int, **kwargs: Any) -> VpcdServerHandle:
    return VpcdCardServer(card, port=port, retry_delay=0.02, **kwargs).serve_in_thread()


def test_reader_names() -> None:
    assert reader_name(0) == "Virtual PCD 00 00"
    assert reader_name(1) == "Virtual PCD 00 01"


def test_control_codes_and_apdus(fake_vpcd: FakeVpcd) -> None:
    card = RecordingCard()
    changes: list[SimulatedCard] = []
    with _serve(card, fake_vpcd.port, on_change=changes.append) as handle:
        fake_vpcd.accept()
        fake_vpcd.control(4)
        assert fake_vpcd.read_frame() == ATR
        assert handle.wait_atr_served(2)
        fake_vpcd.control(1)
        fake_vpcd.control(4)
        assert fake_vpcd.read_frame() == ATR
        assert fake_vpcd.apdu(b"\x00\xa4\x04\x00") == b"\x00\x04\xa4\x00\x90\x00"
        fake_vpcd.control(2)
        fake_vpcd.control(0)
        fake_vpcd.control(4)
        assert fake_vpcd.read_frame() == ATR
        # GET ATR changed nothing: no power event, no APDU (pcscd polling, sources.md F5).
        assert card.events == ["on", "apdu 00a40400", "reset", "off"]
        assert changes == [card]
        assert handle.server.apdu_count == 1


def test_short_reads_are_looped(fake_vpcd: FakeVpcd) -> None:
    card = RecordingCard()
    apdu = bytes(range(1, 200))
    frame = len(apdu).to_bytes(2, "big") + apdu
    with _serve(card, fake_vpcd.port):
        conn = fake_vpcd.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(frame), 37):  # length split from body, body in pieces
            conn.sendall(frame[i : i + 37])
            time.sleep(0.005)
        assert fake_vpcd.read_frame() == apdu[::-1] + b"\x90\x00"
    assert card.events[0] == f"apdu {apdu.hex()}"


def test_a_card_that_raises_answers_6f00(fake_vpcd: FakeVpcd) -> None:
    with _serve(RecordingCard(), fake_vpcd.port):
        fake_vpcd.accept()
        assert fake_vpcd.apdu(b"\xde\xad\xbe\xef") == b"\x6f\x00"
        assert fake_vpcd.apdu(b"\x00\x84\x00\x00\x08") == b"\x08\x00\x00\x84\x00\x90\x00"


def test_reconnects_after_vpcd_goes_away(fake_vpcd: FakeVpcd) -> None:
    card = RecordingCard()
    with _serve(card, fake_vpcd.port) as handle:
        first = fake_vpcd.accept()
        fake_vpcd.control(1)
        assert fake_vpcd.apdu(b"\x00\x01\x02\x03") == b"\x03\x02\x01\x00\x90\x00"
        first.close()  # pcscd restarted
        fake_vpcd.accept()
        fake_vpcd.control(4)
        assert fake_vpcd.read_frame() == ATR
        assert handle.server.connections == 2
        assert "off" in card.events  # the card was pulled when the connection dropped


def test_stop_while_waiting_for_vpcd() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens: connection refused, retried
    handle = _serve(RecordingCard(), port)
    time.sleep(0.1)
    t0 = time.monotonic()
    handle.stop()
    assert not handle.running
    assert time.monotonic() - t0 < 1


def test_stop_while_blocked_in_recv_closes_the_socket(fake_vpcd: FakeVpcd) -> None:
    handle = _serve(RecordingCard(), fake_vpcd.port)
    conn = fake_vpcd.accept()
    fake_vpcd.control(4)
    assert fake_vpcd.read_frame() == ATR
    handle.stop()
    assert not handle.running and handle.server.stopped
    assert conn.recv(1) == b""  # vpcd sees the card removed


class SpySocket:
    """Wraps the server's socket to record socket options, reads and writes."""

    def __init__(self, sock: socket.socket, log: list[str]) -> None:
        self._sock = sock
        self.log = log

    def setsockopt(self, level: int, option: int, value: int) -> None:
        name = {socket.TCP_NODELAY: "NODELAY", getattr(socket, "TCP_QUICKACK", -1): "QUICKACK"}.get(option, "?")
        self.log.append(f"set {name}")
        self._sock.setsockopt(level, option, value)

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        self.log.append(f"recv {len(data)}")
        return data

    def sendall(self, data: bytes) -> None:
        self.log.append(f"sendall {len(data)}")
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux-only")
def test_latency_options_quickack_before_every_recv_and_one_sendall(
    fake_vpcd: FakeVpcd, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    real = socket.create_connection

    def spy_connect(address: tuple[str, int], timeout: float = 2.0) -> SpySocket:
        return SpySocket(real(address, timeout), log)

    monkeypatch.setattr(socket, "create_connection", spy_connect)
    with _serve(RecordingCard(), fake_vpcd.port):
        fake_vpcd.accept()
        assert fake_vpcd.apdu(b"\x00\xb0\x00\x00\x10") == b"\x10\x00\x00\xb0\x00\x90\x00"
        fake_vpcd.control(4)
        assert fake_vpcd.read_frame() == ATR
        deadline = time.monotonic() + 2
        while log.count("set QUICKACK") < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert log[0] == "set NODELAY"
    reads = [i for i, entry in enumerate(log) if entry.startswith("recv")]
    assert reads and all(log[i - 1] == "set QUICKACK" for i in reads)
    # each answer (length + body) left in exactly one sendall: 2+7 bytes for the APDU, 2+13 for the ATR
    assert [e for e in log if e.startswith("sendall")] == ["sendall 9", f"sendall {2 + len(ATR)}"]


def test_constructor_defaults() -> None:
    server = VpcdCardServer(RecordingCard())
    assert (server.host, server.port) == ("127.0.0.1", 35963)
    assert not server.atr_served.is_set() and server.apdu_count == 0
    threading.Thread(target=server.stop).start()  # stop before start is harmless
