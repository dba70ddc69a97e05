"""Unload (圈提) through the card API end to end: the virtual card on vpcd slot 0, the virtual SAM on slot 1, both
through pcscd and PcscTransport (healthcard.api.unload; JR/T 0025.1 INITIALIZE FOR UNLOAD / DEBIT FOR UNLOAD)."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu.errors import MacError
from healthcard.api import DemoUnloadAuthoriser, PreparedLoad, UnloadAuthorisation, open_pcsc_session
from healthcard.api.purse import LoadResult
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc

WHEN = dt.datetime(2026, 12, 4, 10, 0, 0)


class Journal:
    def __init__(self) -> None:
        self.entries: list[PreparedLoad | LoadResult] = []

    def prepared(self, prepared: PreparedLoad) -> None:
        self.entries.append(prepared)

    def unloaded(self, result: LoadResult) -> None:
        self.entries.append(result)


def test_unload_part_then_the_whole_balance_through_pcscd(vpcd: VpcdFixture) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(card, slot=0) as card_reader, vpcd(sam, slot=1) as sam_reader:
        with open_pcsc_session(card_reader, sam_reader, sam_pin="123456", purse_pin="123456") as s:
            assert s.unload(2_500, when=WHEN).balance_fen == 7_500  # MAC2 and the answer MAC from the SAM (80 7C)
            forged = lambda request: UnloadAuthorisation(bytes(4), None)  # noqa: E731
            with pytest.raises(MacError):  # 9302 from the card: nothing changed
                s.unload(authoriser=forged, when=WHEN)
            assert s.balance() == 7_500
            journal = Journal()
            whole = s.unload(authoriser=DemoUnloadAuthoriser.from_demo_keys(), journal=journal, when=WHEN)
            assert whole.balance_fen == 0 and len(whole.tac) == 8
            prepared = journal.entries[0]
            assert isinstance(prepared, PreparedLoad) and journal.entries[1] == whole
            assert (prepared.amount_fen, prepared.balance_before_fen) == (7_500, 7_500)
            assert s.recover_unload(prepared) == whole  # GET TRANSACTION PROVE type 03 gives the same answer MAC
            assert [(r.transaction_type, r.amount_fen) for r in s.purse_records()[:2]] == [(3, 7_500), (3, 2_500)]
        with open_pcsc_session(card_reader, sam_reader, sam_pin="123456") as s:
            assert s.balance() == 0  # a second session sees the card emptied
