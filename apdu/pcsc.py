"""PC/SC transport through pyscard's ``smartcard.scard`` (WinSCard / pcsc-lite), imported lazily.

Designed against the field problems in PC/SC field problems, sources.md F6:

* **Errors name the layer and the PC/SC code** (PC/SC field problems, sources.md F6.6): every failure is a
  :class:`~apdu.errors.ReaderError`
  whose message contains the PC/SC error name (``SCARD_W_REMOVED_CARD`` ...); ``removed=True`` when the card
  is gone. pyscard missing is a ReaderError too, with the install hint.
* **The service restarts** (PC/SC field problems, sources.md F6.1): a context error (``SCARD_E_NO_SERVICE``,
  ``SCARD_E_SERVICE_STOPPED``,
  ``SCARD_E_INVALID_HANDLE`` ...) drops the context; the next :meth:`PcscTransport.connect` establishes a new one.
* **The card is reset by another process** (PC/SC field problems, sources.md F6.3; OpenSC ``sc_lock``): on
  ``SCARD_W_RESET_CARD`` the handle is
  reconnected (``SCardReconnect``, leave card) and the ``on_reset`` hooks run so the layer above can re-select
  its application and re-open secure messaging. Inside :meth:`~PcscTransport.exclusive` the reset is reported as
  :class:`CardResetError` (the business operation must restart: the card lost its volatile state mid-way);
  outside a transaction the APDU is sent once more after the hooks have run. Beginning a transaction retries up
  to 5 times on a reset, as ``sc_lock`` does.
* **Handles are not thread-safe** (PC/SC field problems, sources.md F6.5): all calls on one transport are serialised by
  a re-entrant lock, and
  :meth:`~PcscTransport.exclusive` holds it for the whole business operation.
* **T=0 status words are left to the channel** (ISO/IEC 7816-3 T=0 61xx/6Cxx): this transport passes APDUs through
  unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType, TracebackType
from typing import Any

from apdu.errors import ReaderError

__all__ = ["CardResetError", "PcscTransport", "list_readers", "pcsc_error_name", "reader_has_card"]

_log = logging.getLogger(__name__)

_REMOVED = ("SCARD_W_REMOVED_CARD", "SCARD_E_NO_SMARTCARD", "SCARD_W_UNPOWERED_CARD", "SCARD_W_UNRESPONSIVE_CARD")
_CONTEXT_LOST = (
    "SCARD_E_NO_SERVICE",
    "SCARD_E_SERVICE_STOPPED",
    "SCARD_E_INVALID_HANDLE",
    "SCARD_E_NO_READERS_AVAILABLE",
    "SCARD_E_READER_UNAVAILABLE",
    "SCARD_E_UNKNOWN_READER",
    "SCARD_F_COMM_ERROR",
)
_BEGIN_RETRIES = 5

_scard_module: ModuleType | None = None
_names: dict[int, str] = {}


def _scard() -> ModuleType:
    """Import ``smartcard.scard`` on first use (apdu must import without pyscard)."""
    global _scard_module  # noqa: PLW0603 - one lazily imported module
    if _scard_module is None:
        try:
            from smartcard import scard  # noqa: PLC0415 - lazy by design
        except ImportError as exc:
            raise ReaderError(
                "pyscard is not installed: install the 'pcsc' extra (pip install 'healthcard[pcsc]'; it builds from "
                "source and needs swig, gcc and libpcsclite-dev)"
            ) from exc
        _scard_module = scard
        for attr in dir(scard):
            if attr.startswith(("SCARD_E_", "SCARD_W_", "SCARD_F_", "SCARD_P_")):
                value = getattr(scard, attr)
                if isinstance(value, int):
                    _names.setdefault(value & 0xFFFFFFFF, attr)
    return _scard_module


def pcsc_error_name(hresult: int) -> str:
    """The symbolic name of a PC/SC return code (``SCARD_W_REMOVED_CARD``), or its hex value."""
    _scard()
    code = hresult & 0xFFFFFFFF
    return _names.get(code, f"0x{code:08X}")


def _code(name: str) -> int:
    value: int = getattr(_scard(), name, -1)
    return value & 0xFFFFFFFF if value != -1 else -1


def _is(hresult: int, *names: str) -> bool:
    code = hresult & 0xFFFFFFFF
    return any(code == _code(n) for n in names)


def list_readers() -> list[str]:
    """Names of the PC/SC readers currently known to the service (empty when there are none).

    Raises :class:`~apdu.errors.ReaderError` when the PC/SC service is not running.
    """
    scard = _scard()
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot reach the PC/SC service (is pcscd running?): {pcsc_error_name(hr)}")
    try:
        hr, readers = scard.SCardListReaders(context, [])
        if _is(hr, "SCARD_E_NO_READERS_AVAILABLE"):
            return []
        if hr != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot list PC/SC readers: {pcsc_error_name(hr)}")
        return list(readers)
    finally:
        scard.SCardReleaseContext(context)


def reader_has_card(reader: str) -> bool:
    """Whether PC/SC reports a responsive card in ``reader`` (SCardGetStatusChange; nothing is sent to the card).

    Raises :class:`~apdu.errors.ReaderError` when the PC/SC service is down or there is no such reader.
    """
    scard = _scard()
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot reach the PC/SC service (is pcscd running?): {pcsc_error_name(hr)}", reader=reader)
    try:
        hr, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"reader {reader!r}: {pcsc_error_name(hr)}", reader=reader)
        state = states[0][1]
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise ReaderError(f"there is no reader {reader!r}; {_readers_there()}", reader=reader)
        return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
    finally:
        scard.SCardReleaseContext(context)


def _readers_there() -> str:
    """``readers here: 'A', 'B'`` (or why there is no list) for an error about a reader that is not there."""
    try:
        names = list_readers()
    except ReaderError as exc:
        return exc.message
    return "readers here: " + ", ".join(repr(n) for n in names) if names else "no PC/SC reader is connected"


class CardResetError(ReaderError):
    """The card was reset by another process during an exclusive operation (``SCARD_W_RESET_CARD``).

    The transport has already reconnected and run its ``on_reset`` hooks; the operation must be restarted
    because the card lost its volatile state (selected DF, verified PIN, secure-messaging session).
    """


class PcscTransport:
    """A card in a PC/SC reader, reached through pyscard.

    Parameters
    ----------
    reader_name:
        Exact reader name as listed by :func:`list_readers` (e.g. ``"Virtual PCD 00 00"``).
    exclusive_share:
        Connect with ``SCARD_SHARE_EXCLUSIVE`` instead of shared access (other processes then cannot connect).
    on_reset:
        Called (with the lock held, inside the new transaction when one is open) after the transport has
        reconnected following a card reset by another process.
    removal_wait:
        Seconds to wait, after a failed transmit, for the reader state to settle before deciding whether the
        card was removed (vpcd reports the removal at its next presence poll, ~0.44 s; pcscd polling, sources.md F5).
    """

    def __init__(
        self,
        reader_name: str,
        *,
        exclusive_share: bool = False,
        on_reset: Callable[[], None] | None = None,
        removal_wait: float = 1.0,
    ) -> None:
        self._reader = reader_name
        self._exclusive_share = exclusive_share
        self._on_reset: list[Callable[[], None]] = [on_reset] if on_reset is not None else []
        self._removal_wait = removal_wait
        self._lock = threading.RLock()
        self._context: Any = None
        self._card: Any = None
        self._protocol = 0
        self._pci: Any = None
        self._atr = b""
        self._depth = 0
        self.reset_count = 0

    # --- properties -------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        if self._card is None:
            raise ReaderError(f"not connected to a card in {self._reader!r}", reader=self._reader)
        return self._atr

    @property
    def protocol(self) -> str:
        """``"T=0"`` or ``"T=1"`` (``""`` before connecting)."""
        scard = _scard()
        if self._card is None:
            return ""
        return "T=1" if self._protocol == scard.SCARD_PROTOCOL_T1 else "T=0"

    @property
    def connected(self) -> bool:
        """True while a card handle is held."""
        return self._card is not None

    def add_reset_hook(self, hook: Callable[[], None]) -> None:
        """Register another hook to run after a reconnect that followed a card reset."""
        self._on_reset.append(hook)

    # --- errors -----------------------------------------------------------------------------------------

    def _error(self, what: str, hr: int, *, removed: bool | None = None) -> ReaderError:
        name = pcsc_error_name(hr)
        if removed is None:
            removed = _is(hr, *_REMOVED)
        if removed:
            self._drop_card()
        if _is(hr, *_CONTEXT_LOST):
            self._drop_context()
        return ReaderError(f"{what} on reader {self._reader!r} failed: {name}", reader=self._reader, removed=removed)

    def _drop_card(self) -> None:
        if self._card is not None:
            scard = _scard()
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        self._card = None
        self._pci = None

    def _drop_context(self) -> None:
        scard = _scard()
        self._drop_card()
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
        self._context = None

    # --- connection -------------------------------------------------------------------------------------

    def connect(self) -> bytes:
        """Connect to the card (establishing a PC/SC context if needed) and return its ATR."""
        scard = _scard()
        with self._lock:
            if self._card is not None:
                return self._atr
            if self._context is None:
                hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hr != scard.SCARD_S_SUCCESS:
                    raise ReaderError(
                        f"cannot reach the PC/SC service (is pcscd running?): {pcsc_error_name(hr)}",
                        reader=self._reader,
                    )
                self._context = context
            share = scard.SCARD_SHARE_EXCLUSIVE if self._exclusive_share else scard.SCARD_SHARE_SHARED
            hr, card, protocol = scard.SCardConnect(
                self._context, self._reader, share, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            )
            if hr != scard.SCARD_S_SUCCESS:
                if _is(hr, "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE"):
                    self._drop_context()
                    raise ReaderError(
                        f"there is no reader {self._reader!r} ({pcsc_error_name(hr)}); {_readers_there()}",
                        reader=self._reader,
                    )
                if _is(hr, "SCARD_E_NO_SMARTCARD", "SCARD_W_REMOVED_CARD"):
                    raise ReaderError(
                        f"no card in reader {self._reader!r} ({pcsc_error_name(hr)})", reader=self._reader,
                        no_card=True,
                    )  # fmt: skip
                raise self._error("connect", hr)
            self._card = card
            self._set_protocol(protocol)
            self._atr = self._read_atr()
            return self._atr

    def _set_protocol(self, protocol: int) -> None:
        scard = _scard()
        self._protocol = protocol
        self._pci = scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0

    def _read_atr(self) -> bytes:
        scard = _scard()
        hr, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hr != scard.SCARD_S_SUCCESS:
            raise self._error("status", hr)
        return bytes(atr)

    def disconnect(self) -> None:
        """Leave the card and release the PC/SC context; safe when not connected."""
        with self._lock:
            if self._context is None:
                return
            scard = _scard()
            if self._card is not None:
                if self._depth:
                    scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
                scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._drop_card()
            scard.SCardReleaseContext(self._context)
            self._context = None

    def reset(self, *, cold: bool = False) -> bytes:
        """Reset the card (warm: ``SCARD_RESET_CARD``; cold: ``SCARD_UNPOWER_CARD``) and return the ATR."""
        scard = _scard()
        with self._lock:
            self._require_card()
            init = scard.SCARD_UNPOWER_CARD if cold else scard.SCARD_RESET_CARD
            hr, protocol = scard.SCardReconnect(self._card, self._share(), self._protocols(), init)
            if hr != scard.SCARD_S_SUCCESS:
                raise self._error("reset", hr)
            self._set_protocol(protocol)
            self._atr = self._read_atr()
            return self._atr

    def _share(self) -> int:
        scard = _scard()
        return int(scard.SCARD_SHARE_EXCLUSIVE if self._exclusive_share else scard.SCARD_SHARE_SHARED)

    def _protocols(self) -> int:
        scard = _scard()
        return int(scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)

    def _require_card(self) -> None:
        if self._card is None:
            raise ReaderError(f"not connected to a card in {self._reader!r}", reader=self._reader)

    def _recover_from_reset(self) -> None:
        """Reconnect after ``SCARD_W_RESET_CARD`` and run the reset hooks (OpenSC ``sc_lock`` pattern)."""
        scard = _scard()
        hr, protocol = scard.SCardReconnect(self._card, self._share(), self._protocols(), scard.SCARD_LEAVE_CARD)
        if hr != scard.SCARD_S_SUCCESS:
            raise self._error("reconnect after a card reset", hr)
        self._set_protocol(protocol)
        self._atr = self._read_atr()
        self.reset_count += 1
        _log.info("card in %r was reset by another process; reconnected", self._reader)
        for hook in list(self._on_reset):
            hook()

    # --- I/O --------------------------------------------------------------------------------------------

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU unchanged and return data ‖ SW1 SW2."""
        scard = _scard()
        with self._lock:
            self._require_card()
            hr, response = scard.SCardTransmit(self._card, self._pci, list(apdu))
            if hr == scard.SCARD_S_SUCCESS:
                return bytes(response)
            if _is(hr, "SCARD_W_RESET_CARD"):
                if self._depth:
                    self._recover_from_reset()
                    self._begin()
                    raise CardResetError(
                        f"the card in {self._reader!r} was reset by another process during an exclusive "
                        "operation (SCARD_W_RESET_CARD); reconnected, restart the operation",
                        reader=self._reader,
                    )
                self._recover_from_reset()
                hr, response = scard.SCardTransmit(self._card, self._pci, list(apdu))
                if hr == scard.SCARD_S_SUCCESS:
                    return bytes(response)
            if _is(hr, *_REMOVED):
                raise self._error("transmit", hr, removed=True)
            raise self._error("transmit", hr, removed=self._card_gone())

    def _card_gone(self) -> bool:
        """After a failed transmit: wait briefly for the reader state to settle and tell whether the card left."""
        scard = _scard()
        context = self._context
        if context is None:
            return False
        hr, states = scard.SCardGetStatusChange(context, 0, [(self._reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS:
            return _is(hr, *_REMOVED)
        state = states[0][1]
        if state & scard.SCARD_STATE_PRESENT:
            # pcscd may not have polled the reader since the failure: wait for the next state change.
            current = state & ~scard.SCARD_STATE_CHANGED
            hr, states = scard.SCardGetStatusChange(context, int(self._removal_wait * 1000), [(self._reader, current)])
            if hr != scard.SCARD_S_SUCCESS:
                return False
            state = states[0][1]
        return not state & scard.SCARD_STATE_PRESENT or bool(state & scard.SCARD_STATE_MUTE)

    # --- exclusivity ------------------------------------------------------------------------------------

    def _begin(self) -> None:
        scard = _scard()
        for _ in range(_BEGIN_RETRIES):
            hr = scard.SCardBeginTransaction(self._card)
            if hr == scard.SCARD_S_SUCCESS:
                return
            if not _is(hr, "SCARD_W_RESET_CARD"):
                raise self._error("begin transaction", hr)
            self._recover_from_reset()
        raise self._error("begin transaction (card keeps being reset)", _code("SCARD_W_RESET_CARD"))

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold a PC/SC transaction (``SCardBeginTransaction``/``EndTransaction``) for one business operation.

        Re-entrant: nested blocks share the outer transaction. Connects first if needed. Keep the block short:
        Windows resets a card left idle in a transaction for 5 s (PC/SC field problems, sources.md F6.3).
        """
        with self._lock:
            if self._card is None:
                self.connect()
            if self._depth == 0:
                self._begin()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._card is not None:
                    scard = _scard()
                    hr = scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
                    if hr != scard.SCARD_S_SUCCESS:
                        _log.debug("end transaction on %r: %s", self._reader, pcsc_error_name(hr))

    # --- context manager --------------------------------------------------------------------------------

    def __enter__(self) -> PcscTransport:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        return f"PcscTransport({self._reader!r}, connected={self.connected})"
