"""Serve a simulated card or SAM into pcscd from the command line until SIGINT or SIGTERM.

The server runs in its own thread and the main thread only waits for a signal, so the handlers installed here
never interrupt the server in the middle of an APDU or while it holds its socket lock. They are installed
explicitly rather than relying on Python's default KeyboardInterrupt: a process started with SIGINT ignored
(a background job of a non-interactive shell, some supervisors) would otherwise never stop on Ctrl-C / SIGINT,
and SIGTERM (systemd, ``kill``) must stop as cleanly as Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from apdu.vpcd import DEFAULT_PORT, VpcdCardServer

__all__ = ["add_vpcd_options", "serve_until_signalled"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_vpcd_options(parser: argparse.ArgumentParser, *, slot: int) -> None:
    """``--host`` and ``--port`` of the vpcd to serve into; the port defaults to the one of ``slot`` (35963 + slot,
    reader ``Virtual PCD 00 0<slot>``; vsmartcard vpcd docs)."""
    port = DEFAULT_PORT + slot
    parser.add_argument("--host", default="127.0.0.1", help="where vpcd listens (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"vpcd port (default {port} = slot {slot})")


def serve_until_signalled(server: VpcdCardServer, *, poll_s: float = 0.5) -> None:
    """Run ``server`` until SIGINT or SIGTERM arrives (or its thread ends), then stop it and wait for it."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    handle = server.serve_in_thread()
    try:
        while not stop.wait(poll_s) and handle.running:
            pass
    finally:
        handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
