-- Server facts Debezium's PostgreSQL connector depends on.
SELECT current_setting('wal_level') AS wal_level,
       current_setting('max_replication_slots')::int AS max_slots,
       (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
       current_setting('max_wal_senders')::int AS max_senders,
       (SELECT count(*) FROM pg_stat_replication)::int AS used_senders,
       pg_encoding_to_char(encoding) AS encoding,
       current_setting('server_version_num')::int AS version_num
FROM pg_database WHERE datname = current_database();
