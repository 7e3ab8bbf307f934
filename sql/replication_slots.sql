-- Replication slots of this database: who is attached and how much WAL each still holds back.
SELECT slot_name, plugin, slot_type, active,
       COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint AS lag_bytes
FROM pg_replication_slots WHERE database = current_database() OR database IS NULL ORDER BY slot_name;
