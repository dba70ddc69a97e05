"""The host ledger's tables (portable SQL; ``{id}`` is the dialect's auto-numbered key, :mod:`daemon.host.db`).

A **physical card** is identified by its card number (KH) **and** its purse diversification factor (EF15 bytes
12..19, unique per chip: it derives from the chip's cardNo). For the resident health card the KH is the holder's
ID number, so a replacement card for the same holder has the same KH and another factor (docs/host.md, "A card's
identity"). Every table that names a card carries both columns.

* ``cards`` — the registry: one row per physical card (key: KH + factor), its status and (filled by uploads) its
  shadow balance. At most one card per KH is *current* (ISSUED or LOST): the partial unique index ``cards_current``.
* ``card_events`` — every status change with operator, reason, client and time (kept; hospitals keep these
  records for at least a year, so the host never deletes them).
* ``blacklist`` — the list's change log; ``version`` orders the changes a daemon follows (WatchBlacklist).
* ``ledger`` — every uploaded transaction, once per (node, journal id), with the host's TAC verdict.
* ``load_authorisations`` — every MAC2 the host gave (the load is booked when its upload arrives);
  ``unload_authorisations`` — every unload MAC2, with the answer MAC the card must give (checked at the upload).
* ``holders`` — the holder's data a daemon issued onto the holder's card, per KH, and ``visit_records`` — the
  visit records daemons wrote onto each physical card (personal data, for 补卡: only the issuer and admin roles
  read them; never logged).
* ``credits`` — money the host owes a card (a refund, a replaced card's balance), paid by its next load of that
  amount; ``payouts`` — balances paid out at cancellation.

Times are ISO-8601 UTC text with microseconds (sortable, identical in both engines); money is BIGINT fen.

Schema versions (``host_meta.schema_version``): 1 keyed cards by KH alone; 2 keys them by KH + purse factor; 3 adds
the ledger kind ``unload`` and ``unload_authorisations`` (圈提 with the card present); 4 gives ``visit_records`` the
uploaded signature, signer key and the status the host's check found (rows from before read ``UNSIGNED``: never
returned for 补卡). :func:`create_schema` migrates an older ledger in place (:func:`_migrate_1_to_2`,
:func:`_migrate_2_to_3`, :func:`_migrate_3_to_4`), on both engines.
"""

from __future__ import annotations

from apdu.errors import DataError
from daemon.host.db import Cursor, Dialect, LedgerDb

__all__ = ["SCHEMA_VERSION", "create_schema", "schema_version"]

SCHEMA_VERSION = 4

#: The registry table (``{table}``: also built under another name by the migration).
_CARDS = """
CREATE TABLE IF NOT EXISTS {table} (
    card_number         TEXT NOT NULL,
    masked_id           TEXT NOT NULL,
    institution         TEXT NOT NULL,
    purse_factor        TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('ISSUED', 'LOST', 'REPLACED', 'CANCELLED')),
    replaced_by         TEXT NOT NULL DEFAULT '',
    opening_balance_fen BIGINT NOT NULL CHECK (opening_balance_fen >= 0),
    shadow_balance_fen  BIGINT NOT NULL,
    registered_at       TEXT NOT NULL,
    registered_by       TEXT NOT NULL,
    replaced_by_factor  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (card_number, purse_factor)
);
"""
_PAYOUTS = """
CREATE TABLE IF NOT EXISTS {table} (
    payout_id   {id},
    card_number TEXT NOT NULL,
    purse_factor TEXT NOT NULL DEFAULT '',
    amount_fen  BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    paid_at     TEXT NOT NULL,
    UNIQUE (card_number, purse_factor)
);
"""

