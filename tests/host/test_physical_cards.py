"""A card's identity is its card number (KH) and its purse factor (docs/host.md, "A card's identity"), on both
backends: a holder's replacement card has the same KH and another factor; the v1 → v2 migration of the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.host.credits import Credits
from daemon.host.db import LedgerDb
from daemon.host.errors import CardAlreadyRegisteredError, CardStatusConflictError
from daemon.host.registry import CardStatus, Registry
from daemon.host.schema import SCHEMA_VERSION, create_schema, schema_version

KH = "110105198506150030"
OLD = "3CB6BF9E00C2C9EA"
NEW = "0001000000000002"


def _issue(reg: Registry, factor: str, *, balance: int = 0, observed: bool = False) -> tuple[object, bool]:
    return reg.register(
        card_number=KH, masked_id="110105********0030", institution="H001", purse_factor=factor,
        opening_balance_fen=balance, operator_id="op-1", client="test", observed=observed,
    )  # fmt: skip


def test_one_current_card_per_holder_and_a_second_card_only_through_replacement(ledger: LedgerDb) -> None:
    reg = Registry(ledger)
    _issue(reg, OLD, balance=1000)
    with pytest.raises(CardAlreadyRegisteredError):  # a second card while the first is current
        _issue(reg, NEW)
    seen, created = _issue(reg, NEW, observed=True)  # a daemon saw the new chip: the registered card wins
    assert not created and getattr(seen, "purse_factor", "") == OLD
    assert [c.purse_factor for c in reg.cards_of(KH)] == [OLD]
    reg.change_status(KH, CardStatus.LOST, operator_id="op-2", reason="holder phoned", client="c")
    with pytest.raises(CardAlreadyRegisteredError):  # LOST is still current: 补卡 replaces it
        _issue(reg, NEW)
    old, credit = Credits(ledger, reg, wait_s=0).replace(
        old_card_number=KH, new_card_number=KH, new_purse_factor=NEW, operator_id="op-3", reason="补卡", client="c"
    )
    assert old.status is CardStatus.REPLACED and (old.replaced_by, old.replaced_by_factor) == (KH, NEW)
    assert credit is not None and (credit.card_number, credit.purse_factor, credit.amount_fen) == (KH, NEW, 1000)
    current = reg.get(KH)
    assert (current.purse_factor, current.status, current.masked_id) == (NEW, CardStatus.ISSUED, "110105********0030")
    assert reg.get(KH, OLD.lower()).status is CardStatus.REPLACED and reg.get(KH, OLD).shadow_balance_fen == 0
    assert [c.purse_factor for c in reg.cards_of(KH)] == [OLD, NEW]
    listed = reg.blacklist_since(0)
    assert [(c.card_number, c.purse_factor, c.listed, c.status) for c in listed] == [
        (KH, OLD, True, CardStatus.LOST), (KH, OLD, True, CardStatus.REPLACED)]  # fmt: skip
    # the old card's status changes and the new card's registration are each card's own history
    assert [h.to_status for h in reg.history(KH, OLD)] == [CardStatus.ISSUED, CardStatus.LOST, CardStatus.REPLACED]
    assert [h.to_status for h in reg.history(KH, NEW)] == [CardStatus.ISSUED]
    # a KH-only status change means the current card: 挂失 of the new card leaves the old one as it was
    lost, _ = reg.change_status(KH, CardStatus.LOST, operator_id="op-4", reason="lost again", client="c")
    assert lost.purse_factor == NEW and reg.get(KH, OLD).status is CardStatus.REPLACED
    with pytest.raises(CardStatusConflictError):  # REPLACED is final, also when named by its factor
        reg.change_status(KH, CardStatus.ISSUED, operator_id="op", reason="r", client="c", purse_factor=OLD)


def test_a_repeated_replacement_answers_the_same_and_moves_nothing_twice(ledger: LedgerDb) -> None:
    reg = Registry(ledger)
    _issue(reg, OLD, balance=750)
    reg.change_status(KH, CardStatus.LOST, operator_id="op", reason="lost", client="c")
    credits = Credits(ledger, reg, wait_s=0)
    args = {"old_card_number": KH, "new_card_number": KH, "new_purse_factor": NEW, "operator_id": "op",
            "reason": "补卡", "client": "c"}  # fmt: skip
    first = credits.replace(**args)  # type: ignore[arg-type]
    second = credits.replace(old_purse_factor=OLD, **args)  # type: ignore[arg-type]
    assert first[1] == second[1] and second[0].status is CardStatus.REPLACED
    total = ledger.query("SELECT COUNT(*) AS n, SUM(amount_fen) AS s FROM credits")[0]
    assert (int(total["n"]), int(total["s"])) == (1, 750)
    with pytest.raises(Exception, match="new_purse_factor"):  # the same holder needs the new chip's factor
        credits.replace(**{**args, "new_purse_factor": ""})  # type: ignore[arg-type]


def _v1_ledger(db: LedgerDb) -> None:
    """A version-1 ledger as healthcard-host wrote it before the re-keying (the DDL it shipped)."""
    script = (Path(__file__).parent / "ledger_v1.sql").read_text(encoding="utf-8")
    db.executescript(db.dialect.schema(script))
    at = "2026-12-01T08:00:00.000000+00:00"
    with db.transaction() as cur:
        cur.execute("INSERT INTO host_meta (key, value) VALUES ('schema_version', '1')")
        for number, factor, status, replaced_by, shadow in (
            ("KH1", OLD, "REPLACED", "KH2", 0),
            ("KH2", NEW, "ISSUED", "", 900),
            ("KH3", "00010000000000AA", "CANCELLED", "", 0),
        ):
            cur.execute(
                "INSERT INTO cards (card_number, masked_id, institution, purse_factor, status, replaced_by,"
                " opening_balance_fen, shadow_balance_fen, registered_at, registered_by)"
                " VALUES (?, '1101**********0030', 'H001', ?, ?, ?, 1000, ?, ?, 'op')",
                (number, factor, status, replaced_by, shadow, at),
            )
            cur.execute(
                "INSERT INTO card_events (card_number, from_status, to_status, operator_id, reason, client,"
                " changed_at) VALUES (?, 'ISSUED', ?, 'op', 'r', 'c', ?)",
                (number, status, at),
            )
        cur.execute("INSERT INTO blacklist (card_number, listed, status, changed_at) VALUES ('KH1', 1, 'LOST', ?)",
                    (at,))  # fmt: skip
        for i, (number, amount) in enumerate((("KH1", 100), ("KH2", 100), ("GHOST", 5))):
            cur.execute(
                "INSERT INTO ledger (node_id, transaction_id, kind, card_number, amount_fen, balance_before_fen,"
                " balance_after_fen, card_counter, terminal_id, terminal_serial, tac, card_time, transaction_time,"
                " business_date, merchant_id, operator_id, order_id, tac_status, received_at) VALUES ('n', ?,"
                " 'debit', ?, ?, 1000, ?, ?, '000000000001', ?, '', '20261201080000', ?, '2026-12-01', '', '', '',"
                " 'VERIFIED', ?)",
                (f"t{i}", number, amount, 1000 - amount, i, i, at, at),
            )
        cur.execute(
            "INSERT INTO load_authorisations (node_id, card_number, amount_fen, balance_before_fen, online_counter,"
            " terminal_id, card_time, authorised_at) VALUES ('n', 'KH2', 1000, 0, 0, '000000000001',"
            " '20261201080000', ?)",
            (at,),
        )
        cur.execute(
            "INSERT INTO credits (card_number, kind, amount_fen, reference, operator_id, reason, request_id,"
            " created_at) VALUES ('KH2', 'TRANSFER', 1000, 'KH1', 'op', 'r', 'transfer:KH1', ?)",
            (at,),
        )
        cur.execute(
            "INSERT INTO payouts (card_number, amount_fen, operator_id, reason, paid_at) VALUES ('KH3', 1000, 'op',"
            " 'r', ?)",
            (at,),
        )


def test_a_version_1_ledger_is_migrated_in_place_and_keeps_everything(ledger_url: str) -> None:
    from daemon.host.db import open_ledger  # noqa: PLC0415

    db = open_ledger(ledger_url)
    try:
        _v1_ledger(db)
        assert schema_version(db) == 1
        create_schema(db)
        create_schema(db)  # a second start: nothing to do
        assert schema_version(db) == SCHEMA_VERSION == 4
        reg = Registry(db)
        kh1, kh2 = reg.get("KH1"), reg.get("KH2")
        assert (kh1.purse_factor, kh1.status, kh1.replaced_by, kh1.replaced_by_factor) == (
            OLD, CardStatus.REPLACED, "KH2", NEW)  # fmt: skip
        assert (kh2.purse_factor, kh2.shadow_balance_fen, kh2.opening_balance_fen) == (NEW, 900, 1000)
        assert [h.to_status for h in reg.history("KH1", OLD)] == [CardStatus.REPLACED]
        assert [(c.card_number, c.purse_factor) for c in reg.blacklist_since(0)] == [("KH1", OLD)]
        rows = db.query("SELECT card_number, purse_factor FROM ledger ORDER BY entry_id")
        assert [(r["card_number"], r["purse_factor"]) for r in rows] == [("KH1", OLD), ("KH2", NEW), ("GHOST", "")]
        assert db.query("SELECT purse_factor FROM load_authorisations")[0]["purse_factor"] == NEW
        assert db.query("SELECT purse_factor, amount_fen FROM credits")[0]["purse_factor"] == NEW
        payout = db.query("SELECT payout_id, purse_factor FROM payouts")[0]
        assert (int(payout["payout_id"]), payout["purse_factor"]) == (1, "00010000000000AA")
        # the migrated ledger works as a new one: auto-numbered keys go on, the holder of KH3 gets a new card
        reg.register(card_number="KH3", masked_id="1101**********0030", institution="H001",
                     purse_factor="00010000000000BB", opening_balance_fen=0, operator_id="op", client="c")  # fmt: skip
        reg.change_status("KH3", CardStatus.LOST, operator_id="op", reason="r", client="c")
        assert reg.blacklist_version() == 2
        Credits(db, reg, wait_s=0).cancel(card_number="KH3", operator_id="op", reason="r", client="c")
        assert [int(r["payout_id"]) for r in db.query("SELECT payout_id FROM payouts ORDER BY payout_id")] == [1, 2]
        with db.transaction() as cur:  # version 3: the ledger takes unloads (圈提), and its numbering goes on
            cur.execute(
                "INSERT INTO ledger (node_id, transaction_id, kind, card_number, purse_factor, amount_fen,"
                " balance_before_fen, balance_after_fen, card_counter, terminal_id, terminal_serial, tac, card_time,"
                " transaction_time, business_date, merchant_id, operator_id, order_id, tac_status, received_at)"
                " VALUES ('n', 'u1', 'unload', 'KH2', ?, 900, 900, 0, 1, '000000000001', 0, '', '20261201080000',"
                " '', '2026-12-01', '', 'op', '', 'MISSING', '')",
                (NEW,),
            )
        rows = db.query("SELECT entry_id, kind FROM ledger ORDER BY entry_id")
        assert [(int(r["entry_id"]), r["kind"]) for r in rows][-2:] == [(3, "debit"), (4, "unload")]
    finally:
        db.close()
