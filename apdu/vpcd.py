"""Serve a :class:`~apdu.card.SimulatedCard` into pcscd through vsmartcard's ``vpcd`` reader driver.

With Debian's ``/etc/reader.conf.d/vpcd`` (``DEVICENAME /dev/null:0x8C7B``) vpcd is the TCP *server* on port
35963 + slot and the card connects to it (vsmartcard vpcd reader.conf); the reader then appears to every PC/SC client
as ``Virtual PCD 00 0<slot>`` (pcsc-lite reader names).

Wire protocol (vsmartcard vpcd protocol; vsmartcard ``doc/api.txt``, ``src/vpcd/vpcd.h``): every frame in both
directions is a 2-byte big-endian length and that many bytes; vpcd always speaks first.

============================  ===========================  ==========================
vpcd → card                   meaning                      card → vpcd
============================  ===========================  ==========================
``00 01 00``                  POWER OFF                    nothing
``00 01 01``                  POWER ON                     nothing
``00 01 02``                  RESET (warm)                 nothing
``00 01 04``                  GET ATR                      ``LL LL`` ATR
``LL LL`` C-APDU (LL ≥ 2)     APDU                         ``LL LL`` R-APDU
============================  ===========================  ==========================

Rules applied here:

* reads are looped until the whole frame has arrived (vicc does not loop, vsmartcard vpcd protocol);
* GET ATR only reads :attr:`SimulatedCard.atr` (pcscd polls it about every 0.44 s, between APDUs, pcscd polling,
  sources.md F5);
* ``TCP_NODELAY`` once, ``TCP_QUICKACK`` re-armed before every ``recv`` (Linux), and each answer is sent with a
  single ``sendall`` of length ‖ body. Debian's vpcd 3.3 writes the length and the APDU in two ``send`` calls;
  without an immediate ACK from this side its Nagle algorithm holds the body for the ~40 ms delayed-ACK timer
  (sources.md F7: 44 ms → 0.16 ms per APDU);
* if vpcd goes away (pcscd restarted), the server powers the card off and connects again until stopped;
* a card that answers nothing (an empty response: it lost power in the middle of the command, e.g. a torn
  virtual card) is treated as pulled out: the connection is reset without an answer (vpcd reports a
  communication error and ejects it) and the server stays away for ``removal_time`` (1 s, longer than pcscd's
  ~0.4 s presence poll, sources.md F5) so pcscd sees the reader empty; when the card comes back pcscd powers it on
  again.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

from apdu.card import SimulatedCard
from apdu.status import SW, sw_bytes

__all__ = ["DEFAULT_PORT", "VpcdCardServer", "VpcdServerHandle", "reader_name"]

DEFAULT_PORT = 35963  # 0x8C7B, vpcd slot 0 (vsmartcard vpcd protocol)

_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

_log = logging.getLogger(__name__)


def reader_name(slot: int = 0, friendly_name: str = "Virtual PCD") -> str:
    """The PC/SC reader name pcsc-lite gives vpcd slot ``slot``: ``"Virtual PCD 00 00"`` (pcsc-lite reader names)."""
    return f"{friendly_name} 00 {slot:02d}"


class _DisconnectedError(Exception):
    """The vpcd side closed the connection."""


class _PowerLostError(Exception):
    """The card answered an APDU with nothing: it lost power (see the module docstring)."""


class VpcdCardServer:
    """The card side of a vpcd connection.

    Parameters
    ----------
    card:
        The simulated card to serve.
    host, port:
        Where vpcd listens: ``35963 + slot`` on the pcscd host.
    on_change:
        Called with the card after each APDU has been answered (e.g. to persist the card image). Exceptions
        from it are logged and do not stop the server.
    retry_delay:
        Seconds between connection attempts while vpcd is not reachable.
    removal_time:
        Seconds the card stays out of the reader after it lost power in the middle of a command.
    """

    def __init__(
        self,
        card: SimulatedCard,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        on_change: Callable[[SimulatedCard], None] | None = None,
        retry_delay: float = 0.2,
        removal_time: float = 1.0,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.on_change = on_change
        self.retry_delay = retry_delay
        self.removal_time = removal_time
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._sock_lock = threading.Lock()
        #: Set once vpcd has asked this server for the ATR over the current connection (card visible to pcscd).
        self.atr_served = threading.Event()
        #: Number of APDUs answered since the server was created.
        self.apdu_count = 0
        #: Number of successful connections to vpcd.
        self.connections = 0

    # --- life cycle ---------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Connect to vpcd and serve frames until :meth:`stop`; reconnect whenever the connection drops."""
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError as exc:
                _log.debug("vpcd %s:%d not reachable (%s); retrying", self.host, self.port, exc)
                self._stop.wait(self.retry_delay)
                continue
            with self._sock_lock:
                if self._stop.is_set():
                    sock.close()
                    break
                self._sock = sock
            self.connections += 1
            delay = self.retry_delay
            try:
                self._serve_connection(sock)
            except _PowerLostError:
                _log.info("card lost power during a command: out of the reader for %.1f s", self.removal_time)
                with contextlib.suppress(OSError):  # reset, not a graceful close: vpcd sees a transmit error
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                delay = self.removal_time
            except (_DisconnectedError, OSError) as exc:
                if not self._stop.is_set():
                    _log.info("vpcd connection %s:%d lost (%s); reconnecting", self.host, self.port, exc)
            finally:
                with self._sock_lock:
                    self._sock = None
                sock.close()
                self.atr_served.clear()
                self.card.power_off()  # the card has been "pulled" from the reader
            if not self._stop.is_set():
                self._stop.wait(delay)

    def serve_in_thread(self, *, name: str | None = None) -> VpcdServerHandle:
        """Run :meth:`serve_forever` in a daemon thread; stop it with the returned handle."""
        thread = threading.Thread(target=self.serve_forever, name=name or f"vpcd-card:{self.port}", daemon=True)
        thread.start()
        return VpcdServerHandle(self, thread)

    def stop(self) -> None:
        """Ask :meth:`serve_forever` to return; closes the socket, which vpcd sees as the card being removed."""
        self._stop.set()
        with self._sock_lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    # --- protocol ---------------------------------------------------------------------------------------

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        card = self.card
        recv_exact = self._reader(sock)
        send = sock.sendall
        while True:
            header = recv_exact(2)
            length = (header[0] << 8) | header[1]
            if length == 1:
                code = recv_exact(1)[0]
                if code == _GET_ATR:
                    atr = card.atr
                    send(len(atr).to_bytes(2, "big") + atr)
                    self.atr_served.set()
                elif code == _POWER_ON:
                    card.power_on()
                elif code == _RESET:
                    card.reset()
                elif code == _POWER_OFF:
                    card.power_off()
                else:
                    _log.warning("vpcd sent unknown control code %02X; ignored", code)
                continue
            if length == 0:
                continue
            apdu = recv_exact(length)
            try:
                answer = card.execute(apdu)
            except Exception:  # a simulated card must never raise; answer "no precise diagnosis"
                _log.exception("simulated card raised on an APDU; answering 6F00")
                answer = sw_bytes(SW.NO_PRECISE_DIAGNOSIS)
            if not answer:
                raise _PowerLostError
            send(len(answer).to_bytes(2, "big") + answer)
            self.apdu_count += 1
            if self.on_change is not None:
                try:
                    self.on_change(card)
                except Exception:
                    _log.exception("vpcd on_change callback failed")

    @staticmethod
    def _reader(sock: socket.socket) -> Callable[[int], bytes]:
        """Return ``recv_exact(n)``: loop over short reads, re-arming TCP_QUICKACK before each ``recv``."""
        recv = sock.recv
        setopt = sock.setsockopt
        quickack = _QUICKACK

        def recv_exact(n: int) -> bytes:
            if quickack is not None:
                setopt(socket.IPPROTO_TCP, quickack, 1)
            chunk = recv(n)
            if len(chunk) == n:
                return chunk
            if not chunk:
                raise _DisconnectedError("vpcd closed the connection")
            parts = [chunk]
            got = len(chunk)
            while got < n:
                if quickack is not None:
                    setopt(socket.IPPROTO_TCP, quickack, 1)
                chunk = recv(n - got)
                if not chunk:
                    raise _DisconnectedError("vpcd closed the connection in the middle of a frame")
                parts.append(chunk)
                got += len(chunk)
            return b"".join(parts)

        return recv_exact


class VpcdServerHandle:
    """A :class:`VpcdCardServer` running in a thread. Usable as a context manager (stops on exit)."""

    def __init__(self, server: VpcdCardServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    def wait_atr_served(self, timeout: float | None = None) -> bool:
        """Wait until vpcd has read the card's ATR over the current connection; True if it has."""
        return self.server.atr_served.wait(timeout)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the server (the card disappears from the reader) and wait for its thread."""
        self.server.stop()
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self.thread.is_alive()

    def __enter__(self) -> VpcdServerHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
