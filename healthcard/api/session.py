"""CardSession: one card (and its SAM) held exclusively for a business operation.

``with open_virtual_session() as s:`` or ``with open_pcsc_session("Virtual PCD 00 00", sam_reader=...) as s:``
connects, takes the reader(s) exclusively (``Transport.exclusive()``, a PC/SC transaction) and always
releases and disconnects on exit, also after an error. Inside, the methods read, write, issue, load, debit and
manage the life cycle (docs/architecture.md "High-level card API": the daemon codes against these names).

APDU counts per interface are kept in :attr:`CardSession.counts` (the benchmarks and the daemon's metrics use
them), counted by the channels themselves; an optional :class:`~apdu.trace.Tracer` sees every exchange,
redacted (without observers nothing is timed or formatted).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from apdu.channel import Channel
from apdu.errors import DataError, HealthCardError, LibraryError, MissingInputError
from apdu.inprocess import InProcessTransport
from apdu.pcsc import PcscTransport
from apdu.trace import Tracer
from apdu.transport import Transport
from healthcard.api import lifecycle, purse, reading, signatures, unload, writing
from healthcard.api.access import CardAccess
from healthcard.api.sections import CardData, CardUpdate, Section
from healthcard.api.signatures import TrustList
from healthcard.codecs import Allergy, Immunisation, InpatientRecord, OutpatientRecord, TlvFile, VisitRecord
from healthcard.codecs.signature import RecordSignature, SignatureStatus
from healthcard.profiles.card import CardProfile, demo_card_profile
from healthcard.store import virtual_card, virtual_sam
from sam.client import SamClient

__all__ = [
    "CardSession",
    "SamLoadAuthoriser",
    "SamUnloadAuthoriser",
    "open_pcsc_session",
    "open_virtual_session",
]

DEMO_SAM_PIN = "123456"
DEMO_PURSE_PIN = "123456"


class SamLoadAuthoriser:
    """Load authorisation by the session's SAM (virtual SAM ``80 7C``, PIN-gated): checks MAC1, returns MAC2."""

    def __init__(self, sam: SamClient) -> None:
        self.sam = sam

    def __call__(self, request: purse.LoadRequest) -> bytes:
        return self.sam.authorise_load(
            icc_random=request.icc_random, online_counter=request.online_counter,
            balance_before=request.balance_before_fen, amount=request.amount_fen,
            transaction_type=request.transaction_type, terminal_id=request.terminal_id, when=request.when,
            mac1=request.mac1, key_version=request.key_version, algorithm=request.algorithm,
            factors=(request.diversification_factor,),
        )  # fmt: skip


class SamUnloadAuthoriser:
    """Unload authorisation by the session's SAM (the virtual SAM's ``80 7C`` with type 03, PIN-gated): checks MAC1,
    returns MAC2 and the answer MAC the card must give. Demo and offline use only: a real PSAM holds no unload key."""

    def __init__(self, sam: SamClient) -> None:
        self.sam = sam

    def __call__(self, request: purse.LoadRequest) -> unload.UnloadAuthorisation:
        mac2, answer = self.sam.authorise_unload(
            icc_random=request.icc_random, online_counter=request.online_counter,
            balance_before=request.balance_before_fen, amount=request.amount_fen, terminal_id=request.terminal_id,
            when=request.when, mac1=request.mac1, key_version=request.key_version, algorithm=request.algorithm,
            factors=(request.diversification_factor,),
        )  # fmt: skip
        return unload.UnloadAuthorisation(mac2, answer)


