"""PcscTransport error mapping, reset recovery and exclusivity against a scripted ``smartcard.scard`` double.

The real stack (pcscd + vpcd) is exercised in tests/e2e/test_apdu_e2e.py; this file covers the paths a live
pcscd cannot produce on demand: a reset in the middle of a transaction, the service going away, pyscard
missing (PC/SC field problems, sources.md F6.1, PC/SC field problems, sources.md F6.3, PC/SC field problems, sources.md
F6.6).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import apdu.pcsc as pcsc
from apdu.errors import Layer, ReaderError
from apdu.pcsc import CardResetError, PcscTransport, pcsc_error_name

OK = 0
RESET = 0x80100068
REMOVED = 0x80100069
NO_SMARTCARD = 0x8010000C
NO_SERVICE = 0x8010001D
UNKNOWN_READER = 0x80100009
NOT_TRANSACTED = 0x80100016
PRESENT = 0x20


class FakeScard(ModuleType):
    """Just enough of pyscard's ``smartcard.scard`` for PcscTransport, with scriptable failures."""

    SCARD_S_SUCCESS = OK
    SCARD_W_RESET_CARD = RESET
    SCARD_W_REMOVED_CARD = REMOVED
    SCARD_E_NO_SMARTCARD = NO_SMARTCARD
    SCARD_E_NO_SERVICE = NO_SERVICE
    SCARD_E_UNKNOWN_READER = UNKNOWN_READER
    SCARD_E_NOT_TRANSACTED = NOT_TRANSACTED
    SCARD_SCOPE_USER = 0
    SCARD_SHARE_SHARED = 2
    SCARD_SHARE_EXCLUSIVE = 1
    SCARD_PROTOCOL_T0 = 1
    SCARD_PROTOCOL_T1 = 2
    SCARD_PCI_T0 = "pci-t0"
    SCARD_PCI_T1 = "pci-t1"
    SCARD_LEAVE_CARD = 0
    SCARD_RESET_CARD = 1
    SCARD_UNPOWER_CARD = 2
    SCARD_STATE_UNAWARE = 0
    SCARD_STATE_CHANGED = 2
    SCARD_STATE_EMPTY = 0x10
    SCARD_STATE_PRESENT = PRESENT
    SCARD_STATE_MUTE = 0x200

    def __init__(self) -> None:
        super().__init__("smartcard.scard")
        self.calls: list[str] = []
        self.transmit_results: list[tuple[int, list[int]]] = []
        self.begin_results: list[int] = []
        self.connect_result = OK
        self.context_result = OK
        self.state = PRESENT
        self.contexts = 0
        self.reconnects: list[int] = []

    def SCardEstablishContext(self, scope: int) -> tuple[int, Any]:
        self.calls.append("establish")
        self.contexts += 1
        return self.context_result, f"ctx{self.contexts}"

    def SCardReleaseContext(self, context: Any) -> int:
        self.calls.append("release")
        return OK

    def SCardListReaders(self, context: Any, groups: list[str]) -> tuple[int, list[str]]:
        return OK, ["Fake 00 00"]

    def SCardConnect(self, context: Any, reader: str, share: int, protocols: int) -> tuple[int, Any, int]:
        self.calls.append("connect")
        return self.connect_result, "card", self.SCARD_PROTOCOL_T1

    def SCardStatus(self, card: Any) -> tuple[int, str, int, int, list[int]]:
        return OK, "Fake 00 00", PRESENT, 2, [0x3B, 0x00]

    def SCardReconnect(self, card: Any, share: int, protocols: int, init: int) -> tuple[int, int]:
        self.calls.append("reconnect")
        self.reconnects.append(init)
        return OK, self.SCARD_PROTOCOL_T0

    def SCardDisconnect(self, card: Any, disposition: int) -> int:
        self.calls.append("disconnect")
        return OK

    def SCardTransmit(self, card: Any, pci: Any, apdu: list[int]) -> tuple[int, list[int]]:
        self.calls.append(f"transmit {bytes(apdu).hex()}")
        if self.transmit_results:
            return self.transmit_results.pop(0)
        return OK, [0x90, 0x00]

    def SCardBeginTransaction(self, card: Any) -> int:
        self.calls.append("begin")
        return self.begin_results.pop(0) if self.begin_results else OK

    def SCardEndTransaction(self, card: Any, disposition: int) -> int:
        self.calls.append("end")
        return OK

    def SCardGetStatusChange(self, context: Any, timeout: int, states: list[Any]) -> tuple[int, list[Any]]:
        return OK, [(states[0][0], self.state, [])]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeScard]:
    module = FakeScard()
    monkeypatch.setattr(pcsc, "_scard_module", module)
    monkeypatch.setattr(pcsc, "_names", {})
    for name in dir(FakeScard):
        if name.startswith(("SCARD_E_", "SCARD_W_")):
            pcsc._names.setdefault(getattr(module, name), name)
    yield module


