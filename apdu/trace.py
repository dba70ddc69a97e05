"""APDU tracing: timestamped exchange events, observers, and redaction of secrets.

A :class:`Tracer` fans each command/response exchange out to its observers (the observer pattern of pyscard's
``CardConnectionObserver`` and apdu4j's ``LoggingBIBO``/``DumpingBIBO``, anchors.md §1 and §4). Two observers
ship here: :class:`LoggingObserver` (one ``logging`` line per exchange) and :class:`TraceRecorder` (in memory,
for tests and diagnostics).

Redaction happens *when the event is built*: a :class:`TraceEvent` never holds the raw bytes of a secret, only
the hex text with every secret byte replaced by ``**``. Which part is secret is decided by the command's
:class:`~apdu.command.Redact` flags, set by the builders for VERIFY / PIN commands, WRITE KEY, external
authentication cryptograms and session-key material. Responses to GET RESPONSE inherit the response flag of the
command whose data they fetch. So no observer, log line or ``repr`` can leak a PIN, key or session data.

Personal data (issue #11 item 9) is hidden the same way unless the tracer is built with
``show_personal_data=True`` (``healthcard trace --show-personal-data``): the data fields that carry card-file
contents — names, ID numbers, addresses, allergies, visit records — whatever file they belong to, i.e. the
responses of READ BINARY / READ RECORD / GET DATA / GET RESPONSE and the command data of UPDATE / WRITE BINARY,
UPDATE / WRITE / APPEND RECORD (any class byte, so also their secure-messaging forms), and the command data of the
health-card SAM's key diversification (``80 DE``: the card number) and MAC / encryption (``80 FA``: the APDU
being protected, with its data). Purse commands, SELECT, status words and lengths stay visible.

Timestamps come from :func:`time.perf_counter_ns` (monotonic, nanoseconds).

Intermediate exchanges of a 61xx GET RESPONSE chain or a 6Cxx re-send are traced too, flagged
``intermediate=True``, so the trace shows what really crossed the interface (OpenSC#1044: ``opensc-tool -s``
hid 61xx by reporting 9000; ISO/IEC 7816-3 T=0 61xx/6Cxx).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apdu.command import Command, Redact

__all__ = [
    "LoggingObserver",
    "TraceEvent",
    "TraceObserver",
    "TraceRecorder",
    "Tracer",
    "personal_redaction",
    "redacted_command_hex",
    "redacted_response_hex",
]

_log = logging.getLogger(__name__)

_HIDDEN_BYTE = "**"


def _hex(raw: bytes) -> str:
    return raw.hex(" ").upper()


def _hide(n: int) -> str:
    return " ".join((_HIDDEN_BYTE,) * n)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def redacted_command_hex(command: Command, raw: bytes | None = None, redact: Redact | None = None) -> str:
    """Hex text of ``command`` with its data field shown as ``**`` per byte when it is marked secret.

    Header, Lc and Le stay visible (ISO/IEC 7816-4 §5.1 layout: the data field starts after the 1-byte short
    Lc or the 3-byte extended Lc). ``redact`` replaces the command's own flags.
    """
    raw = command.encode() if raw is None else raw
    n = len(command.data)
    if not n or not (command.redact if redact is None else redact) & Redact.COMMAND_DATA:
        return _hex(raw)
    start = 7 if command.extended else 5
    return _join(_hex(raw[:start]), _hide(n), _hex(raw[start + n :]))


def redacted_response_hex(raw: bytes, redact: Redact) -> str:
    """Hex text of a raw response with its data field shown as ``**`` per byte when marked secret."""
    if len(raw) > 2 and redact & Redact.RESPONSE_DATA:
        return _join(_hide(len(raw) - 2), _hex(raw[-2:]))
    return _hex(raw)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One command/response exchange as seen on the transport, already redacted.

    Attributes
    ----------
    seq:
        Sequence number within the tracer (1, 2, ...).
    reader:
        Transport name (reader name).
    command:
        Command APDU as upper-case hex with secret data bytes shown as ``**``.
    response:
        Response APDU likewise; empty when the transport failed (see ``error``).
    sw:
        Status word, or ``None`` when the transport failed.
    started_ns, ended_ns:
        :func:`time.perf_counter_ns` before sending and after receiving.
    intermediate:
        True for exchanges inside a 61xx GET RESPONSE chain or a 6Cxx re-send (not the caller's final answer).
    error:
        The transport error message (``ReaderError`` ...) when the exchange failed.
    """

    seq: int
    reader: str
    command: str
    response: str
    sw: int | None
    started_ns: int
    ended_ns: int
    intermediate: bool = False
    error: str | None = None

    @property
    def duration_us(self) -> float:
        """Time between send and receive in microseconds."""
        return (self.ended_ns - self.started_ns) / 1000

    def __str__(self) -> str:
        mark = "~" if self.intermediate else ""
        answer = self.response if self.error is None else f"!! {self.error}"
        return f"#{self.seq}{mark} [{self.reader}] > {self.command} < {answer} ({self.duration_us:.0f} µs)"


