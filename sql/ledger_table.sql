-- LEDGER_TABLE: one row per committed change, inserted by the change's own statement (same
-- transaction, same round trip), so it is exact by construction and shared by every replica.
-- committed_at is the transaction's start (now()); txid matches Debezium's source.txId modulo 2^32.
CREATE TABLE IF NOT EXISTS {} (
    id              BIGSERIAL   PRIMARY KEY,
    tbl             TEXT        NOT NULL,
    op              TEXT        NOT NULL,
    pk              BIGINT      NOT NULL,
    txid            BIGINT      NOT NULL DEFAULT txid_current(),
    episode         TEXT,
    unchanged_toast TEXT[],
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
)
