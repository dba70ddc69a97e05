"""The signature part of a DF03 visit record (WS/T 543.3 DF03 items items 211/212, 383/384; 健康卡 SAM spec: commands
[INF]).

A record ends in a 64-byte SM2 signature ``r ‖ s`` and a 190-byte item that names the signer. The format of the
SAM certificate the public sources put there (SAM EF001C, 健康卡 SAM spec: files) is not public, so no verifier can
take the signer's key out of it; the project writes the signer's SM2 public key there instead, as ``04 ‖ x ‖ y``
(the uncompressed point of GB/T 32918.1 §4.2.9), then one format byte, padded with ``00`` to 190 bytes
(docs/decisions.md D9, D14):

* format ``01`` (:data:`BOUND`) — the signature covers :func:`bound_message`: a domain tag, the card number (KH),
  the area (``EE`` / ``ED``) and the slot before the data area, so the record verifies only in its own slot of a
  card with its own KH (docs/decisions.md D14);
* format ``00`` — records signed before D14: the data area alone (they read ``UNBOUND``).

Records signed before D9 carry the SAM certificate: they name no signer (and are not bound either).

:class:`RecordSignature` is what a verification found; the checking itself (SM2, the trust list) is
:mod:`healthcard.api.signatures`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from apdu.errors import DataError

__all__ = ["BOUND", "BOUND_TAG", "SIGNATURE_SIZE", "SIGNER_BLOCK_SIZE", "UNBOUND", "RecordSignature",
           "SignatureStatus", "SignerItem", "bound_message", "decode_signer_block", "encode_signer_block"]  # fmt: skip

SIGNATURE_SIZE = 64
SIGNER_BLOCK_SIZE = 190
_POINT = 0x04
#: The format byte after the public key in the signer item: ``00`` data area only, ``01`` bound (D14).
UNBOUND, BOUND = 0x00, 0x01
#: The domain tag that starts every bound message: a signature over it is no signature over anything else the
#: project's SAMs sign (docs/decisions.md D14).
BOUND_TAG = b"healthcard/DF03-visit-record/v1\x00"


class SignatureStatus(enum.Enum):
    """The result of checking a visit record's signature; the value is its JSON form."""

    #: No signature stored (all ``00`` or ``FF``): a record written before records were signed, or by a writer
    #: that did not sign.
    UNSIGNED = "unsigned"
    #: The signature verifies with a key of the trust list over the record bound to this card's KH and this slot.
    VALID = "valid"
    #: The signature verifies with the key the record names, and that key is not in the trust list; or the record
    #: names no key and no trusted key verifies it.
    UNTRUSTED = "untrusted"
    #: The record names a key and the signature does not verify with it: the data, the signature, the signer item,
    #: the card number or the slot is not what was signed (a record moved to another card or slot reads INVALID).
    INVALID = "invalid"
    #: Signed the old way (before D14: over the data area only) and verified with a trusted key: the data is what
    #: the signer wrote, but nothing says it was written onto this card or into this slot. Never VALID.
    UNBOUND = "unbound"
    #: The slot's bytes do not decode as a record (a torn write, another vendor's layout, a bit flip): the record
    #: carries its raw bytes (:attr:`healthcard.codecs.VisitRecord.raw`) and no items; its signature is not checked.
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class RecordSignature:
    """A visit record's signature status, the trust-list name of its signer (``""`` if not trusted) and the
    signer's public key ``x ‖ y`` (``b""`` if unknown)."""

    status: SignatureStatus
    signer: str = ""
    signer_key: bytes = b""

    def to_json(self) -> dict[str, Any]:
        """``{"status", "signer", "signer_key"}`` (key as upper-case hex)."""
        return {"status": self.status.value, "signer": self.signer, "signer_key": self.signer_key.hex().upper()}


@dataclass(frozen=True)
class SignerItem:
    """What a signer item in the project's form says: the signer's key ``x ‖ y`` and whether the signature is
    bound to the card and slot (format ``01``)."""

    public_key: bytes
    bound: bool


def encode_signer_block(public_key: bytes, *, bound: bool = True) -> bytes:
    """The 190-byte signer item: ``04 ‖ x ‖ y ‖ format ‖ 00…`` (format ``01`` bound, ``00`` data area only)."""
    if len(public_key) != 64:
        raise ValueError("an SM2 public key x ‖ y has 64 bytes")
    return (bytes([_POINT]) + public_key + bytes([BOUND if bound else UNBOUND])).ljust(SIGNER_BLOCK_SIZE, b"\x00")


def decode_signer_block(block: bytes) -> SignerItem | None:
    """The signer a signer item names, or ``None`` when it is not in the project's form (a SAM certificate, an
    unknown format byte, padding that is not ``00``)."""
    if len(block) != SIGNER_BLOCK_SIZE or block[0] != _POINT or block[65] not in (UNBOUND, BOUND) or any(block[66:]):
        return None
    return SignerItem(bytes(block[1:65]), block[65] == BOUND)


def bound_message(card_number: str, area: str, slot: int, data_area: bytes) -> bytes:
    """The message a bound signature covers: ``BOUND_TAG ‖ len(KH) ‖ KH ‖ area ‖ slot ‖ data area``.

    ``KH`` is the card number (DDF1/EF05 tag 08, WS/T 543.3) in UTF-8 (ASCII for the usual KH) after its one-byte
    length, ``area`` the two letters ``EE`` (in-patient) or ``ED`` (out-patient), ``slot`` one byte; every part
    before the data area has a fixed or stated length, so no two (KH, area, slot, data) give the same message
    (docs/decisions.md D14).
    """
    kh = card_number.encode("utf-8")
    if not kh or len(kh) > 255:
        raise DataError("a visit record is bound to the card's number (KH), and this card has none",
                        field="card_number")  # fmt: skip
    if area not in ("EE", "ED") or not 0 < slot < 256:
        raise DataError(f"no DF03 area {area!r} slot {slot}", field="slot")
    return BOUND_TAG + bytes([len(kh)]) + kh + area.encode("ascii") + bytes([slot]) + data_area
