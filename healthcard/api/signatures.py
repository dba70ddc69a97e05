"""Checking the SM2 signatures of DF03 visit records against a trust list of SAM public keys (issue #11 item 5).

Every institution's SAM has its own SM2 key. A record signed by hospital A's SAM must verify at hospital B, so a
verifier keeps a :class:`TrustList` — names and SAM public keys it trusts — and the session trusts its own SAM's
key as well (:attr:`healthcard.api.CardSession.trust_list`). :func:`check_visit` gives each record a
:class:`~healthcard.codecs.signature.RecordSignature`:

* ``UNSIGNED`` — no signature stored;
* ``INVALID`` — the record names its signer's key (healthcard.codecs.signature) and the signature does not verify
  with it: the data area, the signature or the signer item was changed;
* ``VALID`` — it verifies with a trusted key (the named one, or, for older records that name none, any of them);
* ``UNTRUSTED`` — it verifies only with a key that is not in the list, or names no key and no trusted key
  verifies it. Never ``VALID`` unless a trusted key verifies the signature over the record's data area.

The signed message is the record's HIS data area, ``e = SM3(Z_A ‖ data)`` with the signer's ``Z_A``
(GB/T 32918.2 §6.1; :func:`healthcard.api.writing.visit_digest`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from apdu.errors import DataError
from healthcard.api.sections import CardData
from healthcard.codecs import VisitRecord
from healthcard.codecs.signature import (
    SIGNATURE_SIZE,
    SIGNER_BLOCK_SIZE,
    RecordSignature,
    SignatureStatus,
    decode_signer_block,
)
from sam.crypto import CryptoError, sm2_load_public_key, sm2_verify

__all__ = ["OWN_SAM", "TrustList", "check_area", "check_card_data", "check_visit"]

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


def check_visit(record: VisitRecord, trust: TrustList) -> RecordSignature:
    """The signature status and signer of one visit record (see the module docstring)."""
    return check_area(record.to_bytes(), record.LAYOUT.data_size, trust)


def check_area(area: bytes, size: int, trust: TrustList) -> RecordSignature:
    """:func:`check_visit` on a record file's bytes: ``size`` bytes of data, then signature and signer item."""
    signature = area[size : size + SIGNATURE_SIZE]
    block = area[size + SIGNATURE_SIZE : size + SIGNATURE_SIZE + SIGNER_BLOCK_SIZE]
    if not any(signature) or signature == b"\xff" * SIGNATURE_SIZE:
        return RecordSignature(SignatureStatus.UNSIGNED)
    data = area[:size]
    named = decode_signer_block(block)
    if named is not None:
        name = trust.name_of(named)
        if not _verifies(named, data, signature):
            return RecordSignature(SignatureStatus.INVALID, "", named)
        if name is None:
            return RecordSignature(SignatureStatus.UNTRUSTED, "", named)
        return RecordSignature(SignatureStatus.VALID, name, named)
    for name, key in trust:  # an older record names no signer: any trusted key that verifies it
        if _verifies(key, data, signature):
            return RecordSignature(SignatureStatus.VALID, name, key)
    return RecordSignature(SignatureStatus.UNTRUSTED)


def check_card_data(data: CardData, trust: TrustList) -> CardData:
    """``data`` with a :class:`RecordSignature` on every valid in-patient / out-patient record."""
    changes: dict[str, object] = {}
    for name in ("inpatient", "outpatient"):
        records = getattr(data, name)
        if records is not None:
            changes[name] = tuple(
                dataclasses.replace(r, signature=check_visit(r, trust)) if r.valid else r for r in records
            )
    return dataclasses.replace(data, **changes) if changes else data  # type: ignore[arg-type]
