"""The host's purse keys behind one interface (host-clearing.md §2-§3; pboc-purse.md §3.2-§3.4).

:class:`HostKeyStore` is what clearing and load authorisation ask: "is this TAC right for this card?" and (later)
"MAC2 for this load". Keys never leave it. :class:`DemoKeyStore` holds the public demo master keys
(``sam/data/demo-keys.json``, test and demo only); a production host puts a PC/SC host SAM or a PKCS#11 HSM behind
the same two methods (not implemented yet: docs/host.md, Status).
"""

from __future__ import annotations

import json
from typing import Protocol

from healthcard.issuance.keysource import DEMO_KEYS_PATH
from sam.crypto.algorithm import Algorithm
from sam.crypto.diversify import diversify
from sam.crypto.purse import load_tac, purchase_tac

__all__ = ["DEBIT_TYPE", "LOAD_TYPE", "DemoKeyStore", "HostKeyStore", "TacFields"]

DEBIT_TYPE = 0x06  # EP purchase (pboc-purse.md §2.3)
LOAD_TYPE = 0x02  # EP load (§2.2)


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


class HostKeyStore(Protocol):
    """The host's keys (module docstring)."""

    def tac_matches(self, purse_factor: bytes, fields: TacFields, tac: bytes) -> bool:
        """Whether ``tac`` is the card's TAC over ``fields`` (card key diversified by ``purse_factor``)."""
        ...


class DemoKeyStore:
    """The demo master keys (3DES, one level of diversification by the EF15 factor). Test and demo only."""

    def __init__(self, tac_master: bytes, algorithm: Algorithm = Algorithm.TDES) -> None:
        self._tac = tac_master
        self._alg = algorithm

    def __repr__(self) -> str:
        return "DemoKeyStore(<keys hidden>)"

    @classmethod
    def from_demo_keys(cls) -> DemoKeyStore:
        """The shipped demo key set."""
        data = json.loads(DEMO_KEYS_PATH.read_text(encoding="utf-8"))
        return cls(bytes.fromhex(data["purse_app"]["master_keys"]["tac"]))

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
        return expected == tac
