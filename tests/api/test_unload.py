"""Unload (圈提) through the card API: the whole balance paid out on the card, refusals that change nothing, the
in-doubt answer, torn unloads recovered exactly once (healthcard.api.unload; JR/T 0025.1 INITIALIZE FOR UNLOAD /
DEBIT FOR UNLOAD).

The known-answer test computes the unload key, session key, MAC1, MAC2 and answer MAC with pycryptodome from the
JR/T 0025.2 layouts (diversification: 3DES of the factor and its complement; session key: 3DES of random ‖
online counter ‖ 8000; MACs: single-DES CBC, IV 0, ``80`` padding, first 4 bytes) — not with the code under test.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from Crypto.Cipher import DES, DES3

from apdu.errors import CardError, HealthCardError, MacError
from apdu.status import SW
from healthcard.api import (
    DemoUnloadAuthoriser,
    LoadRequest,
    NoUnloadKeyError,
    SamUnloadAuthoriser,
    UnloadAnswerError,
    UnloadAuthorisation,
    UnloadJournal,
    open_virtual_session,
)
from healthcard.cos.card import VirtualCard
from healthcard.virtual import DEMO_TERMINAL_ID
from sam.virtual import VirtualSam
from tests.api.memory_journals import MemoryLoadJournal
from tests.api.tearing import torn_at

WHEN = dt.datetime(2026, 12, 4, 10, 0, 0)
START = 10_000
DEMO_UNLOAD_MASTER = bytes.fromhex("D5A3C1E7F9B20468AC13E5F7092B4D6F")  # sam/data/demo-keys.json, decisions D13


def _tdes(key: bytes, block: bytes) -> bytes:
    return DES3.new(key, DES3.MODE_ECB).encrypt(block)


def _pboc_mac(session_key: bytes, data: bytes) -> bytes:
    padded = data + b"\x80" + b"\x00" * (-(len(data) + 1) % 8)
    return DES.new(session_key, DES.MODE_CBC, iv=bytes(8)).encrypt(padded)[-8:][:4]


def _independent_session_key(factor: bytes, icc_random: bytes, counter: int) -> bytes:
    card_key = _tdes(DEMO_UNLOAD_MASTER, factor) + _tdes(DEMO_UNLOAD_MASTER, bytes(b ^ 0xFF for b in factor))
    return _tdes(card_key, icc_random + counter.to_bytes(2, "big") + b"\x80\x00")


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def test_known_answer_unload_mac2_and_answer_mac() -> None:
    """Fixed inputs: the demo unload master key, factor 00..01, random 11223344, online counter 5, 100.00 yuan of
    a 100.00 yuan balance, terminal 000000000001, 2026-12-04 10:00:00."""
    factor, rnd, counter, term, stamp = bytes(7) + b"\x01", bytes.fromhex("11223344"), 5, DEMO_TERMINAL_ID, WHEN
    bcd = bytes.fromhex("20261204100000")
    sk = _independent_session_key(factor, rnd, counter)
    assert sk.hex().upper() == "AC00A03C9DC0B859"
    mac1 = _pboc_mac(sk, _u(START, 4) + _u(START, 4) + b"\x03" + term)
    assert mac1.hex().upper() == "9989B5C2"
    request = LoadRequest(
        card_number="x", diversification_factor=factor, amount_fen=START, balance_before_fen=START,
        online_counter=counter, key_version=1, algorithm=0, icc_random=rnd, mac1=mac1, terminal_id=term, when=stamp,
        transaction_type=0x03,
    )  # fmt: skip
    answer = DemoUnloadAuthoriser.from_demo_keys()(request)
    assert answer.mac2 == _pboc_mac(sk, _u(START, 4) + b"\x03" + term + bcd) == bytes.fromhex("A7FB315C")
    assert answer.expected_answer == _pboc_mac(sk, _u(0, 4) + _u(counter, 2) + _u(START, 4) + b"\x03" + term + bcd)
    assert answer.expected_answer == bytes.fromhex("74422D95")
    with pytest.raises(MacError):  # MAC1 over another amount: no MAC2
        DemoUnloadAuthoriser.from_demo_keys()(dataclasses.replace(request, amount_fen=START - 1))


class _Recording:
    """Wraps an authoriser and keeps the request it saw (the card's MAC1, random and counter)."""

    def __init__(self, inner: Callable[[LoadRequest], UnloadAuthorisation]) -> None:
        self.inner = inner
        self.request: LoadRequest | None = None

    def __call__(self, request: LoadRequest) -> UnloadAuthorisation:
        self.request = request
        return self.inner(request)


@pytest.mark.parametrize("authoriser", ["sam", "demo"])
def test_unload_of_the_whole_balance_on_the_virtual_card(card: VirtualCard, authoriser: str) -> None:
    """The card's own MAC1, the MAC2 it accepts and its answer MAC equal the independent computation."""
    with open_virtual_session(card=card) as s:
        factor = s.purse_factor()
        inner = DemoUnloadAuthoriser.from_demo_keys() if authoriser == "demo" else None
        recording = _Recording(inner or SamUnloadAuthoriser(s._need_sam()))
        journal = MemoryLoadJournal(s)
        assert isinstance(journal, UnloadJournal)
        result = s.unload(authoriser=recording, journal=journal, when=WHEN)
        assert s.balance() == 0 == result.balance_fen
        request = recording.request
        assert request is not None and (request.amount_fen, request.balance_before_fen) == (START, START)
        sk = _independent_session_key(factor, request.icc_random, request.online_counter)
        assert request.mac1 == _pboc_mac(sk, _u(START, 4) + _u(START, 4) + b"\x03" + DEMO_TERMINAL_ID)
        bcd = bytes.fromhex("20261204100000")
        fields = _u(0, 4) + _u(request.online_counter, 2) + _u(START, 4) + b"\x03" + DEMO_TERMINAL_ID + bcd
        assert result.tac == _pboc_mac(sk, fields).hex().upper()
        assert journal.card_apdus[1] - journal.card_apdus[0] == 1  # only DEBIT FOR UNLOAD between the two
        assert journal.prepared_entry is not None and journal.result == result
        assert s.recover_unload(journal.prepared_entry) == result  # the proof gives back the same answer MAC
        records = s.purse_records()
        assert (records[0].transaction_type, records[0].amount_fen, records[0].counter) == (
            3, START, request.online_counter,
        )  # fmt: skip
        with pytest.raises(HealthCardError, match="nothing to unload"):
            s.unload(when=WHEN)  # empty purse: refused before any purse command


def test_a_part_of_the_balance_can_be_unloaded_and_more_than_the_balance_is_refused(card: VirtualCard) -> None:
    with open_virtual_session(card=card) as s:
        assert s.unload(2_500, when=WHEN).balance_fen == 7_500 == s.balance()
        with pytest.raises(CardError) as info:
            s.unload(7_501, when=WHEN)
        assert info.value.sw == SW.INSUFFICIENT_FUNDS and s.balance() == 7_500


def test_a_wrong_mac2_is_refused_and_the_card_is_unchanged(card: VirtualCard) -> None:
    journal = MemoryLoadJournal()
    with open_virtual_session(card=card) as s:
        forged = lambda request: UnloadAuthorisation(b"\x00\x00\x00\x00", None)  # noqa: E731
        with pytest.raises(MacError) as info:
            s.unload(authoriser=forged, journal=journal, when=WHEN)
        assert info.value.sw == SW.MAC_ERROR and s.balance() == START
        assert journal.prepared_entry is not None and journal.result is None
        assert s.recover_unload(journal.prepared_entry) is None  # the card never unloaded: may be tried again
        assert s.unload(when=WHEN).balance_fen == 0


def test_a_wrong_answer_mac_is_in_doubt_and_recovery_decides_from_the_card(card: VirtualCard) -> None:
    journal = MemoryLoadJournal()
    with open_virtual_session(card=card) as s:
        real = DemoUnloadAuthoriser.from_demo_keys()
        lying = lambda request: UnloadAuthorisation(real(request).mac2, b"\x01\x02\x03\x04")  # noqa: E731
        with pytest.raises(UnloadAnswerError, match="in doubt"):
            s.unload(authoriser=lying, journal=journal, when=WHEN)
        assert journal.result is None and journal.prepared_entry is not None  # the entry stays prepared
        recovered = s.recover_unload(journal.prepared_entry)
        assert recovered is not None and recovered.balance_fen == 0 == s.balance()


def test_a_card_issued_without_an_unload_key_gets_a_clear_error_and_keeps_its_balance(card: VirtualCard) -> None:
    state = copy.deepcopy(card.state)
    del state.mf.children[0x1001].key_file.keys[(0x3D, 0x01)]  # type: ignore[union-attr]  # as issued before D13
    old = VirtualCard(state)
    journal = MemoryLoadJournal()
    with open_virtual_session(card=old) as s:
        with pytest.raises(NoUnloadKeyError) as info:
            s.unload(journal=journal, when=WHEN)
        assert info.value.sw == SW.KEY_INDEX_UNSUPPORTED
        assert "no unload key" in str(info.value) and "无卡注销" in str(info.value)
        assert journal.prepared_entry is None and s.balance() == START


def test_a_sam_without_the_unload_key_refuses(card: VirtualCard) -> None:
    sam = VirtualSam()
    keys = [k for k in sam.image.keys if k.name != "unload"]
    sam.image.keys = type(sam.image.keys)(keys, sam_pin=sam.image.keys.sam_pin, terminal_id=sam.image.terminal_id)
    with open_virtual_session(card=card, sam=sam) as s:
        with pytest.raises(CardError) as info:
            s.unload(when=WHEN)
        assert info.value.sw == SW.KEY_INDEX_UNSUPPORTED and s.balance() == START


def test_unload_torn_at_every_point_is_recovered_exactly_once(new_card: Callable[[], VirtualCard]) -> None:
    """Tear the card's power at every tear point of an unload, then recover from the journal: the balance goes
    down by the amount exactly once — never twice, never silently."""
    amount = 1_200
    with open_virtual_session(card=new_card(), sam=VirtualSam()) as s:
        reference = s.unload(amount, when=WHEN)
    outcomes: set[str] = set()
    point = 0
    while True:
        point += 1
        card, sam = new_card(), VirtualSam()
        journal = MemoryLoadJournal()
        if not torn_at(point, card, sam, lambda s: s.unload(amount, journal=journal, when=WHEN)):  # noqa: B023 - runs at once
            assert journal.result is not None and dataclasses.replace(journal.result, tac=reference.tac) == reference
            break
        card.power_on()
        with open_virtual_session(card=card, sam=sam) as s:
            balance = s.balance()
            if journal.prepared_entry is None:
                outcomes.add("not prepared")
                assert balance == START
                continue
            recovered = s.recover_unload(journal.prepared_entry)
            if recovered is None:
                outcomes.add("not unloaded")
                assert balance == START
                assert s.unload(amount, when=WHEN).balance_fen == START - amount == s.balance()  # safe to retry
            else:
                outcomes.add("unloaded")
                assert balance == START - amount == recovered.balance_fen and len(recovered.tac) == 8
                # the answer MAC depends on the card's random; everything else is the untorn unload's
                assert dataclasses.replace(recovered, tac=reference.tac) == reference
                assert s.recover_unload(journal.prepared_entry) == recovered and s.balance() == START - amount
    assert point > 5
    assert outcomes == {"not prepared", "not unloaded", "unloaded"}