#: The ledger (``{table}``: also built under another name by the migration to version 3 on SQLite).
_LEDGER = """
CREATE TABLE IF NOT EXISTS {table} (
    entry_id           {id},
    node_id            TEXT NOT NULL,
    transaction_id     TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('debit', 'load', 'unload')),
    card_number        TEXT NOT NULL,
    purse_factor       TEXT NOT NULL DEFAULT '',
    amount_fen         BIGINT NOT NULL CHECK (amount_fen > 0),
    balance_before_fen BIGINT NOT NULL,
    balance_after_fen  BIGINT NOT NULL,
    card_counter       BIGINT NOT NULL,
    terminal_id        TEXT NOT NULL,
    terminal_serial    BIGINT NOT NULL,
    tac                TEXT NOT NULL,
    card_time          TEXT NOT NULL,
    transaction_time   TEXT NOT NULL,
    business_date      TEXT NOT NULL,
    merchant_id        TEXT NOT NULL,
    operator_id        TEXT NOT NULL,
    order_id           TEXT NOT NULL,
    tac_status         TEXT NOT NULL CHECK (tac_status IN ('VERIFIED', 'FAILED', 'MISSING', 'UNKNOWN_CARD')),
    received_at        TEXT NOT NULL,
    UNIQUE (node_id, transaction_id)
);
"""
_LEDGER_COLUMNS = (
    "entry_id, node_id, transaction_id, kind, card_number, purse_factor, amount_fen, balance_before_fen,"
    " balance_after_fen, card_counter, terminal_id, terminal_serial, tac, card_time, transaction_time, business_date,"
    " merchant_id, operator_id, order_id, tac_status, received_at"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{cards}
CREATE UNIQUE INDEX IF NOT EXISTS cards_current ON cards (card_number) WHERE status IN ('ISSUED', 'LOST');
CREATE TABLE IF NOT EXISTS card_events (
    event_id    {id},
    card_number TEXT NOT NULL,
    purse_factor TEXT NOT NULL DEFAULT '',
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    client      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_events_card ON card_events (card_number, purse_factor, event_id);
CREATE TABLE IF NOT EXISTS blacklist (
    version     {id},
    card_number TEXT NOT NULL,
    purse_factor TEXT NOT NULL DEFAULT '',
    listed      INTEGER NOT NULL CHECK (listed IN (0, 1)),
    status      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
{ledger}
CREATE INDEX IF NOT EXISTS ledger_card ON ledger (card_number, purse_factor, entry_id);
CREATE INDEX IF NOT EXISTS ledger_card_counter ON ledger (card_number, purse_factor, kind, card_counter);
CREATE INDEX IF NOT EXISTS ledger_card_time ON ledger (card_number, purse_factor, transaction_time);
CREATE INDEX IF NOT EXISTS ledger_day ON ledger (business_date);
CREATE INDEX IF NOT EXISTS ledger_node ON ledger (node_id, received_at);
CREATE TABLE IF NOT EXISTS load_authorisations (
    authorisation_id {id},
    node_id          TEXT NOT NULL,
    card_number      TEXT NOT NULL,
    purse_factor     TEXT NOT NULL DEFAULT '',
    amount_fen       BIGINT NOT NULL,
    balance_before_fen BIGINT NOT NULL,
    online_counter   BIGINT NOT NULL,
    terminal_id      TEXT NOT NULL,
    card_time        TEXT NOT NULL,
    authorised_at    TEXT NOT NULL,
    credit_id        BIGINT
);
CREATE TABLE IF NOT EXISTS credits (
    credit_id   {id},
    card_number TEXT NOT NULL,
    purse_factor TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL CHECK (kind IN ('REFUND', 'TRANSFER')),
    amount_fen  BIGINT NOT NULL CHECK (amount_fen > 0),
    reference   TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request_id  TEXT NOT NULL UNIQUE,
    authorisation_id BIGINT,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credits_card ON credits (card_number, purse_factor, credit_id);
CREATE INDEX IF NOT EXISTS credits_reference ON credits (reference);
CREATE TABLE IF NOT EXISTS visit_records (
    record_id    {id},
    node_id      TEXT NOT NULL,
    record_key   TEXT NOT NULL,
    card_number  TEXT NOT NULL,
    purse_factor TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('inpatient', 'outpatient')),
    slot         BIGINT NOT NULL,
    items        TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    signature    TEXT NOT NULL DEFAULT '',
    signer_key   TEXT NOT NULL DEFAULT '',
    signature_status TEXT NOT NULL DEFAULT 'unsigned',
    UNIQUE (node_id, record_key)
);
CREATE INDEX IF NOT EXISTS visit_records_card ON visit_records (card_number, purse_factor, record_id);
CREATE TABLE IF NOT EXISTS holders (
    card_number TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
{payouts}
CREATE TABLE IF NOT EXISTS unload_authorisations (
    authorisation_id {id},
    node_id          TEXT NOT NULL,
    card_number      TEXT NOT NULL,
    purse_factor     TEXT NOT NULL,
    amount_fen       BIGINT NOT NULL CHECK (amount_fen > 0),
    balance_before_fen BIGINT NOT NULL,
    online_counter   BIGINT NOT NULL,
    terminal_id      TEXT NOT NULL,
    card_time        TEXT NOT NULL,
    answer_mac       TEXT NOT NULL,
    authorised_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unload_authorisations_card ON unload_authorisations (card_number, purse_factor,
    online_counter);
CREATE INDEX IF NOT EXISTS load_authorisations_card ON load_authorisations (card_number, purse_factor,
    online_counter)
"""


def _schema() -> str:
    return (
        _SCHEMA.replace("{cards}", _CARDS.replace("{table}", "cards"))
        .replace("{payouts}", _PAYOUTS.replace("{table}", "payouts"))
        .replace("{ledger}", _LEDGER.replace("{table}", "ledger"))
    )


#: Version-1 tables that name a card by KH alone: they gain the card's purse factor (taken from ``cards``).
_FACTOR_TABLES = ("card_events", "blacklist", "ledger", "load_authorisations", "credits")
#: Version-1 indexes that version 2 redefines with the factor (dropped, then created by the schema script).
_V1_INDEXES = ("card_events_card", "ledger_card", "ledger_card_counter", "ledger_card_time", "credits_card",
               "load_authorisations_card")  # fmt: skip
_CARD_COLUMNS = (
    "card_number, masked_id, institution, purse_factor, status, replaced_by, opening_balance_fen,"
    " shadow_balance_fen, registered_at, registered_by"
)


def _migrate_1_to_2(cur: Cursor, dialect: Dialect) -> None:
    """Re-key a version-1 ledger by physical card (KH + purse factor), in place, in the caller's transaction.

    Every row keeps its values; rows naming a card get that card's factor (a v1 KH had exactly one card), rows of
    a card the registry never knew (an ``UNKNOWN_CARD`` upload) get ``''``. ``cards`` and (SQLite) ``payouts``
    are rebuilt: their keys change, and SQLite cannot change a table's key in place.
    """
    for index in _V1_INDEXES:
        cur.execute(f"DROP INDEX IF EXISTS {index}")
    for table in _FACTOR_TABLES:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN purse_factor TEXT NOT NULL DEFAULT ''")
        cur.execute(
            f"UPDATE {table} SET purse_factor = COALESCE((SELECT c.purse_factor FROM cards c"  # noqa: S608 - constants
            f" WHERE c.card_number = {table}.card_number), '')"
        )
    cur.execute(dialect.schema(_CARDS.replace("{table}", "cards_v2")))
    cur.execute(
        f"INSERT INTO cards_v2 ({_CARD_COLUMNS}, replaced_by_factor) SELECT {_CARD_COLUMNS},"  # noqa: S608
        " COALESCE((SELECT n.purse_factor FROM cards n WHERE n.card_number = cards.replaced_by), '') FROM cards"
    )
    cur.execute("DROP TABLE cards")
    cur.execute("ALTER TABLE cards_v2 RENAME TO cards")
    if dialect.postgres:
        cur.execute("ALTER TABLE payouts ADD COLUMN purse_factor TEXT NOT NULL DEFAULT ''")
        cur.execute("ALTER TABLE payouts DROP CONSTRAINT payouts_card_number_key")
        cur.execute("ALTER TABLE payouts ADD CONSTRAINT payouts_card_number_purse_factor_key UNIQUE (card_number,"
                    " purse_factor)")  # fmt: skip
    else:
        cur.execute(dialect.schema(_PAYOUTS.replace("{table}", "payouts_v2")))
        cur.execute(
            "INSERT INTO payouts_v2 (payout_id, card_number, purse_factor, amount_fen, operator_id, reason, paid_at)"
            " SELECT p.payout_id, p.card_number, COALESCE((SELECT c.purse_factor FROM cards c WHERE c.card_number ="
            " p.card_number), ''), p.amount_fen, p.operator_id, p.reason, p.paid_at FROM payouts p"
        )
        cur.execute("DROP TABLE payouts")
        cur.execute("ALTER TABLE payouts_v2 RENAME TO payouts")
    cur.execute(
        "UPDATE payouts SET purse_factor = COALESCE((SELECT c.purse_factor FROM cards c WHERE c.card_number ="
        " payouts.card_number), '')"
    )


def _migrate_2_to_3(cur: Cursor, dialect: Dialect) -> None:
    """Let the ledger's ``kind`` be ``'unload'`` (圈提 with the card present, issue #12), in the caller's transaction.

    PostgreSQL replaces the column's CHECK constraint; SQLite cannot change one in place, so the ledger is rebuilt
    (every row copied with its ``entry_id``; the indexes are created again by the schema script). The new
    ``unload_authorisations`` table is created by the schema script like any missing table.
    """
    if dialect.postgres:
        cur.execute("ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check")
        cur.execute("ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check CHECK (kind IN ('debit', 'load', 'unload'))")
        return
    cur.execute(dialect.schema(_LEDGER.replace("{table}", "ledger_v3")))
    cur.execute(f"INSERT INTO ledger_v3 ({_LEDGER_COLUMNS}) SELECT {_LEDGER_COLUMNS} FROM ledger")  # noqa: S608
    cur.execute("DROP TABLE ledger")
    cur.execute("ALTER TABLE ledger_v3 RENAME TO ledger")


def _migrate_3_to_4(cur: Cursor, dialect: Dialect) -> None:
    """Give an existing ``visit_records`` the signature columns (its rows read ``UNSIGNED``), in the caller's
    transaction; a ledger without the table gets it whole from the schema script."""
    if dialect.postgres:
        exists = cur.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'visit_records'")
    else:
        exists = cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'visit_records'")
    if not exists:
        return
    for column, default in (("signature", "''"), ("signer_key", "''"), ("signature_status", "'unsigned'")):
        cur.execute(f"ALTER TABLE visit_records ADD COLUMN {column} TEXT NOT NULL DEFAULT {default}")


def schema_version(db: LedgerDb) -> int:
    """The ledger's schema version (0: an empty database)."""
    db.executescript("CREATE TABLE IF NOT EXISTS host_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    rows = db.query("SELECT value FROM host_meta WHERE key = 'schema_version'")
    return int(rows[0]["value"]) if rows else 0


def create_schema(db: LedgerDb) -> None:
    """Create the tables that do not exist yet, migrating an older ledger first, and record the schema version.

    The migration runs in one transaction that first locks the version row, so two host processes starting on
    the same PostgreSQL migrate once; a newer ledger than this code knows is refused (:class:`DataError`).
    """
    if schema_version(db) > SCHEMA_VERSION:
        raise DataError(f"the ledger's schema is newer than this healthcard-host ({SCHEMA_VERSION})",
                        field="database")  # fmt: skip
    with db.transaction() as cur:
        rows = cur.execute("SELECT value FROM host_meta WHERE key = 'schema_version'{for_update}")
        version = int(rows[0]["value"]) if rows else SCHEMA_VERSION
        if version == 1:
            _migrate_1_to_2(cur, db.dialect)
        if version in (1, 2):
            _migrate_2_to_3(cur, db.dialect)
        if version in (1, 2, 3):
            _migrate_3_to_4(cur, db.dialect)
        if version < SCHEMA_VERSION:
            cur.execute("UPDATE host_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    db.executescript(db.dialect.schema(_schema()))
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO host_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )
