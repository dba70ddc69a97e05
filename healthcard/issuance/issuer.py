"""Issuer configuration (``healthcard/data/issuer.json``, linked as ``examples/issuer.json``): DDF1/EF05 issuer
data, card validity, purse settings."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from apdu.errors import DataError
from healthcard.codecs.encoding import encode_cn, parse_date

__all__ = ["IssuerConfig", "load_issuer"]


def _hex(value: Any, size: int | None, name: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError as exc:
        raise DataError(f"{name}: not a hex string", field=name) from exc
    if size is not None and len(raw) != size:
        raise DataError(f"{name}: {len(raw)} bytes, {size} required", field=name)
    return raw


@dataclass(frozen=True)
class IssuerConfig:
    """Everything the issuer decides per card batch (not per person)."""

    issuer_name: str
    issuer_code: str
    city_code: str
    card_type: str = "1"
    spec_version: str = "1.00"
    issuer_certificate: bytes | None = None
    validity_years: int = 10
    purse_issuer_id: bytes = bytes(8)
    purse_serial_prefix: bytes = b"\x00\x01"
    purse_pin: str = "123456"
    purse_validity_years: int = 10
    issue_date: _dt.date | None = None

    def __post_init__(self) -> None:
        encode_cn(self.issuer_code, 11, field="FKJGDM")
        if len(self.city_code) != 6 or not self.city_code.isdigit():
            raise DataError("YYCSDM: 6 digits required", field="YYCSDM")
        if len(self.purse_serial_prefix) != 2 or len(self.purse_issuer_id) != 8:
            raise DataError("purse serial prefix is 2 bytes and issuer id 8 bytes", field="purse")
        if not (self.purse_pin.isdigit() and 4 <= len(self.purse_pin) <= 12 and len(self.purse_pin) % 2 == 0):
            raise DataError("purse PIN: an even number (4..12) of digits", field="PIN")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse an issuer configuration document (``healthcard/data/issuer.json`` is the demo one)."""
        cert = data.get("issuer_certificate")
        date = data.get("issue_date")
        return cls(
            issuer_name=str(data["issuer_name"]),
            issuer_code=str(data["issuer_code"]),
            city_code=str(data["city_code"]),
            card_type=str(data.get("card_type", "1")),
            spec_version=str(data.get("spec_version", "1.00")),
            issuer_certificate=None if cert is None else _hex(cert, None, "FKJGZS"),
            validity_years=int(data.get("validity_years", 10)),
            purse_issuer_id=_hex(data.get("purse_issuer_id", "00" * 8), 8, "purse_issuer_id"),
            purse_serial_prefix=_hex(data.get("purse_serial_prefix", "0001"), 2, "purse_serial_prefix"),
            purse_pin=str(data.get("purse_pin", "123456")),
            purse_validity_years=int(data.get("purse_validity_years", 10)),
            issue_date=None if date is None else parse_date(str(date), field="FKSJ"),
        )


def load_issuer(path: str | Path) -> IssuerConfig:
    """Load an issuer configuration file."""
    return IssuerConfig.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
