"""HIS quick start: the examples of docs/api.md, runnable (tests/api/test_docs_examples.py runs this file).

Uses the in-process demo card and virtual SAM; with a real reader replace ``open_virtual_session()`` by
``open_pcsc_session("Reader name", sam_reader="SAM reader name", sam_pin="…")``.
"""

from __future__ import annotations

import datetime as dt
import json

from apdu.errors import HealthCardError, InsufficientFundsError
from healthcard.api import PreparedDebit, PurchaseResult, Section, open_virtual_session
from healthcard.api.dllcompat import HealthCardDll
from healthcard.codecs import Allergy, InpatientRecord


class PrintJournal:
    """A purchase journal: keep ``prepared`` durably before the card is debited (here: in memory)."""

    def __init__(self) -> None:
        self.open: PreparedDebit | None = None

    def prepared(self, prepared: PreparedDebit) -> None:
        self.open = prepared

    def debited(self, result: PurchaseResult) -> None:
        self.open = None


def main() -> dict[str, object]:
    """Run the examples; returns what they produced (checked by the test)."""
    out: dict[str, object] = {}

    # 1. Read identity and everything, typed and as JSON
    with open_virtual_session() as s:
        data = s.read({Section.HOLDER})
        assert data.holder is not None
        out["name"] = data.holder.name
        everything = s.read_all()
        out["json_keys"] = list(everything.to_json())
        out["json"] = json.dumps(everything.to_json(), ensure_ascii=False)[:80]

        # 2. Write: change a phone number, append an allergy, record an in-patient stay and sign it
        s.update({"validity": {"phone2": "010-88886666"}})  # only phone2 changes: the other fields are kept
        s.append_allergy(Allergy("花生", "呼吸困难"))
        slot = s.add_visit(InpatientRecord(1, items={64: "北京协和医院", 66: "20250301"}))  # signed by the SAM
        out["signed"] = s.verify_visit(s.read_visit(True, slot))

        # 3. Purse: balance, debit with a journal, recovery, load
        journal = PrintJournal()
        before = s.balance()
        paid = s.debit(1_250, journal=journal, when=dt.datetime(2025, 3, 1, 9, 30))
        out["debit"] = (before, paid.balance_fen, paid.tac)
        out["recovered"] = (
            s.recover_purchase(  # e.g. after a crash between prepared() and debited()
                PreparedDebit(
                    s.card_number, 1_250, before, paid.card_counter, paid.terminal_id, paid.terminal_serial, paid.when
                )
            )
            is not None
        )
        try:
            s.debit(10_000_000)
        except InsufficientFundsError as exc:
            out["error"] = (exc.layer.value, f"{exc.sw:04X}", exc.info.chinese)
        out["loaded"] = s.load(5_000).balance_fen

        # 4. Porting from the reader DLL: same names, field codes and value forms
        dll = HealthCardDll(s)
        code, ef06 = dll.iR_DDF1EF06Info()
        out["dll"] = (code, ef06["XM"].decode("gbk") if isinstance(ef06["XM"], bytes) else "")
    return out


if __name__ == "__main__":
    try:
        for key, value in main().items():
            print(f"{key}: {value}")
    except HealthCardError as error:
        print(f"failed in the {error.layer.value} layer: {error}")
