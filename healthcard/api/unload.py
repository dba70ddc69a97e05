"""E-purse unload (圈提): the card's balance paid out under the issuer's unload key, with the card present.

JR/T 0025.1 INITIALIZE FOR UNLOAD / DEBIT FOR UNLOAD (sources.md), cryptography as a load (JR/T 0025.2
session key, load MAC/TAC) with transaction type 03 and the card's unload key (key type 3D, diversified like the
load key by the purse factor): VERIFY PIN (the unload key's use right needs it) → INITIALIZE FOR UNLOAD (balance,
online counter, random, MAC1) → an :class:`UnloadAuthoriser` (the holder of the unload key: the hospital host,
or the virtual SAM's demo extension offline) checks MAC1 and gives MAC2 — and, when it can, the answer MAC the
card must give → ``journal.prepared()`` → DEBIT FOR UNLOAD → the answer MAC → ``journal.unloaded()``.

The answer MAC is a session-key MAC (not a TAC) over new balance ‖ online counter ‖ amount ‖ 03 ‖ terminal ‖
date ‖ time (the project's layout, :func:`sam.crypto.unload_mac`, docs/virtual-card.md). An authoriser
that cannot give it (the host keeps it and checks the upload) returns ``None`` for it. An answer that does not
match is *in doubt* — a genuine card would have answered the right MAC; the card's state is unknown — so the
journal keeps the entry prepared and :class:`UnloadAnswerError` is raised; :func:`recover_unload` settles it
from the card (GET TRANSACTION PROVE type 03 with the online counter after, then the detail records).

Money rules as for loads (:mod:`healthcard.api.purse`): integer fen, the journal is written before and after the
APDU that changes the card, the same :class:`~healthcard.api.purse.PreparedLoad` / ``LoadResult`` records (for an
unload, ``tac`` holds the answer MAC and the balance goes down).
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apdu import iso, pboc
from apdu.bcd import encode_datetime
from apdu.errors import CardError, DataError, MacError
from apdu.pboc import Purse, TransactionType
from apdu.response_records import DebitForUnloadResponse, InitForLoadResponse
from apdu.status import SW, StatusInfo, describe
from healthcard.api.purse import (
    LoadRequest,
    LoadResult,
    PreparedLoad,
    PurseContext,
    _amount,
    _now,
    recover_online,
)
from healthcard.api.reading import read_balance
from healthcard.issuance.keysource import DEMO_KEYS_PATH
from sam.crypto import Algorithm, diversify, load_mac1, load_mac2, load_session_key, unload_mac

__all__ = [
    "DemoUnloadAuthoriser",
    "NoUnloadKeyError",
    "UnloadAnswerError",
    "UnloadAuthorisation",
    "UnloadAuthoriser",
    "UnloadJournal",
    "recover_unload",
    "unload",
]


@dataclass(frozen=True)
class UnloadAuthorisation:
    """What the unload key's holder answers: MAC2 for DEBIT FOR UNLOAD, and the answer MAC the card must give
    (``None``: this authoriser checks the answer later, e.g. the host when the unload is uploaded)."""

    mac2: bytes
    expected_answer: bytes | None = None

    def __repr__(self) -> str:
        return "UnloadAuthorisation(<MACs hidden>)"


@runtime_checkable
class UnloadAuthoriser(Protocol):
    """Authorises an unload: verifies the card's MAC1 (type 03) and returns MAC2 (the issuer holds the unload key)."""

    def __call__(self, request: LoadRequest) -> UnloadAuthorisation:
        """MAC2 (and the expected answer MAC); raise :class:`~apdu.errors.MacError`-like errors to refuse."""
        ...


@runtime_checkable
class UnloadJournal(Protocol):
    """Where a terminal records unloads durably (like :class:`~healthcard.api.purse.LoadJournal`)."""

    def prepared(self, prepared: PreparedLoad) -> None:
        """Called after the authoriser returned MAC2 and before DEBIT FOR UNLOAD is sent; must be durable."""
        ...

    def unloaded(self, result: LoadResult) -> None:
        """Called right after the card's answer MAC was accepted (``result.tac`` is that MAC)."""
        ...


_NO_KEY = StatusInfo(
    SW.KEY_INDEX_UNSUPPORTED,
    "Key index not supported: this card has no unload key (issued before the profile had one); "
    "cancel it without the card (the host pays the balance out from its ledger)",
    "密钥索引不支持：此卡没有圈提密钥（早于圈提功能发行），请按无卡注销办理（由主机账户退款）",
    describe(SW.KEY_INDEX_UNSUPPORTED).category,
)


class NoUnloadKeyError(CardError):
    """The card answered INITIALIZE FOR UNLOAD with 9403: it has no unload key (issued before the e-purse profile
    had one). Nothing was changed; such a card is cancelled without UNLOAD (the ledger payout, docs/host.md)."""

    def __init__(self, command: CardError) -> None:
        super().__init__(SW.KEY_INDEX_UNSUPPORTED, _NO_KEY, command.command, layer=command.layer)


class UnloadAnswerError(MacError):
    """The card's answer to DEBIT FOR UNLOAD is not the MAC the unload key's holder expected: the card's state is
    in doubt (the journal entry stays prepared; :func:`recover_unload` decides it from the card)."""

    def __init__(self) -> None:
        super().__init__(SW.MAC_ERROR, describe(SW.MAC_ERROR))
        self.message = "DEBIT FOR UNLOAD: the card's answer MAC is wrong; whether it unloaded is in doubt"