def test_pyscard_missing_is_a_reader_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcsc, "_scard_module", None)
    monkeypatch.setitem(sys.modules, "smartcard", None)
    with pytest.raises(ReaderError) as info:
        PcscTransport("Any 00 00").connect()
    assert info.value.layer is Layer.READER
    assert "pyscard is not installed" in str(info.value) and "libpcsclite-dev" in str(info.value)


def test_error_names(fake: FakeScard) -> None:
    assert pcsc_error_name(REMOVED) == "SCARD_W_REMOVED_CARD"
    assert pcsc_error_name(REMOVED - (1 << 32)) == "SCARD_W_REMOVED_CARD"  # negative hresult form
    assert pcsc_error_name(0x8010FFFF) == "0x8010FFFF"


def test_transmit_passes_bytes_through(fake: FakeScard) -> None:
    fake.transmit_results = [(OK, [0x61, 0x10])]
    with PcscTransport("Fake 00 00") as t:
        assert t.atr == b"\x3b\x00" and t.protocol == "T=1"
        assert t.transmit(b"\x80\xfa\x00\x00") == b"\x61\x10"  # 61xx is the channel's business
    assert fake.calls[-2:] == ["disconnect", "release"]


@pytest.mark.parametrize("code", [REMOVED, NO_SMARTCARD])
def test_removed_card(fake: FakeScard, code: int) -> None:
    fake.transmit_results = [(code, [])]
    t = PcscTransport("Fake 00 00")
    t.connect()
    with pytest.raises(ReaderError) as info:
        t.transmit(b"\x00\xa4\x00\x00")
    assert info.value.removed and info.value.reader == "Fake 00 00"
    assert pcsc_error_name(code) in str(info.value)
    assert not t.connected


def test_failed_transmit_checks_whether_the_card_left(fake: FakeScard) -> None:
    fake.transmit_results = [(NOT_TRANSACTED, []), (NOT_TRANSACTED, [])]
    t = PcscTransport("Fake 00 00", removal_wait=0.0)
    t.connect()
    fake.state = 0x10  # empty
    with pytest.raises(ReaderError) as gone:
        t.transmit(b"\x00\xa4\x00\x00")
    assert gone.value.removed and "SCARD_E_NOT_TRANSACTED" in str(gone.value)
    t.connect()
    fake.state = PRESENT
    with pytest.raises(ReaderError) as still_there:
        t.transmit(b"\x00\xa4\x00\x00")
    assert not still_there.value.removed


def test_no_service_drops_the_context_and_connect_recovers(fake: FakeScard) -> None:
    t = PcscTransport("Fake 00 00")
    t.connect()
    fake.transmit_results = [(NO_SERVICE, [])]
    with pytest.raises(ReaderError, match="SCARD_E_NO_SERVICE"):
        t.transmit(b"\x00\xa4\x00\x00")
    assert not t.connected
    t.connect()
    assert fake.contexts == 2  # a fresh context after the service came back (PC/SC field problems, sources.md F6.1)


def test_service_down_at_connect(fake: FakeScard) -> None:
    fake.context_result = NO_SERVICE
    with pytest.raises(ReaderError, match="is pcscd running"):
        PcscTransport("Fake 00 00").connect()


