"""The APDU channel: typed commands in, typed responses out, with T=0 style status words handled.

Semantics follow OpenSC's ``sc_transmit`` / ``sc_get_response`` (``src/libopensc/apdu.c``) and apdu4j's
``GetResponseWrapper`` / ``RetryWithRightLengthWrapper`` (anchors.md §3-4; ISO/IEC 7816-3 T=0 61xx/6Cxx):

* ``61 xx`` → GET RESPONSE ``00 C0 00 00 xx`` (``61 00`` = 256 bytes), concatenating the data, repeated while the
  card answers ``61 xx``, at most ``max_chain`` times ("no open loops"). The CLA of the GET RESPONSE keeps the
  logical-channel bits (b2-b1) of the original command's CLA (ISO/IEC 7816-4 §5.4.1), so a proprietary ``80``
  or secure-messaging ``84`` command is followed by ``00 C0``, as the health-card SAM expects after ``80 FA``
  (WS/T 543.4 commands).
* ``6C xx`` → the same command once more with Le = xx (``6C 00`` = 256); a GET RESPONSE answered with ``6C xx``
  is re-sent the same way. A second ``6C xx`` in a row is a protocol error.
* Each behaviour has a per-call opt-out (OpenSC's ``SC_APDU_FLAGS_NO_GET_RESP`` / ``NO_RETRY_WL``).
* Every exchange, intermediate ones included, goes to the tracer (redacted, see :mod:`apdu.trace`) and is counted
  in :attr:`Channel.exchanges` (an integer increment: counting needs no tracer).

Bounds exceeded raise :class:`~apdu.errors.LibraryError` (layer LIBRARY): a card that never stops answering
``61 xx`` is a protocol fault, not a status to hand back.
"""

from __future__ import annotations

from time import perf_counter_ns

from apdu.command import Command, Redact
from apdu.errors import Layer, LibraryError, error_for
from apdu.response import Response
from apdu.trace import Tracer
from apdu.transport import Transport

__all__ = ["Channel"]

_INS_GET_RESPONSE = 0xC0


class Channel:
    """Send :class:`~apdu.command.Command` objects over a :class:`~apdu.transport.Transport`.

    Parameters
    ----------
    transport:
        The byte transport (in-process, PC/SC ...).
    tracer:
        Optional :class:`~apdu.trace.Tracer`; with ``None`` (or no observers) nothing is timed or formatted.
    max_chain:
        Maximum number of GET RESPONSE commands for one command (apdu4j uses 32).

    Attributes
    ----------
    exchanges:
        Transport round trips so far (GET RESPONSE and re-sends included, failed ones too: they cross the
        interface).
    """

    __slots__ = ("_max_chain", "_tracer", "_transport", "_xmit", "exchanges")

    def __init__(self, transport: Transport, *, tracer: Tracer | None = None, max_chain: int = 32) -> None:
        if max_chain < 1:
            raise ValueError("max_chain must be at least 1")
        self._transport = transport
        self._tracer = tracer
        self._max_chain = max_chain
        self._xmit = transport.transmit
        self.exchanges = 0

    @property
    def transport(self) -> Transport:
        """The underlying byte transport."""
        return self._transport

    @property
    def tracer(self) -> Tracer | None:
        """The tracer, if any."""
        return self._tracer

    @tracer.setter
    def tracer(self, tracer: Tracer | None) -> None:
        self._tracer = tracer

    def _exchange(self, command: Command, raw: bytes, redact: Redact | None, gr: bool, wl: bool) -> bytes:
        """One transport round trip, traced when a tracer with observers is attached.

        In the trace, an exchange is *intermediate* when the channel acts on its status word instead of
        returning it (61xx with GET RESPONSE on, 6Cxx with the re-send on).
        """
        self.exchanges += 1
        tracer = self._tracer
        if tracer is None or not tracer.enabled:
            out = self._xmit(raw)
        else:
            name = self._transport.name
            t0 = perf_counter_ns()
            try:
                out = self._xmit(raw)
            except Exception as exc:
                tracer.exchange(name, command, raw, None, t0, perf_counter_ns(), redact=redact, error=str(exc))
                raise
            t1 = perf_counter_ns()
            sw1 = out[-2] if len(out) >= 2 else 0
            handled = (sw1 == 0x61 and gr) or (sw1 == 0x6C and wl)
            tracer.exchange(name, command, raw, out, t0, t1, redact=redact, intermediate=handled)
        if len(out) < 2:
            raise LibraryError(f"response of {len(out)} bytes to {command.header.hex(' ').upper()}: SW1 SW2 missing")
        return out

    def transmit(self, command: Command, *, get_response: bool = True, retry_wrong_le: bool = True) -> Response:
        """Send ``command`` and return the final response with its raw status word.

        61xx and 6Cxx are handled as described in the module docstring unless opted out. Reader failures raise
        :class:`~apdu.errors.ReaderError` from the transport; exceeded bounds raise
        :class:`~apdu.errors.LibraryError`.
        """
        out = self._exchange(command, command.encode(), None, get_response, retry_wrong_le)
        sw1 = out[-2]
        if sw1 == 0x6C and retry_wrong_le:
            command = command.with_le(out[-1] or 256)
            out = self._exchange(command, command.encode(), None, get_response, False)
            sw1 = out[-2]
            if sw1 == 0x6C:
                raise LibraryError(f"card answered 6Cxx twice to {command.header.hex(' ').upper()}")
        if sw1 == 0x61 and get_response:
            return self._get_response_chain(command, out, retry_wrong_le)
        return Response(out[:-2], sw1, out[-1])

    def _get_response_chain(self, command: Command, out: bytes, retry_wrong_le: bool) -> Response:
        redact = command.redact & Redact.RESPONSE_DATA
        cla = command.cla & 0x03
        parts = [out[:-2]]
        for _ in range(self._max_chain):
            get = Command(cla, _INS_GET_RESPONSE, 0, 0, le=out[-1] or 256, redact=redact)
            out = self._exchange(get, get.encode(), redact, True, retry_wrong_le)
            if out[-2] == 0x6C and retry_wrong_le:
                get = get.with_le(out[-1] or 256)
                out = self._exchange(get, get.encode(), redact, True, False)
            parts.append(out[:-2])
            if out[-2] != 0x61:
                return Response(b"".join(parts), out[-2], out[-1])
        raise LibraryError(f"more than {self._max_chain} GET RESPONSE commands after {command.header.hex(' ').upper()}")

    def send(self, command: Command, *, layer: Layer = Layer.CARD) -> Response:
        """Like :meth:`transmit`, but raise the typed :class:`~apdu.errors.CardError` subclass (the SAM variant
        with ``layer=Layer.SAM``) for any final status word other than 9000 (:func:`apdu.response.check`)."""
        response = self.transmit(command)
        if response.sw1 == 0x90 and response.sw2 == 0:
            return response
        raise error_for(response.sw, command, layer=layer)