def _check_mac1(master: bytes, request: LoadRequest) -> tuple[Algorithm, bytes]:
    """The session key of the request's card key (``master`` diversified by its factor), after checking MAC1."""
    alg = Algorithm(request.algorithm)
    key = diversify(alg, master, request.diversification_factor)
    sk = load_session_key(alg, key, request.icc_random, request.online_counter)
    expected = load_mac1(
        alg, sk, request.balance_before_fen, request.amount_fen, request.transaction_type, request.terminal_id
    )
    if not hmac.compare_digest(expected, request.mac1):
        raise MacError(SW.MAC_ERROR, describe(SW.MAC_ERROR))
    return alg, sk


class DemoUnloadAuthoriser:
    """The demo unload master key (``sam/data/demo-keys.json`` ``purse_app.master_keys.unload``, docs/decisions.md
    D13; test and demo only): check MAC1, give MAC2 and the expected answer MAC."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key

    def __repr__(self) -> str:
        return "DemoUnloadAuthoriser(<key hidden>)"

    @classmethod
    def from_demo_keys(cls) -> DemoUnloadAuthoriser:
        """Use the shipped demo unload master key."""
        data = json.loads(DEMO_KEYS_PATH.read_text(encoding="utf-8"))
        return cls(bytes.fromhex(data["purse_app"]["master_keys"]["unload"]))

    def __call__(self, request: LoadRequest) -> UnloadAuthorisation:
        if request.transaction_type != TransactionType.UNLOAD:
            raise DataError("an unload authorisation is for transaction type 03", field="transaction_type")
        alg, sk = _check_mac1(self._master, request)
        stamp = encode_datetime(request.when)
        mac2 = load_mac2(alg, sk, request.amount_fen, TransactionType.UNLOAD, request.terminal_id, stamp)
        answer = unload_mac(
            alg, sk, request.balance_before_fen - request.amount_fen, request.online_counter, request.amount_fen,
            TransactionType.UNLOAD, request.terminal_id, stamp,
        )  # fmt: skip
        return UnloadAuthorisation(mac2, answer)


def unload(
    ctx: PurseContext,
    card_number: str,
    amount_fen: int | None,
    *,
    authoriser: UnloadAuthoriser | Callable[[LoadRequest], UnloadAuthorisation],
    pin: str,
    terminal_id: bytes,
    journal: UnloadJournal | None = None,
    when: _dt.datetime | None = None,
) -> LoadResult:
    """One EP unload (module docstring); ``amount_fen=None`` unloads the whole balance (cancellation).

    ``pin`` is the cardholder's purse PIN (digits). Raises :class:`NoUnloadKeyError` for a card without an unload
    key, :class:`~apdu.errors.CardError` 9401 for more than the balance — both before anything changed — and
    :class:`UnloadAnswerError` (in doubt) for a wrong answer MAC.
    """
    stamp = _now(when)
    access = ctx.access
    if not (pin.isdigit() and len(pin) % 2 == 0):
        raise DataError("the PIN is an even number of digits", field="PIN")
    factor = ctx.factor()
    if amount_fen is None:
        amount = read_balance(access)
        if amount == 0:
            raise DataError("the purse is empty: there is nothing to unload", field="amount")
    else:
        amount = _amount(amount_fen)
    ctx.select()
    access.send(iso.verify(bytes.fromhex(pin)))
    command = pboc.initialize_for_unload(ctx.key_index, amount, terminal_id, purse=Purse.EP)
    try:
        init = InitForLoadResponse.parse(access.send(command).data)
    except CardError as exc:
        if exc.sw == SW.KEY_INDEX_UNSUPPORTED:
            raise NoUnloadKeyError(exc) from None
        raise
    request = LoadRequest(
        card_number=card_number, diversification_factor=factor, amount_fen=amount, balance_before_fen=init.balance,
        online_counter=init.online_counter, key_version=init.key_version, algorithm=init.algorithm,
        icc_random=init.icc_random, mac1=init.mac1, terminal_id=terminal_id, when=stamp,
        transaction_type=TransactionType.UNLOAD,
    )  # fmt: skip
    authorisation = authoriser(request)
    if journal is not None:
        journal.prepared(
            PreparedLoad(card_number, amount, init.balance, init.online_counter, terminal_id.hex().upper(), stamp)
        )
    answer = DebitForUnloadResponse.parse(access.send(pboc.debit_for_unload(stamp, authorisation.mac2)).data)
    expected = authorisation.expected_answer
    if expected is not None and not hmac.compare_digest(expected, answer.mac):
        raise UnloadAnswerError
    result = LoadResult(init.balance - amount, init.online_counter, terminal_id.hex().upper(),
                        answer.mac.hex().upper(), stamp)  # fmt: skip
    if journal is not None:
        journal.unloaded(result)
    return result


def recover_unload(ctx: PurseContext, prepared: PreparedLoad) -> LoadResult | None:
    """Did the card execute the prepared unload? GET TRANSACTION PROVE type 03 with the online counter after it, the
    detail records and the balance decide — :func:`healthcard.api.purse.recover_load`'s rules with the balance
    going down.

    The :class:`LoadResult` (balance = before − amount, ``tac`` = the card's answer MAC from the proof, ``""`` when
    only the detail record is left) or ``None`` when the card never unloaded (nothing was paid out: the unload may
    be tried again); :class:`~apdu.errors.LibraryError` when the card cannot decide.
    """
    return recover_online(ctx, prepared, TransactionType.UNLOAD)