@runtime_checkable
class TraceObserver(Protocol):
    """Receives every traced exchange."""

    def on_exchange(self, event: TraceEvent) -> None:
        """Called once per exchange, in order, on the thread that did the exchange."""
        ...


_READS = frozenset({0xB0, 0xB1, 0xB2, 0xB3, 0xC0, 0xCA, 0xCB})  # response data = file contents
_WRITES = frozenset({0xD0, 0xD1, 0xD2, 0xD6, 0xD7, 0xDC, 0xDD, 0xE2})  # command data = file contents
_SAM_WITH_CARD_DATA = frozenset({0xDE, 0xFA})  # 80 DE: card number; 80 FA: the protected APDU


def personal_redaction(command: Command) -> Redact:
    """The data fields of ``command`` that may carry the holder's personal data (module docstring)."""
    ins = command.ins
    if ins in _READS:
        return Redact.RESPONSE_DATA
    if ins in _WRITES or (command.cla & 0x80 and ins in _SAM_WITH_CARD_DATA):
        return Redact.COMMAND_DATA
    return Redact.NOTHING


class Tracer:
    """Fans exchanges out to observers. With no observers, :attr:`enabled` is False and the channel skips it.

    ``show_personal_data``: show card-file contents in the events (default: hidden like secrets; secrets are
    hidden always).
    """

    __slots__ = ("_counter", "_observers", "show_personal_data")

    def __init__(self, *observers: TraceObserver, show_personal_data: bool = False) -> None:
        self._observers: tuple[TraceObserver, ...] = tuple(observers)
        self._counter = itertools.count(1)
        self.show_personal_data = show_personal_data

    @property
    def enabled(self) -> bool:
        """True when at least one observer is attached."""
        return bool(self._observers)

    @property
    def observers(self) -> tuple[TraceObserver, ...]:
        """The attached observers."""
        return self._observers

    def add(self, observer: TraceObserver) -> None:
        """Attach an observer."""
        self._observers = (*self._observers, observer)

    def remove(self, observer: TraceObserver) -> None:
        """Detach an observer (no error if absent)."""
        self._observers = tuple(o for o in self._observers if o is not observer)

    def exchange(
        self,
        reader: str,
        command: Command,
        raw_command: bytes,
        raw_response: bytes | None,
        started_ns: int,
        ended_ns: int,
        *,
        redact: Redact | None = None,
        intermediate: bool = False,
        error: str | None = None,
    ) -> TraceEvent:
        """Build the redacted event for one exchange and hand it to every observer.

        ``redact`` overrides the response flag (a GET RESPONSE inherits its parent command's); by default the
        command's own flags apply. An observer that raises is logged and does not disturb the exchange.
        """
        flags = command.redact if redact is None else redact
        command_flags = command.redact
        if not self.show_personal_data:
            personal = personal_redaction(command)
            flags |= personal
            command_flags |= personal
        event = TraceEvent(
            seq=next(self._counter),
            reader=reader,
            command=redacted_command_hex(command, raw_command, command_flags),
            response="" if raw_response is None else redacted_response_hex(raw_response, flags),
            sw=None if raw_response is None or len(raw_response) < 2 else (raw_response[-2] << 8) | raw_response[-1],
            started_ns=started_ns,
            ended_ns=ended_ns,
            intermediate=intermediate,
            error=error,
        )
        for observer in self._observers:
            try:
                observer.on_exchange(event)
            except Exception:
                _log.exception("APDU trace observer %r failed", type(observer).__name__)
        return event


class LoggingObserver:
    """Logs one line per exchange (already redacted) to ``logger`` at ``level`` (default DEBUG)."""

    __slots__ = ("_level", "_logger")

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.DEBUG) -> None:
        self._logger = logger if logger is not None else logging.getLogger("apdu.trace")
        self._level = level

    def on_exchange(self, event: TraceEvent) -> None:
        if self._logger.isEnabledFor(self._level):
            self._logger.log(self._level, "%s", event)


class TraceRecorder:
    """Keeps traced events in memory (the last ``maxlen`` when given). Thread-safe."""

    def __init__(self, maxlen: int | None = None) -> None:
        self._events: deque[TraceEvent] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def on_exchange(self, event: TraceEvent) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[TraceEvent]:
        """A snapshot of the recorded events, oldest first."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget all recorded events."""
        with self._lock:
            self._events.clear()

    def lines(self) -> list[str]:
        """The recorded events as text lines."""
        return [str(e) for e in self.events]

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def extend(self, events: Iterable[TraceEvent]) -> None:
        """Append events recorded elsewhere (e.g. merging traces of two channels)."""
        with self._lock:
            self._events.extend(events)
