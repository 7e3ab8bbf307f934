-- Least-privilege roles (run once as a superuser with psql, connected to the simulator's database, e.g.
--   psql -d hospital -v sim_password="'...'" -v dbz_password="'...'" -v dbname=hospital -f sql/roles.sql
-- optionally with -v heartbeat=<CDC_HEARTBEAT_TABLE> when it is not debezium_heartbeat).
-- hospital_sim: owns its tables (creates them at bootstrap), no superuser, no replication.
-- debezium: LOGIN REPLICATION, SELECT on the tables, and INSERT/UPDATE on the heartbeat table only
-- (Debezium runs heartbeat.action.query as this role). It cannot create or alter a publication:
-- hospital_sim creates CDC_PUBLICATION with the 7 tables and the heartbeat table, so Debezium runs
-- with publication.autocreate.mode=disabled.
\if :{?heartbeat}
\else
  \set heartbeat debezium_heartbeat
\endif

CREATE ROLE hospital_sim WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :sim_password;
CREATE ROLE debezium WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :dbz_password;

GRANT CONNECT, TEMPORARY ON DATABASE :dbname TO hospital_sim;
GRANT CONNECT ON DATABASE :dbname TO debezium;
-- The simulator creates its tables in public (PostgreSQL 15 no longer lets every role do that).
GRANT USAGE, CREATE ON SCHEMA public TO hospital_sim;
-- CREATE PUBLICATION needs CREATE on the database.
GRANT CREATE ON DATABASE :dbname TO hospital_sim;

GRANT USAGE ON SCHEMA public TO debezium;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO debezium;
ALTER DEFAULT PRIVILEGES FOR ROLE hospital_sim IN SCHEMA public GRANT SELECT ON TABLES TO debezium;

-- The heartbeat table, same shape as the simulator's CDC_HEARTBEAT_TABLE (its CREATE TABLE IF NOT
-- EXISTS is then a no-op). Owned by hospital_sim, because only a table's owner may put it in a
-- publication; debezium may write this one table and no other.
CREATE TABLE IF NOT EXISTS public.:"heartbeat" (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL DEFAULT now());
ALTER TABLE public.:"heartbeat" OWNER TO hospital_sim;
GRANT SELECT, INSERT, UPDATE ON public.:"heartbeat" TO debezium;
