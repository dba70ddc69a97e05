"""What the card API needs from a SAM: the terminal-side operations, each one or a few SAM APDUs.

:class:`SamPort` is the narrow interface the reading, writing, purse and life-cycle modules call; the session
adapts :class:`sam.client.SamClient` (a SAM over a :class:`~apdu.channel.Channel`: the in-process
``VirtualSam``, a SAM behind vpcd, or a real SAM) to it. Keeping the interface small keeps the business modules
independent of how the SAM is reached.

Operations and their sources:

* health-card authentication cryptogram: ``80 DE P1 P2 | cardNo ‖ [city] ‖ challenge`` then ``80 FA 00 00 10``
  (health-card.md §6.1);
* health-card secure-messaging write: ``80 DE`` with the STK, ``80 FA 00`` encrypt, ``80 FA 05`` MAC
  (health-card.md §6.2);
* PSAM purchase: EF16 terminal number, ``80 70`` MAC1, ``80 72`` MAC2 check (pboc-purse.md §4, §5.2);
* FMCOS line-protection MAC for block commands (pboc-purse.md §5.1 example, §10);
* SAM PIN verify/change, SM3 digest and SM2 signature (health-card.md §7.2, §9.3).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apdu.command import Command

__all__ = ["PurchaseMac1", "SamPort"]


@dataclass(frozen=True)
class PurchaseMac1:
    """The PSAM's answer to ``80 70``: its terminal transaction serial and MAC1."""

    terminal_serial: int
    mac1: bytes


@runtime_checkable
class SamPort(Protocol):
    """Terminal-side SAM operations used by :mod:`healthcard.api`. Keys never leave the SAM.

    Health-card keys are named as in the card profile (``RK_DDF1``, ``STK_DF02`` ...); the SAM profile maps
    them to the ``80 DE`` P1/P2 (health-card.md §5.1).
    """

    def health_auth_cryptogram(
        self, key: str, card_no: bytes, challenge: bytes, terminal_data: bytes, city_factor: bytes | None = None
    ) -> bytes:
        """The 8-byte EXTERNAL AUTHENTICATE cryptogram of ``key`` for this card and challenge (§6.1)."""
        ...

    def health_sm_wrap(
        self,
        key: str,
        card_no: bytes,
        challenge: bytes,
        header: bytes,
        plain: bytes,
        city_factor: bytes | None = None,
    ) -> bytes:
        """Ciphertext ‖ MAC of a secure-messaging write (``header`` = CLA INS P1 P2 with CLA bit 04, §6.2)."""
        ...

    def terminal_id(self) -> bytes:
        """The 6-byte terminal number (PSAM EF16)."""
        ...

    def purchase_mac1(
        self,
        *,
        icc_random: bytes,
        offline_counter: int,
        amount: int,
        transaction_type: int,
        when: _dt.datetime,
        key_version: int,
        algorithm: int,
        factors: tuple[bytes, ...],
    ) -> PurchaseMac1:
        """``80 70``: the PSAM's terminal transaction serial and MAC1."""
        ...

    def verify_purchase_mac2(self, mac2: bytes) -> None:
        """``80 72``: raise a SAM :class:`~apdu.errors.MacError` when the card's MAC2 is wrong."""
        ...

    def line_protection_mac(self, command: Command, challenge: bytes, factors: tuple[bytes, ...]) -> Command:
        """``command`` with CLA bit 04 and the FMCOS line-protection MAC appended (pboc-purse.md §7.1)."""
        ...

    def verify_pin(self, pin: str) -> None:
        """SAM VERIFY (health-card.md §7.2); raises :class:`~apdu.errors.PinError` with the tries left."""
        ...

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """SAM CHANGE PIN ``80 5E 01 00``."""
        ...

    def sm2_sign_digest(self, digest: bytes) -> bytes:
        """The 64-byte SM2 signature r‖s of ``e`` by the SAM's key (after PIN verification)."""
        ...

    def sm2_public_key(self) -> bytes:
        """The SAM's 64-byte SM2 public key x‖y (to verify signatures it made)."""
        ...

    def certificate(self) -> bytes:
        """The SAM certificate stored with signed DF03 records (190 bytes, health-card.md §7.1 EF001C)."""
        ...
