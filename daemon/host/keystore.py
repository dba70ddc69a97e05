"""The host's purse keys behind one interface (clearing practice, sources.md H2; clearing practice, sources.md H3; JR/T
0025.2 session key, load MAC/TAC, purchase MAC/TAC).

:class:`HostKeyStore` is what clearing and load authorisation ask: "is this TAC right for this card?", "MAC2 for
this load" and "MAC2 for this unload, and the answer MAC the card must give" (圈提, JR/T 0025.1 INITIALIZE FOR
UNLOAD; the unload key, docs/decisions.md D13). Keys never leave it. :class:`DemoKeyStore` holds the public demo
master keys (``sam/data/demo-keys.json``, test and demo only) in the process's memory; a production host keeps them
in a host SAM behind the same three methods (:class:`daemon.host.samkeys.SamKeyStore`, over PC/SC); a PKCS#11 HSM
would be a fourth implementation (not written: docs/host.md, Status).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from sam.crypto.algorithm import Algorithm
from sam.crypto.diversify import diversify
from sam.crypto.purse_crypto import (
    load_mac1,
    load_mac2,
    load_session_key,
    load_tac,
    purchase_tac,
    unload_mac,
)
from sam.keystore import DEMO_KEYS_RESOURCE

__all__ = [
    "DEBIT_TYPE",
    "LOAD_TYPE",
    "UNLOAD_TYPE",
    "DemoKeyStore",
    "HostKeyStore",
    "LoadFields",
    "TacFields",
    "UnloadMacs",
]

DEBIT_TYPE = 0x06  # EP purchase (JR/T 0025.1 INITIALIZE FOR PURCHASE)
LOAD_TYPE = 0x02  # EP load (JR/T 0025.1 CREDIT FOR LOAD)
UNLOAD_TYPE = 0x03  # unload (JR/T 0025.1 INITIALIZE FOR UNLOAD)


class TacFields(Protocol):
    """What a TAC covers (an uploaded transaction)."""

    @property
    def kind(self) -> str:
        """``"debit"`` or ``"load"``."""
        ...

    @property
    def amount_fen(self) -> int:
        """Amount."""
        ...

    @property
    def balance_after_fen(self) -> int:
        """Balance after (covered by a load's TAC)."""
        ...

    @property
    def card_counter(self) -> int:
        """Online counter before the load (covered by a load's TAC)."""
        ...

    @property
    def terminal_id(self) -> str:
        """12 hex digits."""
        ...

    @property
    def terminal_serial(self) -> int:
        """Terminal serial (covered by a purchase's TAC)."""
        ...

    @property
    def card_time(self) -> str:
        """YYYYMMDDhhmmss as the card used it."""
        ...


@dataclass(frozen=True)
class LoadFields:
    """What MAC1 and MAC2 of a load — or of an unload — cover (JR/T 0025.2 load MAC/TAC)."""

    algorithm: int
    amount_fen: int
    balance_before_fen: int
    online_counter: int
    icc_random: bytes
    mac1: bytes
    terminal_id: bytes
    card_time: str
    key_version: int = 1  # from INITIALIZE FOR LOAD: which load key (a SAM-backed store selects by it)


@dataclass(frozen=True)
class UnloadMacs:
    """An unload's MAC2 (for DEBIT FOR UNLOAD) and the answer MAC the card must give to it (the unload session key
    over new balance ‖ online counter ‖ amount ‖ 03 ‖ terminal ‖ date ‖ time, :func:`sam.crypto.unload_mac`)."""

    mac2: bytes
    answer: bytes

    def __repr__(self) -> str:
        return "UnloadMacs(<hidden>)"


class HostKeyStore(Protocol):
    """The host's keys (module docstring)."""

    def tac_matches(self, purse_factor: bytes, fields: TacFields, tac: bytes) -> bool:
        """Whether ``tac`` is the card's TAC over ``fields`` (card key diversified by ``purse_factor``)."""
        ...

    def load_mac2(self, purse_factor: bytes, fields: LoadFields) -> bytes | None:
        """MAC2 for the load when the card's MAC1 is right (load key diversified by ``purse_factor``), else None."""
        ...

    def unload_macs(self, purse_factor: bytes, fields: LoadFields) -> UnloadMacs | None:
        """MAC2 and the expected answer MAC for the unload (type 03) when the card's MAC1 is right (the unload key
        diversified by ``purse_factor``), else None (also when the store has no unload key)."""
        ...


class DemoKeyStore:
    """The demo master keys (3DES, one level of diversification by the EF15 factor). Test and demo only."""

    def __init__(
        self,
        tac_master: bytes,
        load_master: bytes,
        algorithm: Algorithm = Algorithm.TDES,
        unload_master: bytes | None = None,
    ) -> None:
        self._tac = tac_master
        self._load = load_master
        self._unload = unload_master
        self._alg = algorithm

    def __repr__(self) -> str:
        return "DemoKeyStore(<keys hidden>)"

    @classmethod
    def from_demo_keys(cls) -> DemoKeyStore:
        """The shipped demo key set."""
        data = json.loads(resources.files("sam").joinpath("data", DEMO_KEYS_RESOURCE).read_text(encoding="utf-8"))
        keys = data["purse_app"]["master_keys"]
        return cls(bytes.fromhex(keys["tac"]), bytes.fromhex(keys["load"]), unload_master=bytes.fromhex(keys["unload"]))

    def _session_key(self, master: bytes, purse_factor: bytes, fields: LoadFields, tx_type: int) -> bytes | None:
        """The card's load/unload session key when its MAC1 (type ``tx_type``) is right, else None."""
        alg = Algorithm(fields.algorithm)
        if alg is not self._alg:
            return None
        card_key = diversify(alg, master, purse_factor)
        sk = load_session_key(alg, card_key, fields.icc_random, fields.online_counter)
        expected = load_mac1(alg, sk, fields.balance_before_fen, fields.amount_fen, tx_type, fields.terminal_id)
        return sk if hmac.compare_digest(expected, fields.mac1) else None

    def load_mac2(self, purse_factor: bytes, fields: LoadFields) -> bytes | None:
        sk = self._session_key(self._load, purse_factor, fields, LOAD_TYPE)
        if sk is None:
            return None
        return load_mac2(
            self._alg, sk, fields.amount_fen, LOAD_TYPE, fields.terminal_id, bytes.fromhex(fields.card_time)
        )

    def unload_macs(self, purse_factor: bytes, fields: LoadFields) -> UnloadMacs | None:
        if self._unload is None or fields.amount_fen > fields.balance_before_fen:
            return None
        sk = self._session_key(self._unload, purse_factor, fields, UNLOAD_TYPE)
        if sk is None:
            return None
        stamp = bytes.fromhex(fields.card_time)
        mac2 = load_mac2(self._alg, sk, fields.amount_fen, UNLOAD_TYPE, fields.terminal_id, stamp)
        answer = unload_mac(self._alg, sk, fields.balance_before_fen - fields.amount_fen, fields.online_counter,
                            fields.amount_fen, UNLOAD_TYPE, fields.terminal_id, stamp)  # fmt: skip
        return UnloadMacs(mac2, answer)

    def tac_matches(self, purse_factor: bytes, fields: TacFields, tac: bytes) -> bool:
        dtk = diversify(self._alg, self._tac, purse_factor)
        stamp = bytes.fromhex(fields.card_time)
        terminal = bytes.fromhex(fields.terminal_id)
        if fields.kind == "load":
            expected = load_tac(self._alg, dtk, fields.balance_after_fen, fields.card_counter, fields.amount_fen,
                                LOAD_TYPE, terminal, stamp)  # fmt: skip
        else:
            expected = purchase_tac(self._alg, dtk, fields.amount_fen, DEBIT_TYPE, terminal, fields.terminal_serial,
                                    stamp)  # fmt: skip
        return hmac.compare_digest(expected, tac)
