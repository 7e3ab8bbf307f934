-- LEDGER_TABLE: one row per committed change, inserted by the change's own statement (same
-- transaction, same round trip), so it is exact by construction and shared by every replica.
-- committed_at is the transaction's start (now()); txid matches Debezium's source.txId modulo 2^32.
CREATE TABLE IF NOT EXISTS {table} (
    id              BIGSERIAL   PRIMARY KEY,
    tbl             TEXT        NOT NULL,
    op              TEXT        NOT NULL,
    pk              BIGINT      NOT NULL,
    txid            BIGINT      NOT NULL DEFAULT txid_current(),
    episode         TEXT,
    unchanged_toast TEXT[],
    detail          JSONB,      -- what a change of no row says about itself (ddl, truncate, message)
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Tables made before ``detail`` existed get it; checked first, since ALTER TABLE would lock the
-- table that other replicas' events are writing to.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = {regclass}::regclass AND attname = 'detail' AND NOT attisdropped) THEN
        ALTER TABLE {table} ADD COLUMN detail JSONB;
    END IF;
END;
$$
