#!/bin/sh
# A least-privilege role for Debezium, run once by the postgres image when it initialises an empty
# data directory (/docker-entrypoint-initdb.d). k8s/postgres.yaml carries the same script.
#   debezium: LOGIN REPLICATION, SELECT on the simulator's tables (existing and future ones), and
#   write access to the heartbeat table only (Debezium's heartbeat.action.query).
# It cannot create or alter the publication (that needs table ownership): the simulator creates it
# (CDC_PUBLICATION=hospital_pub) with the 7 tables and the heartbeat table, and Debezium runs with
# publication.autocreate.mode=disabled. Idempotent: safe to run again by hand, e.g.
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-debezium-role.sh
# Environment: POSTGRES_USER, POSTGRES_DB (set by the postgres image), DEBEZIUM_PASSWORD,
# HEARTBEAT_TABLE (default debezium_heartbeat; the simulator's CDC_HEARTBEAT_TABLE).
set -eu

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v dbz_password="${DEBEZIUM_PASSWORD:-dbz}" -v heartbeat="${HEARTBEAT_TABLE:-debezium_heartbeat}" <<'SQL'
SELECT 'CREATE ROLE debezium' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'debezium') \gexec
ALTER ROLE debezium WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'dbz_password';
SELECT format('GRANT CONNECT ON DATABASE %I TO debezium', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO debezium;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO debezium;
-- Tables the simulator creates later (it connects as this same role, POSTGRES_USER).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO debezium;
-- Same shape as the simulator's CDC_HEARTBEAT_TABLE (CREATE TABLE IF NOT EXISTS there is a no-op).
CREATE TABLE IF NOT EXISTS public.:"heartbeat" (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL DEFAULT now());
GRANT SELECT, INSERT, UPDATE ON public.:"heartbeat" TO debezium;
SQL