class CardSession:
    """A card and an optional SAM, each behind its own transport.

    Parameters
    ----------
    card:
        The card's transport (in-process, PC/SC ...).
    sam:
        The SAM's transport, or a ready :class:`sam.client.SamClient`, or ``None`` (then only free reads work).
    profile:
        The card profile (the project's demo profile by default).
    sam_pin:
        The SAM PIN, verified before the first PIN-gated SAM operation.
    purse_pin:
        The cardholder's purse PIN for loads (can also be given per call).
    tracer:
        Receives every exchange with secrets redacted.
    trusted_signers:
        SAM public keys whose signatures on DF03 records read as ``VALID`` (name -> key, or a
        :class:`~healthcard.api.signatures.TrustList`); the session's own SAM key is trusted as well.
    """

    def __init__(
        self,
        card: Transport,
        sam: Transport | SamClient | None = None,
        *,
        profile: CardProfile | None = None,
        sam_pin: str | None = None,
        purse_pin: str | None = None,
        tracer: Tracer | None = None,
        on_close: Callable[[], None] | None = None,
        disconnect: bool = True,
        trusted_signers: TrustList | Mapping[str, bytes | str] | None = None,
    ) -> None:
        self.profile = profile or demo_card_profile()
        self._trusted = trusted_signers if isinstance(trusted_signers, TrustList) else TrustList(trusted_signers)
        self._trust: TrustList | None = None
        self.tracer = tracer if tracer is not None else Tracer()
        self.card_transport = card
        self.card_channel = Channel(card, tracer=self.tracer)
        self.sam_transport: Transport | None = None
        self._sam_channel: Channel | None = None
        self._sam: SamClient | None
        if sam is None or isinstance(sam, SamClient):
            self._sam = sam
        else:
            self.sam_transport = sam
            self._sam_channel = Channel(sam, tracer=self.tracer)
            self._sam = SamClient(self._sam_channel, pin=sam_pin)
        self.purse_pin = purse_pin
        self._on_close = on_close
        self._disconnect = disconnect
        self._stack: ExitStack | None = None
        self._access: CardAccess | None = None
        self._purse: purse.PurseContext | None = None

    # --- context management --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        stack = ExitStack()
        try:
            transports = [self.card_transport] + ([self.sam_transport] if self.sam_transport is not None else [])
            for t in transports:
                if self._disconnect:
                    stack.callback(t.disconnect)
                t.connect()
                stack.enter_context(t.exclusive())
            atr = self.card_transport.atr
            self._access = CardAccess(self.card_channel, self.profile, atr, self._sam)
            if isinstance(self.card_transport, InProcessTransport):
                self._access.at_mf()  # connect() powered the card on: the MF is current
            self._purse = purse.PurseContext(self._access)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the readers and disconnect (idempotent)."""
        stack, self._stack = self._stack, None
        self._access = None
        try:
            if stack is not None:
                stack.close()
        finally:
            if self._on_close is not None and stack is not None:
                self._on_close()

    @property
    def access(self) -> CardAccess:
        """The card access object (navigation, authentication); raises outside ``with``."""
        if self._access is None:
            raise LibraryError("the session is not open: use it in a 'with' block")
        return self._access

    @property
    def sam(self) -> SamClient | None:
        """The session's SAM client, if any."""
        return self._sam

    @property
    def counts(self) -> dict[str, int]:
        """APDUs exchanged so far: ``{"card": n, "sam": m}`` (GET RESPONSE and re-sends included; ``m`` counts
        the SAM given as a transport, not a ready :class:`~sam.client.SamClient` that talks over its own channel)."""
        sam = self._sam_channel.exchanges if self._sam_channel is not None else 0
        return {"card": self.card_channel.exchanges, "sam": sam}

    @contextmanager
    def measure(self) -> Iterator[dict[str, int]]:
        """``with s.measure() as n:`` fills ``n`` with the APDUs exchanged inside the block."""
        before = self.counts
        out: dict[str, int] = {}
        try:
            yield out
        finally:
            after = self.counts
            out.update({k: after[k] - before[k] for k in after})

    # --- identity ----------------------------------------------------------------------------------------------

    @property
    def card_number(self) -> str:
        """KH 卡号 (DDF1/EF05 tag 08, free read ``00 B2 08 2C 00``), read once (``""`` when the card has none)."""
        return self.access.holder_card_number()

    @property
    def chip_number(self) -> str:
        """The 8-byte cardNo of the ATR (diversification factor, WS/T 543.4 diversification factors) as hex."""
        return self.access.card_no.hex().upper()

    # --- reading -----------------------------------------------------------------------------------------------

    def read(self, sections: Collection[Section] | None = None) -> CardData:
        """Read ``sections`` (everything the SAM may read when ``None``) as typed data.

        Valid visit records carry their signature status and signer (``record.signature``), checked against
        :attr:`trust_list`.
        """
        data = reading.read_sections(self.access, sections)
        if any(r.valid for r in (*(data.inpatient or ()), *(data.outpatient or ()))):  # else no SAM key is read
            data = signatures.check_card_data(data, self.trust_list, data.card_number or self.card_number)
        if not data.card_number and self.access.card_number:
            data = CardData(card_number=self.access.card_number).merged(data)
        return data

    def read_all(self) -> CardData:
        """Every section, the purse included, in the fewest APDUs the profile allows."""
        return self.read(None)

    def read_photo(self, path: str | Path | None = None) -> bytes | None:
        """The photo (JPEG bytes as stored); also written to ``path`` when given."""
        image = reading.read_photo(self.access)
        if path is not None and image is not None:
            Path(path).write_bytes(image)
        return image

    # --- writing -----------------------------------------------------------------------------------------------

    def write_section(self, section: Section, value: Any, previous: Any = None) -> None:
        """Write one section with ``value`` as its whole new content (a TLV section is replaced: its ``None``
        fields are erased); photo bytes; allergies/immunisations are appended; visit records go into their slots.

        To change some fields and keep the others, use :meth:`update` (or :meth:`write`).
        """
        a = self.access
        if section.tlv_type is not None:
            writing.write_tlv(a, section, value, previous if isinstance(previous, TlvFile) else None)
        elif section is Section.PHOTO:
            writing.write_photo(a, bytes(value))
        elif section is Section.ALLERGIES:
            for allergy in reversed(tuple(value)):  # oldest first: the newest ends as record 1
                writing.append_allergy(a, allergy)
        elif section is Section.IMMUNISATIONS:
            for item in reversed(tuple(value)):
                writing.append_immunisation(a, item)
        elif section in (Section.INPATIENT, Section.OUTPATIENT):
            for record in value:
                writing.write_visit(a, record, choose=False)
        else:
            raise DataError(f"{section.value} cannot be written as data", field=section.value)

    def update(self, change: CardUpdate | Mapping[str, Any], previous: CardData | None = None) -> tuple[Section, ...]:
        """A partial write: the given fields are merged into what the card holds; clearing is explicit.

        ``change`` is a :class:`CardUpdate` or its JSON form (the shape ``read --json`` prints, TLV sections may
        be partial, plus ``"clear": ["validity.phone1", ...]``). Each TLV section is read (or taken from
        ``previous`` when the caller has just read it), merged and validated, and only the records that change
        are written; other sections are written as :meth:`write_section` does. Returns the sections touched.
        """
        update = change if isinstance(change, CardUpdate) else CardUpdate.from_json(change)
        for section in update.sections:
            if section.tlv_type is not None:
                before = previous.get(section) if previous is not None else None
                writing.update_tlv(self.access, section, update.fields.get(section, {}),
                                   update.clear.get(section, frozenset()), before)  # fmt: skip
            else:
                self.write_section(section, update.data.get(section))
        return update.sections

    def write(
        self, data: CardData, previous: CardData | None = None, *, clear: Collection[str] = ()
    ) -> tuple[Section, ...]:
        """Write every section present in ``data`` (card order), merged into what the card holds.

        In TLV sections the fields that are ``None`` keep the card's value; name fields to erase in ``clear``
        (``"validity.phone1"``). ``previous`` (a fresh read) saves reading the sections again. Allergies /
        immunisations in ``data`` are listed newest first (as read) and appended oldest first.
        """
        return self.update(CardUpdate.from_card_data(data, clear), previous)

    def append_allergy(self, allergy: Allergy) -> None:
        """Add an allergy (DF02/EF07, cyclic)."""
        writing.append_allergy(self.access, allergy)

    def append_immunisation(self, immunisation: Immunisation) -> None:
        """Add an immunisation (DF02/EF08, cyclic)."""
        writing.append_immunisation(self.access, immunisation)

    def next_visit_slot(self, inpatient: bool) -> int:
        """The slot the rule of WS/T 543.3 DF03 index files picks (first free, else the oldest)."""
        return writing.choose_slot(self.access, inpatient)

    def add_visit(self, record: InpatientRecord | OutpatientRecord) -> int:
        """Write a visit into the slot the rule picks, mark it valid; returns the slot."""
        return writing.write_visit(self.access, record, choose=True)

    def write_visit(self, record: VisitRecord) -> None:
        """Write a visit into ``record.slot`` and set its flag from ``record.valid``."""
        writing.write_visit(self.access, record, choose=False)

    def mark_visit_valid(self, inpatient: bool, slot: int) -> None:
        """Index flag of ``slot`` := 00."""
        writing.mark_visit_valid(self.access, inpatient, slot)

    def erase_visit(self, inpatient: bool, slot: int) -> None:
        """Index flag of ``slot`` := FF."""
        writing.erase_visit(self.access, inpatient, slot)

    def read_visit(self, inpatient: bool, slot: int) -> VisitRecord:
        """One visit file with its index flag."""
        flags = reading.read_index(self.access, inpatient)
        return reading.read_visit(self.access, inpatient, slot, flags[slot - 1])

    def sign_visit(self, inpatient: bool, slot: int, *, sam_pin: str | None = None) -> bytes:
        """Sign the record in ``slot`` with the SAM (SM3 + SM2); returns the 64-byte signature."""
        return writing.sign_visit(self.access, inpatient, slot, sam_pin)

    @property
    def trust_list(self) -> TrustList:
        """The signers whose DF03 signatures read as ``VALID``: ``trusted_signers`` plus this session's SAM key."""
        if self._trust is None:
            trust = self._trusted
            if self._sam is not None:
                try:
                    own = self._sam.sm2_public_key()
                except HealthCardError:  # a SAM without an SM2 key (e.g. a plain PSAM) signed nothing: not trusted
                    own = None
                if own is not None:
                    trust = trust.with_key(signatures.OWN_SAM, own)
            self._trust = trust
        return self._trust

    def check_visit(self, record: VisitRecord) -> RecordSignature:
        """The signature status and signer of a record read from this card (``VALID`` only for a key of
        :attr:`trust_list`, over the record bound to this card's KH and the record's slot, docs/decisions.md D14)."""
        return signatures.check_visit(record, self.trust_list, self.card_number)

    def verify_visit(self, record: VisitRecord) -> bool:
        """True when this session's SAM signed ``record`` for this card and the record's slot."""
        own = TrustList({signatures.OWN_SAM: self._need_sam().sm2_public_key()})
        return signatures.check_visit(record, own, self.card_number).status is SignatureStatus.VALID

    # --- purse -------------------------------------------------------------------------------------------------

    def _purse_ctx(self) -> purse.PurseContext:
        self.access  # noqa: B018 - raises when closed
        assert self._purse is not None
        return self._purse

    def purse_factor(self) -> bytes:
        """The purse keys' diversification factor: EF15 bytes 12..19 (public data; the host derives the card's TAC
        and load keys from it, clearing practice, sources.md H2)."""
        return self._purse_ctx().factor()

    def balance(self) -> int:
        """The EP balance in fen."""
        return reading.read_balance(self.access)

    def debit(
        self, amount_fen: int, *, journal: purse.DebitJournal | None = None, when: _dt.datetime | None = None
    ) -> purse.PurchaseResult:
        """A purchase with the PSAM (JR/T 0025.2 purchase with a PSAM); the journal sees it before and after DEBIT."""
        return purse.debit(self._purse_ctx(), self._number_or_blank(), amount_fen, journal=journal, when=when)

    def load(
        self,
        amount_fen: int,
        *,
        authoriser: purse.LoadAuthoriser | Callable[[purse.LoadRequest], bytes] | None = None,
        journal: purse.LoadJournal | None = None,
        when: _dt.datetime | None = None,
        pin: str | None = None,
    ) -> purse.LoadResult:
        """A load (top-up); MAC2 from ``authoriser`` (default: the session SAM's load key, ``80 7C``).

        The journal sees it right before CREDIT FOR LOAD (``prepared``) and right after (``loaded``); a load whose
        answer was lost is settled with :meth:`recover_load`.
        """
        sam = self._need_sam()
        if authoriser is None:
            authoriser = SamLoadAuthoriser(sam)
        the_pin = pin or self.purse_pin
        if the_pin is None:
            raise DataError("a load needs the cardholder's purse PIN", field="PIN")
        return purse.load(self._purse_ctx(), self._number_or_blank(), amount_fen, authoriser=authoriser,
                          pin=the_pin, terminal_id=sam.terminal_id(), journal=journal, when=when)  # fmt: skip

    def unload(
        self,
        amount_fen: int | None = None,
        *,
        authoriser: unload.UnloadAuthoriser | Callable[[purse.LoadRequest], unload.UnloadAuthorisation] | None = None,
        journal: unload.UnloadJournal | None = None,
        when: _dt.datetime | None = None,
        pin: str | None = None,
    ) -> purse.LoadResult:
        """An unload (圈提, :mod:`healthcard.api.unload`): ``amount_fen`` or, ``None``, the whole balance; MAC2 from
        ``authoriser`` (default: the session SAM's unload key, the virtual SAM's ``80 7C`` extension).

        The journal sees it right before DEBIT FOR UNLOAD and right after the answer MAC; one whose answer was lost
        or wrong is settled with :meth:`recover_unload`.
        """
        sam = self._need_sam()
        if authoriser is None:
            authoriser = SamUnloadAuthoriser(sam)
        the_pin = pin or self.purse_pin
        if the_pin is None:
            raise DataError("an unload needs the cardholder's purse PIN", field="PIN")
        return unload.unload(self._purse_ctx(), self._number_or_blank(), amount_fen, authoriser=authoriser,
                             pin=the_pin, terminal_id=sam.terminal_id(), journal=journal, when=when)  # fmt: skip

    def recover_unload(self, prepared: purse.PreparedLoad) -> purse.LoadResult | None:
        """GET TRANSACTION PROVE (type 03), then the detail records, for a prepared unload: its result (``tac`` =
        the answer MAC, empty when the proof is gone), or ``None`` if the card never unloaded."""
        return unload.recover_unload(self._purse_ctx(), prepared)

    def purse_records(self) -> tuple[purse.PurseRecord, ...]:
        """The EP detail records, newest first (JR/T 0025.1 transaction detail file; READ RECORD by SFI until 6A83)."""
        return purse.purse_records(self._purse_ctx())

    def recover_purchase(self, prepared: purse.PreparedDebit) -> purse.PurchaseResult | None:
        """GET TRANSACTION PROVE for a prepared debit, then the detail records (JR/T 0025.1 GET TRANSACTION PROVE, JR/T
        0025.1 transaction detail file).

        Its result (``tac``/``mac2`` empty when the card no longer holds the proof), or ``None`` if the card never
        debited.
        """
        return purse.recover_purchase(self._purse_ctx(), prepared)

    def recover_load(self, prepared: purse.PreparedLoad) -> purse.LoadResult | None:
        """GET TRANSACTION PROVE (type 02), the detail records and the balance, for a prepared load: its result
        (``tac`` empty when the proof is gone), or ``None`` if the card never loaded (rules:
        :func:`healthcard.api.purse.recover_load`)."""
        return purse.recover_load(self._purse_ctx(), prepared)

    def _number_or_blank(self) -> str:
        try:
            return self.card_number
        except Exception:
            return ""

    # --- life cycle, SAM PIN -----------------------------------------------------------------------------------

    def block_application(self, *, permanent: bool = False) -> None:
        """APPLICATION BLOCK of the purse application with a SAM-made MAC."""
        lifecycle.block_application(self._purse_ctx(), permanent=permanent)

    def unblock_application(self, factor: bytes | None = None) -> None:
        """APPLICATION UNBLOCK of the purse application (``factor``: its EF15 factor, kept when it was blocked)."""
        lifecycle.unblock_application(self._purse_ctx(), factor)

    def block_card(self) -> None:
        """CARD BLOCK (irreversible)."""
        lifecycle.block_card(self._purse_ctx())

    def verify_sam_pin(self, pin: str) -> None:
        """Verify the SAM PIN (remembered for PIN-gated SAM operations)."""
        self._need_sam().verify_pin(pin)

    def change_sam_pin(self, old_pin: str, new_pin: str) -> None:
        """Change the SAM PIN."""
        self._need_sam().change_pin(old_pin, new_pin)

    def _need_sam(self) -> SamClient:
        if self._sam is None:
            raise MissingInputError("this operation needs a SAM, and the session has none", needs="sam")
        return self._sam


