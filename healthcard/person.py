"""The card holder: everything needed to personalise a resident health card for one person.

Groups the typed file contents of :mod:`healthcard.codecs` (WS/T 543.3 record layouts): identity (DDF1/EF06), phones,
payment methods and card expiry (DDF1/EF08), addresses, contacts, occupation/marriage and documents (DF01),
clinical data, special information, allergies and immunisations (DF02), the photo (DDF1/EF07, ≤ 3072 bytes
including its 2-byte length, WS/T 543.3 photo) and optional visit records (DF03). Loadable from JSON
(``examples/persons/*.json``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from apdu.errors import DataError
from apdu.files import read_json
from healthcard.codecs import (
    Addresses,
    Allergy,
    ClinicalFlags,
    Contacts,
    Documents,
    Holder,
    Immunisation,
    InpatientRecord,
    OccupationMarriage,
    OutpatientRecord,
    SpecialInfo,
    TlvFile,
    Validity,
)

__all__ = ["MAX_ALLERGIES", "MAX_IMMUNISATIONS", "MAX_PHOTO_FILE", "Person", "load_person"]

MAX_PHOTO_FILE = 3072
MAX_ALLERGIES = 3
MAX_IMMUNISATIONS = 10

_SECTIONS: dict[str, type[TlvFile]] = {
    "holder": Holder,
    "validity": Validity,
    "addresses": Addresses,
    "contacts": Contacts,
    "occupation_marriage": OccupationMarriage,
    "documents": Documents,
    "clinical": ClinicalFlags,
    "special": SpecialInfo,
}


@dataclass(frozen=True)
class Person:
    """A validated person record. Allergies and immunisations are listed oldest first."""

    holder: Holder
    validity: Validity = field(default_factory=Validity)
    addresses: Addresses = field(default_factory=Addresses)
    contacts: Contacts = field(default_factory=Contacts)
    occupation_marriage: OccupationMarriage = field(default_factory=OccupationMarriage)
    documents: Documents = field(default_factory=Documents)
    clinical: ClinicalFlags = field(default_factory=ClinicalFlags)
    special: SpecialInfo = field(default_factory=SpecialInfo)
    allergies: tuple[Allergy, ...] = ()
    immunisations: tuple[Immunisation, ...] = ()
    photo: bytes | None = None
    inpatient: tuple[InpatientRecord, ...] = ()
    outpatient: tuple[OutpatientRecord, ...] = ()

    def __post_init__(self) -> None:
        if len(self.allergies) > MAX_ALLERGIES:
            raise DataError(f"at most {MAX_ALLERGIES} allergies fit DF02/EF07", field="GMWZMC")
        if len(self.immunisations) > MAX_IMMUNISATIONS:
            raise DataError(f"at most {MAX_IMMUNISATIONS} immunisations fit DF02/EF08", field="MYJZMC")
        if self.photo is not None and len(self.photo) + 2 > MAX_PHOTO_FILE:
            raise DataError(
                f"photo of {len(self.photo)} bytes: with its 2-byte length it exceeds {MAX_PHOTO_FILE} bytes",
                field="ZHAOPIAN",
            )
        for records, name in ((self.inpatient, "EE"), (self.outpatient, "ED")):
            slots = [r.slot for r in records]
            if len(set(slots)) != len(slots):
                raise DataError(f"{name}: two visit records use the same slot", field="slot")
        self.card_number  # noqa: B018 - validates that a card number can be derived

    @property
    def card_number(self) -> str:
        """KH: the ID number, or the document number (WS/T 543.3 DDF1/EF05: "与居民身份证号或者证件号码一致")."""
        number = self.holder.id_number or self.documents.document_number
        if not number:
            raise DataError("KH: the card number needs an ID number (SFZH) or a document number (ZJHM)", field="KH")
        return number

    @property
    def photo_file(self) -> bytes | None:
        """DDF1/EF07 content: 2-byte big-endian length ‖ image (WS/T 543.3 photo)."""
        if self.photo is None:
            return None
        return len(self.photo).to_bytes(2, "big") + self.photo

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly dict (section names as in :data:`_SECTIONS`, photo as base64)."""
        out: dict[str, Any] = {}
        for name in _SECTIONS:
            section = getattr(self, name).to_json()
            if section:
                out[name] = section
        if self.allergies:
            out["allergies"] = [a.to_json() for a in self.allergies]
        if self.immunisations:
            out["immunisations"] = [i.to_json() for i in self.immunisations]
        if self.photo is not None:
            out["photo_base64"] = base64.b64encode(self.photo).decode("ascii")
        if self.inpatient:
            out["inpatient"] = [r.to_json() for r in self.inpatient]
        if self.outpatient:
            out["outpatient"] = [r.to_json() for r in self.outpatient]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse and validate; unknown keys raise :class:`DataError`."""
        known = set(_SECTIONS) | {"allergies", "immunisations", "photo_base64", "inpatient", "outpatient", "comment"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"person: unknown section(s) {', '.join(unknown)}", field=unknown[0])
        if "holder" not in data:
            raise DataError("person: the holder section is required", field="XM")
        kwargs: dict[str, Any] = {name: kind.from_json(data[name]) for name, kind in _SECTIONS.items() if name in data}
        kwargs["allergies"] = tuple(Allergy.from_json(a) for a in data.get("allergies", ()))
        kwargs["immunisations"] = tuple(Immunisation.from_json(i) for i in data.get("immunisations", ()))
        kwargs["inpatient"] = tuple(InpatientRecord.from_json(r) for r in data.get("inpatient", ()))
        kwargs["outpatient"] = tuple(OutpatientRecord.from_json(r) for r in data.get("outpatient", ()))
        if data.get("photo_base64") is not None:
            try:
                kwargs["photo"] = base64.b64decode(str(data["photo_base64"]), validate=True)
            except binascii.Error as exc:
                raise DataError("photo_base64 is not valid base64", field="ZHAOPIAN") from exc
        return cls(**kwargs)


def load_person(path: str | Path) -> Person:
    """Load a person record from a JSON file (UTF-8)."""
    data = read_json(path, lambda message: DataError(message, field="person"))
    if not isinstance(data, dict):
        raise DataError(f"{path}: a JSON object is expected", field="person")
    return Person.from_json(data)
