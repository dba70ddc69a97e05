"""What the daemon needs from a reader and the card in it — the seam between the daemon and ``healthcard.api``.

The service, reader manager and journal code against these small types; :mod:`daemon.cardops` implements them
with the high-level card API (virtual in-process readers for ``--simulate``, PC/SC readers otherwise), so the
rest of the daemon does not depend on that API's details. Money is integer fen.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from daemon.journal import Kind
from healthcard.api import CardData, LoadRequest, Section

__all__ = ["CardOps", "Completed", "Prepared", "ReaderBackend", "TxHooks"]


@dataclass(frozen=True)
class Prepared:
    """The card and SAM prepared a load/debit (INITIALIZE answered, MAC1 known); the card is not yet changed."""

    card_number: str
    amount_fen: int
    balance_before_fen: int
    card_counter: int
    terminal_id: str
    terminal_serial: int
    when: _dt.datetime
    purse_factor: str = ""  # EF15 bytes 12..19: which physical card (the host's key of a card with its KH)


@dataclass(frozen=True)
class Completed:
    """The card performed the load/debit and answered with its TAC."""

    balance_fen: int
    card_counter: int
    terminal_id: str
    terminal_serial: int
    tac: str
    when: _dt.datetime
    mac2: str = ""


class TxHooks(Protocol):
    """Called by :meth:`CardOps.debit` / :meth:`CardOps.load` around the APDU that changes the card."""

    def prepared(self, prepared: Prepared) -> None:
        """Before DEBIT FOR PURCHASE / CREDIT FOR LOAD is sent."""
        ...

    def completed(self, completed: Completed) -> None:
        """Right after the card answered it (TAC checked)."""
        ...


class CardOps(Protocol):
    """Operations on the card in one reader, inside one exclusive session."""

    @property
    def card_number(self) -> str:
        """KH of the card."""
        ...

    def read(self, sections: Collection[Section] | None) -> CardData:
        """The card API's data of ``sections`` (``None`` = all sections)."""
        ...

    def balance(self) -> int:
        """Purse balance in fen."""
        ...

    def debit(self, amount_fen: int, hooks: TxHooks) -> Completed:
        """A purchase (JR/T 0025.1 INITIALIZE FOR PURCHASE), journaled through ``hooks``."""
        ...

    def load(
        self, amount_fen: int, hooks: TxHooks, authoriser: Callable[[LoadRequest], bytes] | None = None
    ) -> Completed:
        """A load (JR/T 0025.1 CREDIT FOR LOAD), journaled through ``hooks``; ``authoriser`` checks MAC1 and makes
        MAC2 (the hospital host's, :meth:`daemon.hostlink.HostLink.authorise_load`), else the session's SAM."""
        ...

    def unload(self, amount_fen: int, hooks: TxHooks) -> Completed:
        """An unload (圈提, JR/T 0025.1 DEBIT FOR UNLOAD), journaled through ``hooks`` like a load."""
        ...

    def recover(self, kind: Kind, prepared: Prepared) -> Completed | None:
        """GET TRANSACTION PROVE for a prepared transaction: the result, or ``None`` if the card was not changed."""
        ...

    def write(self, sections: Mapping[str, object], clear: Collection[str] = ()) -> tuple[Section, ...]:
        """Merge the sections given in the card API's JSON form (``CardUpdate.from_json``: section names as keys)
        into the card and erase the ``clear`` fields (``"validity.phone1"``); fields neither given nor cleared keep
        their value. Returns the sections written."""
        ...

    def issue(self, card_number: str, holder: Mapping[str, object]) -> str:
        """Personalise a blank card; returns the card number."""
        ...

    def add_record(self, kind: str, items: Mapping[int, str]) -> int:
        """Write a DF03 visit record (``"inpatient"``/``"outpatient"``); returns the slot."""
        ...

    def record_signature(self, kind: str, slot: int) -> tuple[bytes, bytes]:
        """The signature ``r ‖ s`` and the signer's SM2 public key ``x ‖ y`` stored with the ``kind`` record in
        ``slot`` (empty when there is none), as the host gets them with the record (UploadVisitRecords)."""
        ...

    def purse_factor(self) -> str:
        """The purse diversification factor (16 hex digits) the hospital host keys the card by."""
        ...

    def chip_number(self) -> str:
        """The chip's cardNo from the ATR (16 hex digits): which of a holder's cards, also with a blocked purse."""
        ...

    def block_purse(self) -> None:
        """APPLICATION BLOCK (temporary) of the purse (JR/T 0025.1 APPLICATION BLOCK; a listed card)."""
        ...

    def unblock_purse(self, purse_factor: str) -> None:
        """APPLICATION UNBLOCK of the purse; ``purse_factor`` as kept when it was blocked."""
        ...


class ReaderBackend(Protocol):
    """One card reader (with its SAM), used only from its worker thread."""

    @property
    def name(self) -> str:
        """Reader name as clients use it."""
        ...

    @property
    def sam_reader(self) -> str:
        """Name of the reader holding the SAM (may be empty)."""
        ...

    @property
    def apdu_count(self) -> int:
        """APDUs sent so far (card and SAM), for metrics."""
        ...

    def poll(self) -> tuple[bool, bytes]:
        """Whether a card is present, and its ATR (cheap; called between jobs)."""
        ...

    def poll_sam(self) -> bool:
        """Whether the SAM is in its reader (cheap; polled with :meth:`poll`; raises when the SAM reader is gone)."""
        ...

    def session(self) -> AbstractContextManager[CardOps]:
        """An exclusive session on the present card (raises ``ReaderError`` without a card)."""
        ...

    def close(self) -> None:
        """Release the reader."""
        ...