def open_virtual_session(
    card_image: str | Path | None = None,
    sam_image: str | Path | None = None,
    *,
    card: Any = None,
    sam: Any = None,
    tracer: Tracer | None = None,
    sam_pin: str = DEMO_SAM_PIN,
    purse_pin: str = DEMO_PURSE_PIN,
    profile: CardProfile | None = None,
    trusted_signers: TrustList | Mapping[str, bytes | str] | None = None,
) -> CardSession:
    """A session on the in-process virtual card and virtual SAM (demo ones unless images or objects are given).

    ``card_image`` / ``sam_image`` are image files: loaded if they exist (and saved back after every change),
    created from the demo card / demo SAM otherwise. ``card`` / ``sam`` pass ready ``VirtualCard`` /
    ``VirtualSam`` objects instead.
    """
    the_card = card if card is not None else virtual_card(card_image)
    the_sam = sam if sam is not None else virtual_sam(sam_image)
    return CardSession(
        InProcessTransport(the_card, name="inprocess:card"),
        InProcessTransport(the_sam, name="inprocess:sam"),
        profile=profile, sam_pin=sam_pin, purse_pin=purse_pin, tracer=tracer, trusted_signers=trusted_signers,
    )  # fmt: skip


def open_pcsc_session(
    reader: str,
    sam_reader: str | None = None,
    *,
    tracer: Tracer | None = None,
    sam_pin: str | None = None,
    purse_pin: str | None = None,
    profile: CardProfile | None = None,
    trusted_signers: TrustList | Mapping[str, bytes | str] | None = None,
) -> CardSession:
    """A session on the card in PC/SC ``reader`` with the SAM in ``sam_reader`` (needs pyscard)."""
    card = PcscTransport(reader)
    sam = PcscTransport(sam_reader) if sam_reader else None
    return CardSession(card, sam, profile=profile, sam_pin=sam_pin, purse_pin=purse_pin, tracer=tracer,
                       trusted_signers=trusted_signers)  # fmt: skip
