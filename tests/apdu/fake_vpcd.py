"""The vpcd side of the vsmartcard protocol, as a listening socket in the test (vsmartcard vpcd docs, sources.md
F5): accepts the card's connection, sends control codes (``00 01 code``) and APDU frames (2-byte big-endian length
‖ APDU), reads the answers."""

from __future__ import annotations

import socket


class FakeVpcd:
    """A fake vpcd on a free loopback port: :attr:`port` is where the card server connects."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.listener.settimeout(5)
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5) -> socket.socket:
        """Wait ``timeout`` seconds for the card's connection (``TimeoutError`` if it does not come)."""
        self.listener.settimeout(timeout)
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        self.conn = conn
        return conn

    def control(self, code: int) -> None:
        """Send a 1-byte control frame (0 power off, 1 power on, 2 reset, 4 get ATR)."""
        assert self.conn is not None
        self.conn.sendall(b"\x00\x01" + bytes((code,)))

    def read_frame(self) -> bytes:
        """One frame from the card (``ConnectionAbortedError`` when the card side closed)."""
        return self._exact(int.from_bytes(self._exact(2), "big"))

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                raise ConnectionAbortedError("the card side closed the connection")
            data += chunk
        return data

    def apdu(self, apdu: bytes | str, data: bytes = b"") -> bytes:
        """Send ``apdu`` (bytes, or hex text with spaces allowed) followed by ``data``; return the card's answer."""
        assert self.conn is not None
        raw = (bytes.fromhex(apdu) if isinstance(apdu, str) else apdu) + data
        self.conn.sendall(len(raw).to_bytes(2, "big") + raw)
        return self.read_frame()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()
