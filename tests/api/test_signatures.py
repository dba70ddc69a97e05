"""Record signatures in the card API: the trust list of a session whose SAM has no SM2 key."""

from __future__ import annotations

from apdu.errors import FileError
from apdu.status import describe
from healthcard.api import CardSession, RecordSignature, Section, SignatureStatus, TrustList, open_virtual_session
from healthcard.codecs import InpatientRecord
from healthcard.cos.card import VirtualCard
from healthcard.image import loads
from sam.client import SamClient
from sam.crypto import sm2_load_private_key
from sam.virtual import VirtualSam


class _SamWithoutSm2(SamClient):
    """A SAM client whose SAM answers reading the SM2 public key as a SAM that has none does."""

    def sm2_public_key(self) -> bytes:
        raise FileError(0x6A82, describe(0x6A82))


def test_a_sam_without_an_sm2_key_still_reads_records_signed_elsewhere(demo_image: str) -> None:
    card, sam_a = VirtualCard(loads(demo_image)), VirtualSam()
    key_a = sm2_load_private_key(sam_a.image.sm2_private_key).public_key().to_bytes()
    with open_virtual_session(card=card, sam=sam_a) as s:
        s.add_visit(InpatientRecord(1, items={64: "北京协和医院"}))
    with open_virtual_session(card=card) as s:
        assert s.sam is not None
        sam = _SamWithoutSm2(s.sam.channel, pin="123456")
        plain = CardSession(s.card_transport, sam, trusted_signers=TrustList({"A": key_a}), disconnect=False)
        with plain:
            assert [name for name, _ in plain.trust_list] == ["A"]
            records = plain.read({Section.INPATIENT}).inpatient
            assert records is not None
            assert records[0].signature == RecordSignature(SignatureStatus.VALID, "A", key_a)
