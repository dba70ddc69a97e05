"""The daemon's only use of the high-level card API (``healthcard.api``, docs/architecture.md).

* :class:`SimulatedReader` — ``--simulate``: an in-process virtual card (a demo card with a balance) and the
  virtual SAM, each persisted as an image file in the state directory, so the purse survives daemon restarts
  (the card saves on every persistent change, before it answers — a SIGKILL never loses a debit the card made).
* :class:`PcscReader` — a PC/SC card reader and the reader holding its SAM (``apdu.pcsc`` via
  ``open_pcsc_session``; pyscard imported lazily). A new PC/SC context is opened for every poll and session,
  so a restarted pcscd is picked up without restarting the daemon (pcsc-vpcd.md §7.1).
* :class:`ApiCardOps` — :class:`daemon.backend.CardOps` over a ``CardSession``.

Loads: the card API reports a load only when it is done, so the journal's ``prepared`` step records the balance
read just before, and recovery decides from the balance (before + amount = loaded) — sound because the daemon
resolves a card's open entries before any other operation on that card.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from apdu.errors import LibraryError, ReaderError
from daemon.backend import Completed, Prepared, TxHooks
from daemon.errors import NotSupportedError
from daemon.journal import Kind

__all__ = ["ApiCardOps", "PcscReader", "SimulatedReader", "simulated_readers"]

# CardData / Section names of healthcard.api -> healthcard.v1.CardData field names.
_RENAME = {"clinical": "clinical_flags", "special": "special_info"}
_SECTION_OF = {"clinical_flags": "clinical", "special_info": "special", "inpatient_records": "inpatient",
               "outpatient_records": "outpatient"}  # fmt: skip


def _jsonify(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    return value


def _card_data_json(data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"card_number": data.card_number}
    for name in ("issuer", "holder", "validity", "addresses", "contacts", "occupation_marriage", "documents",
                 "clinical", "special"):  # fmt: skip
        value = getattr(data, name, None)
        if value is not None:
            out[_RENAME.get(name, name)] = _jsonify(value)
    if data.photo is not None:
        out["photo"] = bytes(data.photo)
    if data.allergies is not None:
        out["allergies"] = [{"substance": a.substance, "reaction": a.reaction} for a in data.allergies]
    if data.immunisations is not None:
        out["immunisations"] = [
            {"name": i.name, "date": i.date.isoformat() if i.date else ""} for i in data.immunisations
        ]
    visits = []
    for kind in ("inpatient", "outpatient"):
        for record in getattr(data, kind, None) or ():
            visits.append({"kind": kind, "slot": record.slot, "valid": record.valid, "items": dict(record.items)})
    if visits:
        out["visit_records"] = visits
    if data.purse is not None:
        app = data.purse.application
        out["purse"] = {
            "balance_fen": data.purse.balance_fen,
            "application_serial": app.app_serial.hex().upper() if app is not None else "",
        }
    return out


class ApiCardOps:
    """:class:`daemon.backend.CardOps` over a ``healthcard.api.CardSession``."""

    def __init__(self, session: Any) -> None:
        self._s = session

    @property
    def card_number(self) -> str:
        return str(self._s.card_number)

    def read(self, sections: Collection[str] | None) -> Mapping[str, Any]:
        from healthcard.api import Section  # noqa: PLC0415 - the card API is imported lazily

        wanted = None if sections is None else [Section.parse(_SECTION_OF.get(s, s)) for s in sections]
        return _card_data_json(self._s.read(wanted))

    def balance(self) -> int:
        return int(self._s.balance())

    def debit(self, amount_fen: int, hooks: TxHooks) -> Completed:
        session = self._s

        class _Journal:
            def prepared(self, p: Any) -> None:
                hooks.prepared(
                    Prepared(
                        p.card_number, p.amount_fen, p.balance_before_fen, p.offline_counter, p.terminal_id,
                        p.terminal_serial, p.when,
                    )
                )

            def debited(self, r: Any) -> None:
                hooks.completed(_completed(r))

        return _completed(session.debit(amount_fen, journal=_Journal()))

    def load(self, amount_fen: int, hooks: TxHooks) -> Completed:
        when = _dt.datetime.now().astimezone()
        before = self.balance()
        hooks.prepared(Prepared(self.card_number, amount_fen, before, 0, "", 0, when))
        result = self._s.load(amount_fen, when=when)
        done = Completed(
            balance_fen=int(result.balance_fen), card_counter=int(result.online_counter),
            terminal_id=str(result.terminal_id), terminal_serial=0, tac=str(result.tac), when=result.when,
        )  # fmt: skip
        hooks.completed(done)
        return done

    def recover(self, kind: Kind, prepared: Prepared) -> Completed | None:
        if kind is Kind.LOAD:
            balance = self.balance()
            if balance == prepared.balance_before_fen:
                return None
            if balance == prepared.balance_before_fen + prepared.amount_fen:
                return Completed(balance, 0, prepared.terminal_id, 0, "", prepared.when)
            raise LibraryError("load recovery: the balance matches neither before nor after the load")
        from healthcard.api.purse import PreparedDebit  # noqa: PLC0415

        result = self._s.recover_purchase(
            PreparedDebit(
                card_number=prepared.card_number, amount_fen=prepared.amount_fen,
                balance_before_fen=prepared.balance_before_fen, offline_counter=prepared.card_counter,
                terminal_id=prepared.terminal_id, terminal_serial=prepared.terminal_serial, when=prepared.when,
            )
        )  # fmt: skip
        return None if result is None else _completed(result)

    def write(self, sections: Mapping[str, Mapping[str, Any]]) -> list[str]:
        from healthcard.api import CardData  # noqa: PLC0415

        doc = {_SECTION_OF.get(k, k): v for k, v in sections.items()}
        written = self._s.write(CardData.from_json({"card_number": self.card_number, **doc}))
        inverse = {v: k for k, v in _SECTION_OF.items()}
        return [inverse.get(s.value, s.value) for s in written]

    def issue(self, card_number: str, holder: Mapping[str, Any]) -> str:
        raise NotSupportedError("IssueCard is not available through the daemon yet; use `healthcard issue`")

    def add_record(self, kind: str, items: Mapping[int, str]) -> int:
        from healthcard.codecs.fixed import InpatientRecord, OutpatientRecord  # noqa: PLC0415

        inpatient = kind == "inpatient"
        slot = int(self._s.next_visit_slot(inpatient))
        cls = InpatientRecord if inpatient else OutpatientRecord
        return int(self._s.add_visit(cls(slot=slot, valid=True, items=dict(items))))


def _completed(r: Any) -> Completed:
    return Completed(
        balance_fen=int(r.balance_fen), card_counter=int(r.card_counter), terminal_id=str(r.terminal_id),
        terminal_serial=int(r.terminal_serial), tac=str(r.tac), when=r.when, mac2=str(getattr(r, "mac2", "")),
    )  # fmt: skip


_PERSONS = {"virtual-1": "li-na.json"}  # distinct holders (and card numbers) per simulated reader


def _demo_person(reader: str) -> dict[str, Any]:
    """``person=`` for the demo card of a simulated reader (examples/persons), or the default demo person."""
    file = _PERSONS.get(reader)
    path = Path(__file__).resolve().parents[1] / "examples" / "persons" / file if file else None
    if path is None or not path.is_file():
        return {}
    from healthcard.person import load_person  # noqa: PLC0415

    return {"person": load_person(path)}


class SimulatedReader:
    """A virtual reader holding a persisted demo card, with the virtual SAM (``--simulate``)."""

    def __init__(self, name: str, state_dir: Path, *, sam_pin: str | None = None) -> None:
        from apdu.inprocess import InProcessTransport  # noqa: PLC0415
        from healthcard.api.virtual import virtual_card, virtual_sam  # noqa: PLC0415

        self._name = name
        cards = state_dir / "cards"
        cards.mkdir(parents=True, exist_ok=True)
        self._card = virtual_card(cards / f"{name}.json", **_demo_person(name))
        self._sam = virtual_sam(cards / f"{name}-sam.json")
        self.card_transport = InProcessTransport(self._card, name=f"{name}:card")
        self.sam_transport = InProcessTransport(self._sam, name=f"{name}:sam")
        self._sam_pin = sam_pin
        self._apdus = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def sam_reader(self) -> str:
        return f"{self._name}-sam"

    @property
    def apdu_count(self) -> int:
        return self._apdus

    def poll(self) -> tuple[bool, bytes]:
        card = self.card_transport.card
        return (card is not None, bytes(card.atr) if card is not None else b"")

    def remove_card(self) -> None:
        """Pull the card (tests and demos)."""
        self.card_transport.remove()

    def insert_card(self) -> None:
        """Put the card back."""
        self.card_transport.insert(self._card)

    @contextmanager
    def session(self) -> Iterator[ApiCardOps]:
        from healthcard.api import CardSession  # noqa: PLC0415
        from healthcard.api.session import DEMO_PURSE_PIN, DEMO_SAM_PIN  # noqa: PLC0415

        if self.card_transport.card is None:
            raise ReaderError(f"no card in reader {self._name!r}", reader=self._name, removed=True)
        session = CardSession(
            self.card_transport, self.sam_transport, sam_pin=self._sam_pin or DEMO_SAM_PIN,
            purse_pin=DEMO_PURSE_PIN,
        )  # fmt: skip
        with session:
            try:
                yield ApiCardOps(session)
            finally:
                self._apdus += sum(session.counts.values())

    def close(self) -> None:
        """Nothing to release (the images are saved on every change)."""


def simulated_readers(names: Collection[str], state_dir: Path, *, sam_pin: str | None = None) -> list[SimulatedReader]:
    """The ``--simulate`` readers (``virtual-0``, ``virtual-1``), each with its own card and SAM image."""
    return [SimulatedReader(name, state_dir, sam_pin=sam_pin) for name in names]


class PcscReader:
    """A PC/SC reader and its SAM reader, through ``healthcard.api.open_pcsc_session``."""

    def __init__(self, name: str, sam_reader: str, *, sam_pin: str | None = None) -> None:
        self._name = name
        self._sam_reader = sam_reader
        self._sam_pin = sam_pin
        self._apdus = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def sam_reader(self) -> str:
        return self._sam_reader

    @property
    def apdu_count(self) -> int:
        return self._apdus

    def poll(self) -> tuple[bool, bytes]:
        from apdu.pcsc import PcscTransport, list_readers  # noqa: PLC0415 - pyscard only for PC/SC readers

        if self._name not in list_readers():  # a fresh context each time: survives pcscd restarts
            raise ReaderError(f"reader {self._name!r} is not present", reader=self._name)
        transport = PcscTransport(self._name)
        try:
            return True, bytes(transport.connect())
        except ReaderError as exc:
            if exc.removed:
                return False, b""
            raise
        finally:
            transport.disconnect()

    @contextmanager
    def session(self) -> Iterator[ApiCardOps]:
        from healthcard.api import open_pcsc_session  # noqa: PLC0415

        session = open_pcsc_session(self._name, self._sam_reader or None, sam_pin=self._sam_pin)
        with session:
            try:
                yield ApiCardOps(session)
            finally:
                self._apdus += sum(session.counts.values())

    def close(self) -> None:
        """Sessions release their PC/SC handles themselves."""
