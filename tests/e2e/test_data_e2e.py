"""Partial writes and signed visit records through pcscd + vpcd (issue #11 items 4 and 5): the virtual card on
slot 0, one institution's SAM on slot 1, then another institution's SAM in the same slot, as real readers."""

from __future__ import annotations

import pytest

from healthcard.api import RecordSignature, Section, SignatureStatus, open_pcsc_session
from healthcard.codecs import InpatientRecord
from healthcard.virtual import new_demo_card
from sam.crypto import sm2_load_private_key
from sam.virtual import VirtualSam
from tests.e2e.conftest import VpcdFixture

pytestmark = pytest.mark.pcsc


def test_partial_write_and_a_record_signed_at_a_verified_at_b(vpcd: VpcdFixture) -> None:
    card, sam_a, sam_b = new_demo_card(), VirtualSam(), VirtualSam()
    key_a = sm2_load_private_key(sam_a.image.sm2_private_key).public_key().to_bytes()
    with vpcd(card, slot=0) as card_reader:
        with vpcd(sam_a, slot=1) as sam_reader, open_pcsc_session(card_reader, sam_reader, sam_pin="123456") as s:
            before = s.read({Section.VALIDITY}).validity
            assert before is not None and before.expiry_date is not None and before.phone1
            s.update({"validity": {"phone2": "010-88886666"}})
            assert s.read({Section.VALIDITY}).validity == before.replace(phone2="010-88886666")
            slot = s.add_visit(InpatientRecord(1, items={64: "北京协和医院", 66: "20250301"}))
        for trusted, expected in (({"医院A": key_a}, RecordSignature(SignatureStatus.VALID, "医院A", key_a)),
                                  (None, RecordSignature(SignatureStatus.UNTRUSTED, "", key_a))):  # fmt: skip
            with (
                vpcd(sam_b, slot=1) as sam_reader,
                open_pcsc_session(card_reader, sam_reader, sam_pin="123456", trusted_signers=trusted) as s,
            ):
                records = s.read({Section.INPATIENT}).inpatient
                assert records is not None and records[slot - 1].signature == expected