def test_unknown_reader(fake: FakeScard) -> None:
    fake.connect_result = UNKNOWN_READER
    with pytest.raises(ReaderError) as info:
        PcscTransport("Gone 00 00").connect()
    assert "SCARD_E_UNKNOWN_READER" in str(info.value) and not info.value.removed


def test_reset_outside_a_transaction_reconnects_runs_hooks_and_resends(fake: FakeScard) -> None:
    hooks: list[int] = []
    t = PcscTransport("Fake 00 00", on_reset=lambda: hooks.append(1))
    t.connect()
    fake.transmit_results = [(RESET, []), (OK, [0x90, 0x00])]
    assert t.transmit(b"\x00\xa4\x00\x00") == b"\x90\x00"
    assert hooks == [1] and t.reset_count == 1
    assert fake.reconnects == [fake.SCARD_LEAVE_CARD]
    assert [c for c in fake.calls if c.startswith("transmit")] == ["transmit 00a40000"] * 2
    assert t.protocol == "T=0"  # the protocol negotiated at reconnect is used from now on


def test_reset_inside_a_transaction_raises_card_reset_error(fake: FakeScard) -> None:
    hooks: list[str] = []
    t = PcscTransport("Fake 00 00")
    t.add_reset_hook(lambda: hooks.append("reselect"))
    t.connect()
    fake.transmit_results = [(RESET, [])]
    with t.exclusive():
        with pytest.raises(CardResetError) as info:
            t.transmit(b"\x00\xb0\x00\x00\x10")
        assert isinstance(info.value, ReaderError) and info.value.layer is Layer.READER
        assert hooks == ["reselect"]
        # the transaction was re-begun after the reconnect, so the operation can restart inside it
        assert fake.calls[-3:] == ["transmit 00b0000010", "reconnect", "begin"]
        assert t.transmit(b"\x00\xb0\x00\x00\x10") == b"\x90\x00"
    # only one transmit of the failed APDU: nothing was re-sent behind the caller's back
    assert [c for c in fake.calls if c == "transmit 00b0000010"] == ["transmit 00b0000010"] * 2


def test_begin_retries_after_reset(fake: FakeScard) -> None:
    hooks: list[int] = []
    t = PcscTransport("Fake 00 00", on_reset=lambda: hooks.append(1))
    t.connect()
    fake.begin_results = [RESET, RESET, OK]
    with t.exclusive():
        pass
    assert hooks == [1, 1] and fake.calls.count("begin") == 3


def test_begin_gives_up_after_five_resets(fake: FakeScard) -> None:
    t = PcscTransport("Fake 00 00")
    t.connect()
    fake.begin_results = [RESET] * 5
    with pytest.raises(ReaderError, match="keeps being reset"), t.exclusive():
        pass


def test_exclusive_is_reentrant_and_connects(fake: FakeScard) -> None:
    t = PcscTransport("Fake 00 00")
    with t.exclusive():
        with t.exclusive():
            t.transmit(b"\x00\xa4\x00\x00")
        assert fake.calls.count("end") == 0
    assert fake.calls.count("begin") == 1 and fake.calls.count("end") == 1
    assert fake.calls[0:2] == ["establish", "connect"]


def test_reset_and_cold_reset(fake: FakeScard) -> None:
    t = PcscTransport("Fake 00 00")
    t.connect()
    assert t.reset() == b"\x3b\x00"
    assert t.reset(cold=True) == b"\x3b\x00"
    assert fake.reconnects == [fake.SCARD_RESET_CARD, fake.SCARD_UNPOWER_CARD]


def test_not_connected(fake: FakeScard) -> None:
    t = PcscTransport("Fake 00 00")
    with pytest.raises(ReaderError, match="not connected"):
        t.transmit(b"\x00\xa4\x00\x00")
    with pytest.raises(ReaderError, match="not connected"):
        _ = t.atr
    t.disconnect()  # harmless
    assert repr(t) == "PcscTransport('Fake 00 00', connected=False)"


def test_list_readers(fake: FakeScard) -> None:
    assert pcsc.list_readers() == ["Fake 00 00"]
