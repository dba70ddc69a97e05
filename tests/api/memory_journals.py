"""In-memory ``DebitJournal`` / ``LoadJournal`` for the purse tests (the daemon's journal is SQLite).

Each keeps the ``prepared`` entry and the result it was handed; given a session, it also notes how many card
APDUs the session had sent at each call (to check that ``prepared`` comes right before the APDU that changes the
card and the result right after it).
"""

from __future__ import annotations

from healthcard.api import CardSession, LoadResult, PreparedDebit, PreparedLoad, PurchaseResult

__all__ = ["MemoryDebitJournal", "MemoryLoadJournal"]


class _Recorder:
    def __init__(self, session: CardSession | None = None) -> None:
        self.session = session
        self.card_apdus: list[int] = []

    def _note(self) -> None:
        if self.session is not None:
            self.card_apdus.append(self.session.counts["card"])


class MemoryDebitJournal(_Recorder):
    """A DebitJournal in memory."""

    def __init__(self, session: CardSession | None = None) -> None:
        super().__init__(session)
        self.prepared_entry: PreparedDebit | None = None
        self.result: PurchaseResult | None = None

    def prepared(self, prepared: PreparedDebit) -> None:
        self.prepared_entry = prepared
        self._note()

    def debited(self, result: PurchaseResult) -> None:
        self.result = result
        self._note()


class MemoryLoadJournal(_Recorder):
    """A LoadJournal (and UnloadJournal) in memory."""

    def __init__(self, session: CardSession | None = None) -> None:
        super().__init__(session)
        self.prepared_entry: PreparedLoad | None = None
        self.result: LoadResult | None = None

    def prepared(self, prepared: PreparedLoad) -> None:
        self.prepared_entry = prepared
        self._note()

    def loaded(self, result: LoadResult) -> None:
        self.result = result
        self._note()

    unloaded = loaded  # an UnloadJournal too (healthcard.api.unload: the same records)
