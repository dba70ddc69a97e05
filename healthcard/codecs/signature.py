"""The signature part of a DF03 visit record (WS/T 543.3 DF03 items items 211/212, 383/384; 健康卡 SAM spec: commands
[INF]).

A record ends in a 64-byte SM2 signature ``r ‖ s`` over its HIS data area and a 190-byte item that names the
signer. The format of the SAM certificate the public sources put there (SAM EF001C, 健康卡 SAM spec: files) is not
public, so no verifier can take the signer's key out of it; the project writes the signer's SM2 public key there
instead, as ``04 ‖ x ‖ y`` (the uncompressed point of GB/T 32918.1 §4.2.9) padded with ``00`` to 190 bytes
(docs/decisions.md D9). Records signed before carry the SAM certificate: they name no signer.

:class:`RecordSignature` is what a verification found; the checking itself (SM2, the trust list) is
:mod:`healthcard.api.signatures`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["SIGNATURE_SIZE", "SIGNER_BLOCK_SIZE", "RecordSignature", "SignatureStatus", "decode_signer_block",
           "encode_signer_block"]  # fmt: skip

SIGNATURE_SIZE = 64
SIGNER_BLOCK_SIZE = 190
_POINT = 0x04


class SignatureStatus(enum.Enum):
    """The result of checking a visit record's signature; the value is its JSON form."""

    #: No signature stored (all ``00`` or ``FF``): a record written before records were signed, or by a writer
    #: that did not sign.
    UNSIGNED = "unsigned"
    #: The signature verifies with a key of the trust list.
    VALID = "valid"
    #: The signature verifies with the key the record names, and that key is not in the trust list; or the record
    #: names no key and no trusted key verifies it.
    UNTRUSTED = "untrusted"
    #: The record names a key and the signature does not verify with it: the data or the signature was changed.
    INVALID = "invalid"


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


def encode_signer_block(public_key: bytes) -> bytes:
    """The 190-byte signer item: ``04 ‖ x ‖ y ‖ 00…``."""
    if len(public_key) != 64:
        raise ValueError("an SM2 public key x ‖ y has 64 bytes")
    return (bytes([_POINT]) + public_key).ljust(SIGNER_BLOCK_SIZE, b"\x00")


def decode_signer_block(block: bytes) -> bytes | None:
    """The public key ``x ‖ y`` a signer item names, or ``None`` when it is not in the project's form."""
    if len(block) != SIGNER_BLOCK_SIZE or block[0] != _POINT or any(block[65:]):
        return None
    return bytes(block[1:65])
