"""The card API end to end: the virtual card on vpcd slot 0, the virtual SAM on slot 1, both through pcscd and
PcscTransport by reader name (read + write + debit + recovery), as a HIS would use real readers."""

from __future__ import annotations

import datetime as dt

import pytest

from healthcard.api import CardSession, PreparedDebit, PurchaseResult, Section, open_pcsc_session
from healthcard.codecs import Allergy
from healthcard.virtual import demo_person, new_demo_card
from sam.virtual import VirtualSam
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc


class Journal:
    def __init__(self) -> None:
        self.entries: list[PreparedDebit | PurchaseResult] = []

    def prepared(self, prepared: PreparedDebit) -> None:
        self.entries.append(prepared)

    def debited(self, result: PurchaseResult) -> None:
        self.entries.append(result)


def test_read_write_debit_through_pcscd(vpcd: VpcdFixture) -> None:
    card, sam = new_demo_card(), VirtualSam()
    with vpcd(card, slot=0) as card_reader, vpcd(sam, slot=1) as sam_reader:
        with open_pcsc_session(card_reader, sam_reader, sam_pin="123456", purse_pin="123456") as s:
            assert isinstance(s, CardSession)
            data = s.read_all()
            assert data.holder == demo_person().holder
            assert data.purse is not None and data.purse.balance_fen == 10_000
            assert data.holder is not None
            s.write_section(Section.HOLDER, data.holder.replace(name="张伟伟"), data.holder)
            s.append_allergy(Allergy("花生", "休克"))
            journal = Journal()
            paid = s.debit(321, journal=journal, when=dt.datetime(2025, 3, 1, 12, 0))
            assert paid.balance_fen == 10_000 - 321
            assert isinstance(journal.entries[0], PreparedDebit) and journal.entries[1] == paid
            assert s.recover_purchase(journal.entries[0]) is not None
            assert s.load(1_000).balance_fen == 10_000 - 321 + 1_000
        # a second session sees what the first one wrote
        with open_pcsc_session(card_reader, sam_reader, sam_pin="123456") as s:
            again = s.read({Section.HOLDER, Section.ALLERGIES})
            assert again.holder is not None and again.holder.name == "张伟伟"
            assert again.allergies is not None and again.allergies[0] == Allergy("花生", "休克")
            assert s.balance() == 10_679
            counts = s.counts
            assert counts["card"] > 0 and counts["sam"] > 0
