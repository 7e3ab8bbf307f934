-- A few rows per stream writer (one per event it may have in flight): the last event written to
-- each, by that event's own statement.
-- An event is one message, one transaction; when the connection drops before its reply arrives,
-- the writer reads its rows after reconnecting: the event committed if and only if its row holds
-- its sequence number (and then the row also holds its id and txid).
-- An episode (several changes, one transaction) also keeps the list of its changes here.
-- Not one of the seven tables: not in the publication the daemon creates.
CREATE TABLE IF NOT EXISTS hospital_sim_writers (
    writer     TEXT        PRIMARY KEY,
    seq        BIGINT      NOT NULL,
    pk         BIGINT      NOT NULL,
    txid       BIGINT      NOT NULL,
    changes    JSONB,      -- an episode's changes: [[table, op, id], ...]
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
) WITH (fillfactor = 50);  -- room for HOT updates: the row is rewritten by every event
-- Added only when missing (writers of other replicas may be using the table).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'hospital_sim_writers'::regclass
                   AND attname = 'changes' AND NOT attisdropped) THEN
        ALTER TABLE hospital_sim_writers ADD COLUMN changes JSONB;
    END IF;
END;
$$;
