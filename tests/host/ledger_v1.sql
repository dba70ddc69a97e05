-- The host ledger's schema version 1 as shipped before the re-keying by physical card (issue #12, 补卡):
-- the migration test builds a v1 ledger with it. {id} is the dialect's auto-numbered key.
CREATE TABLE IF NOT EXISTS host_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    card_number         TEXT PRIMARY KEY,
    masked_id           TEXT NOT NULL,
    institution         TEXT NOT NULL,
    purse_factor        TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('ISSUED', 'LOST', 'REPLACED', 'CANCELLED')),
    replaced_by         TEXT NOT NULL DEFAULT '',
    opening_balance_fen BIGINT NOT NULL CHECK (opening_balance_fen >= 0),
    shadow_balance_fen  BIGINT NOT NULL,
    registered_at       TEXT NOT NULL,
    registered_by       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS card_events (
    event_id    {id},
    card_number TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    client      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_events_card ON card_events (card_number, event_id);
CREATE TABLE IF NOT EXISTS blacklist (
    version     {id},
    card_number TEXT NOT NULL,
    listed      INTEGER NOT NULL CHECK (listed IN (0, 1)),
    status      TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    entry_id           {id},
    node_id            TEXT NOT NULL,
    transaction_id     TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('debit', 'load')),
    card_number        TEXT NOT NULL,
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
CREATE INDEX IF NOT EXISTS ledger_card ON ledger (card_number, entry_id);
CREATE INDEX IF NOT EXISTS ledger_card_counter ON ledger (card_number, kind, card_counter);
CREATE INDEX IF NOT EXISTS ledger_card_time ON ledger (card_number, transaction_time);
CREATE INDEX IF NOT EXISTS ledger_day ON ledger (business_date);
CREATE INDEX IF NOT EXISTS ledger_node ON ledger (node_id, received_at);
CREATE TABLE IF NOT EXISTS load_authorisations (
    authorisation_id {id},
    node_id          TEXT NOT NULL,
    card_number      TEXT NOT NULL,
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
    kind        TEXT NOT NULL CHECK (kind IN ('REFUND', 'TRANSFER')),
    amount_fen  BIGINT NOT NULL CHECK (amount_fen > 0),
    reference   TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request_id  TEXT NOT NULL UNIQUE,
    authorisation_id BIGINT,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credits_card ON credits (card_number, credit_id);
CREATE INDEX IF NOT EXISTS credits_reference ON credits (reference);
CREATE TABLE IF NOT EXISTS payouts (
    payout_id   {id},
    card_number TEXT NOT NULL UNIQUE,
    amount_fen  BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    reason      TEXT NOT NULL,
    paid_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS load_authorisations_card ON load_authorisations (card_number, online_counter)
