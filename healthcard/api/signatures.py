"""Checking the SM2 signatures of DF03 visit records against a trust list of SAM public keys (issue #11 item 5).

Every institution's SAM has its own SM2 key. A record signed by hospital A's SAM must verify at hospital B, so a
verifier keeps a :class:`TrustList` — names and SAM public keys it trusts — and the session trusts its own SAM's
key as well (:attr:`healthcard.api.CardSession.trust_list`). :func:`check_visit` gives each record a
:class:`~healthcard.codecs.signature.RecordSignature`:

* ``UNSIGNED`` — no signature stored;
* ``INVALID`` — the record names its signer's key (healthcard.codecs.signature) and the signature does not verify
  with it: the data area, the signature or the signer item was changed, or the record was signed for another card
  (KH) or another slot (docs/decisions.md D14);
* ``VALID`` — it verifies with a trusted key that the record names, over the record bound to this card's KH, its
  area and its slot;
* ``UNBOUND`` — signed the old way (over the data area alone: format ``00``, or a record that names no signer)
  and verified with a trusted key: genuine data, but nothing ties it to this card or slot;
* ``UNTRUSTED`` — it verifies only with a key that is not in the list, or names no key and no trusted key
  verifies it;
* ``UNREADABLE`` — set by the reader (:func:`healthcard.api.reading.read_visit`) for bytes that do not decode;
  not checked.

Never ``VALID`` unless a trusted key verifies the signature over the bound message. The signed message is
``e = SM3(Z_A ‖ M)`` with the signer's ``Z_A`` (GB/T 32918.2 §6.1; :func:`healthcard.api.writing.visit_digest`),
M = :func:`healthcard.codecs.signature.bound_message` (or the data area for ``UNBOUND`` records).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from apdu.errors import DataError
from healthcard.api.sections import CardData
from healthcard.codecs import VisitRecord
from healthcard.codecs.df03 import AreaLayout
from healthcard.codecs.signature import (
    SIGNATURE_SIZE,
    SIGNER_BLOCK_SIZE,
    RecordSignature,
    SignatureStatus,
    bound_message,
    decode_signer_block,
    encode_signer_block,
)
from sam.crypto import CryptoError, sm2_load_public_key, sm2_verify

__all__ = [
    "OWN_SAM",
    "TrustList",
    "check_area",
    "check_card_data",
    "check_reported",
    "check_visit",
    "signature_parts",
    "stored_signature",
]

#: The trust-list name of the session's own SAM key (trusted by default).
OWN_SAM = "own SAM"


class TrustList:
    """Trusted signers: name -> SM2 public key (64 bytes ``x ‖ y``, or 65 with the ``04`` prefix; bytes or hex).

    Each key is checked to be a point of the curve; a bad entry raises :class:`DataError` naming it. A key listed
    twice keeps its first name.
    """

    def __init__(self, entries: Mapping[str, bytes | str] | None = None) -> None:
        self._by_key: dict[bytes, str] = {}
        for name, raw in (entries or {}).items():
            key = _key(name, raw)
            self._by_key.setdefault(key, str(name))

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter((name, key) for key, name in self._by_key.items())

    def __repr__(self) -> str:
        return f"TrustList({', '.join(sorted(self._by_key.values()))})"

    def name_of(self, public_key: bytes) -> str | None:
        """The name under which ``public_key`` (``x ‖ y``) is trusted, or ``None``."""
        return self._by_key.get(bytes(public_key))

    def with_key(self, name: str, public_key: bytes) -> TrustList:
        """A copy that also trusts ``public_key`` (kept under its existing name when already listed)."""
        out = TrustList()
        out._by_key = dict(self._by_key)
        out._by_key.setdefault(_key(name, public_key), name)
        return out


def _key(name: str, raw: bytes | str) -> bytes:
    try:
        data = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
        return sm2_load_public_key(data).to_bytes()
    except (ValueError, TypeError) as exc:  # CryptoError is a ValueError
        raise DataError(f"trusted signer {name!r}: not an SM2 public key (64 bytes x‖y as hex)", field=name) from exc


def _verifies(public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        return sm2_verify(sm2_load_public_key(public_key), data, signature)
    except CryptoError:  # a named "key" that is no point of the curve
        return False


def check_visit(record: VisitRecord, trust: TrustList, card_number: str) -> RecordSignature:
    """The signature status and signer of one visit record read from the card whose KH is ``card_number`` (see
    the module docstring); an unreadable record keeps its ``UNREADABLE`` status."""
    if record.is_unreadable:
        return RecordSignature(SignatureStatus.UNREADABLE)
    return check_area(record.to_bytes(), record.LAYOUT, record.slot, card_number, trust)


def check_area(area: bytes, layout: AreaLayout, slot: int, card_number: str, trust: TrustList) -> RecordSignature:
    """:func:`check_visit` on a record file's bytes (``layout``'s data area, then signature and signer item) as
    read from ``slot`` of the card with KH ``card_number``."""
    signature, block = signature_parts(area, layout)
    size = layout.data_size
    if not any(signature) or signature == b"\xff" * SIGNATURE_SIZE:
        return RecordSignature(SignatureStatus.UNSIGNED)
    data = area[:size]
    named = decode_signer_block(block)
    if named is None:  # an older record names no signer (D9): any trusted key that verifies its data area
        for name, key in trust:
            if _verifies(key, data, signature):
                return RecordSignature(SignatureStatus.UNBOUND, name, key)
        return RecordSignature(SignatureStatus.UNTRUSTED)
    key = named.public_key
    if named.bound:
        try:
            message = bound_message(card_number, layout.name, slot, data)
        except DataError:  # no KH on the card: nothing bound to a KH can be VALID here
            return RecordSignature(SignatureStatus.INVALID, "", key)
    else:
        message = data
    if not _verifies(key, message, signature):
        return RecordSignature(SignatureStatus.INVALID, "", key)
    signer = trust.name_of(key)
    if signer is None:
        return RecordSignature(SignatureStatus.UNTRUSTED, "", key)
    return RecordSignature(SignatureStatus.VALID if named.bound else SignatureStatus.UNBOUND, signer, key)


def signature_parts(area: bytes, layout: AreaLayout) -> tuple[bytes, bytes]:
    """The signature ``r ‖ s`` and the signer item stored after ``layout``'s data area in a record file's bytes."""
    size = layout.data_size
    return area[size : size + SIGNATURE_SIZE], area[size + SIGNATURE_SIZE : size + SIGNATURE_SIZE + SIGNER_BLOCK_SIZE]


def stored_signature(record: VisitRecord) -> tuple[bytes, bytes]:
    """The signature ``r ‖ s`` and the signer's key ``x ‖ y`` a record read from a card carries (``b""`` for
    either when there is none, or the signer item is not in the project's form)."""
    signature, block = signature_parts(record.raw or record.to_bytes(), record.LAYOUT)
    signer = decode_signer_block(block)
    return (signature if any(signature) else b""), (signer.public_key if signer is not None else b"")


def check_reported(
    record: VisitRecord, signature: bytes, public_key: bytes, trust: TrustList, card_number: str
) -> RecordSignature:
    """:func:`check_visit` on a record reported away from the card (e.g. uploaded to the host): its items, slot and
    kind, with the signature and signer key it says the card holds (bound format, as
    :func:`healthcard.api.writing.write_visit` stores them). Never ``VALID`` unless a trusted key verifies the
    signature over the record bound to ``card_number``, its kind and slot; a key that is not 64 bytes names no
    signer (``UNBOUND`` or ``UNTRUSTED`` at best)."""
    block = encode_signer_block(public_key) if len(public_key) == 64 else bytes(SIGNER_BLOCK_SIZE)
    area = record.to_bytes()[: record.LAYOUT.data_size] + signature.ljust(SIGNATURE_SIZE, b"\x00")[:SIGNATURE_SIZE]
    return check_area(area + block, record.LAYOUT, record.slot, card_number, trust)


def check_card_data(data: CardData, trust: TrustList, card_number: str) -> CardData:
    """``data`` with a :class:`RecordSignature` on every valid in-patient / out-patient record of the card whose
    KH is ``card_number``."""
    changes: dict[str, object] = {}
    for name in ("inpatient", "outpatient"):
        records = getattr(data, name)
        if records is not None:
            changes[name] = tuple(
                dataclasses.replace(r, signature=check_visit(r, trust, card_number))
                if r.valid and not r.is_unreadable
                else r
                for r in records
            )
    return dataclasses.replace(data, **changes) if changes else data  # type: ignore[arg-type]
