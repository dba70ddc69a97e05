"""The session's SAM: :class:`sam.client.SamClient` with the SAM PIN verified on demand and read-once caches.

It implements :class:`~healthcard.api.samport.SamPort` for the business modules. The SAM PIN gates every
key-using command of the virtual SAM: the ``80 DE`` derivations, ``80 1A``/``80 FA``, purchase MAC1/MAC2, load
authorisation and SM2 signing (health-card.md §7.2; docs/sam.md); it is verified once, before the first
operation that needs it (purse commands go ahead without one when the session was given none, for PSAMs that
need no PIN), and again after :meth:`SessionSam.forget` (a SAM reset). The
PIN is kept only in this object, never logged or shown in ``repr``.
"""

from __future__ import annotations

import datetime as _dt

from apdu.command import Command
from apdu.errors import MissingInputError
from healthcard.api.samport import PurchaseMac1
from sam.client import SamClient

__all__ = ["SessionSam"]


class SessionSam:
    """A :class:`SamClient` plus PIN handling and caches of the terminal id, public key and certificate."""

    def __init__(self, client: SamClient, *, pin: str | None = None) -> None:
        self.client = client
        self._pin = pin
        self._pin_ok = False
        self._terminal: bytes | None = None
        self._public_key: bytes | None = None
        self._certificate: bytes | None = None

    def __repr__(self) -> str:
        return f"SessionSam({self.client!r}, pin=<hidden>)"

    def forget(self) -> None:
        """The SAM was reset: verify the PIN again before the next PIN-gated operation."""
        self._pin_ok = False

    def _need_pin(self, *, required: bool = True) -> None:
        """VERIFY the SAM PIN once. ``required=False`` (PSAM purse commands): without a PIN the command is sent
        anyway, for PSAMs that need none; a SAM that does answers ``6982`` (SamError)."""
        if self._pin_ok:
            return
        if self._pin is None:
            if not required:
                return
            raise MissingInputError(
                "this SAM operation needs the SAM PIN, and none was given to the session", needs="sam_pin"
            )
        self.client.select_health_df()
        self.client.verify_pin(self._pin)
        self._pin_ok = True

    # --- health card -------------------------------------------------------------------------------------------

    def health_auth_cryptogram(
        self, key: str, card_no: bytes, challenge: bytes, terminal_data: bytes, city_factor: bytes | None = None
    ) -> bytes:
        """``80 DE`` + ``80 FA 00 00 10`` (health-card.md §6.1)."""
        self._need_pin()
        return self.client.health_auth_cryptogram(key, card_no, challenge, terminal_data, city_factor)

    def health_sm_wrap(
        self,
        key: str,
        card_no: bytes,
        challenge: bytes,
        header: bytes,
        plain: bytes,
        city_factor: bytes | None = None,
    ) -> bytes:
        """``80 DE`` (STK) + ``80 FA 00`` + ``80 FA 05`` (health-card.md §6.2)."""
        self._need_pin()
        return self.client.health_sm_wrap(key, card_no, challenge, header, plain, city_factor)

    # --- PSAM --------------------------------------------------------------------------------------------------

    def terminal_id(self) -> bytes:
        """EF16 (pboc-purse.md §5.2), read once."""
        if self._terminal is None:
            self._terminal = self.client.terminal_id()
        return self._terminal

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
        """``80 70`` (pboc-purse.md §4 step 2); the SAM PIN first, when the session has one."""
        self._need_pin(required=False)
        answer = self.client.init_for_purchase(
            icc_random=icc_random, card_counter=offline_counter, amount=amount, when=when, key_version=key_version,
            algorithm=algorithm, factors=factors, transaction_type=transaction_type,
        )  # fmt: skip
        return PurchaseMac1(answer.terminal_serial, answer.mac1)

    def verify_purchase_mac2(self, mac2: bytes) -> None:
        """``80 72`` (pboc-purse.md §4 step 4)."""
        self._need_pin(required=False)
        self.client.credit_for_purchase(mac2)

    def authorise_load(
        self,
        *,
        icc_random: bytes,
        online_counter: int,
        balance_before: int,
        amount: int,
        transaction_type: int,
        terminal_id: bytes,
        when: _dt.datetime,
        mac1: bytes,
        key_version: int,
        algorithm: int,
        factors: tuple[bytes, ...],
    ) -> bytes:
        """The virtual SAM's load authorisation (``80 7C``, docs/sam.md): MAC1 checked, MAC2 returned."""
        self._need_pin()
        return self.client.authorise_load(
            icc_random=icc_random, online_counter=online_counter, balance_before=balance_before, amount=amount,
            terminal_id=terminal_id, when=when, mac1=mac1, key_version=key_version, algorithm=algorithm,
            factors=factors, transaction_type=transaction_type,
        )  # fmt: skip

    def line_protection_mac(self, command: Command, challenge: bytes, factors: tuple[bytes, ...]) -> Command:
        """``80 1A`` (maintenance key) + ``80 FA 05`` (pboc-purse.md §7.1, §10); the SAM PIN first."""
        self._need_pin(required=False)
        return self.client.line_protection_mac(command, challenge, factors)

    # --- PIN, signature ----------------------------------------------------------------------------------------

    def verify_pin(self, pin: str) -> None:
        """SAM VERIFY PIN in DF01; remembered for later PIN-gated operations."""
        self.client.select_health_df()
        self.client.verify_pin(pin)
        self._pin, self._pin_ok = pin, True

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """SAM CHANGE PIN ``80 5E 01 00``."""
        self.client.select_health_df()
        self.client.change_pin(old_pin, new_pin)
        self._pin = new_pin

    def sm2_sign_digest(self, digest: bytes) -> bytes:
        """``80 CE`` over ``e`` (PIN-gated)."""
        self._need_pin()
        return self.client.sm2_sign_digest(digest)

    def sm2_public_key(self) -> bytes:
        """DF01/EF001D, read once."""
        if self._public_key is None:
            self._public_key = self.client.sm2_public_key()
        return self._public_key

    def certificate(self) -> bytes:
        """DF01/EF001C (190 bytes), read once."""
        if self._certificate is None:
            self._certificate = self.client.read_file(0x001C, 190)
        return self._certificate
