-- One row per stream writer: the last event it sent, written by that event's own statement.
-- An event is one autocommit statement (one round trip); when the connection drops before its
-- result arrives, the writer reads its row after reconnecting: the event committed if and only
-- if the row holds its sequence number (and then the row also holds its id and txid).
-- Not one of the seven tables: not in the publication the daemon creates.
CREATE TABLE IF NOT EXISTS hospital_sim_writers (
    writer     TEXT        PRIMARY KEY,
    seq        BIGINT      NOT NULL,
    pk         BIGINT      NOT NULL,
    txid       BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
) WITH (fillfactor = 50);  -- room for HOT updates: the row is rewritten by every event
