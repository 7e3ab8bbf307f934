-- Least-privilege roles (run as a superuser with psql, e.g.
--   psql -v sim_password="'...'" -v dbz_password="'...'" -v dbname=hospital -f sql/roles.sql).
-- hospital_sim: owns its tables (creates them at bootstrap), no superuser, no replication.
-- debezium: LOGIN REPLICATION and SELECT only; the publication is created by hospital_sim
-- (CDC_PUBLICATION), so Debezium runs with publication.autocreate.mode=disabled.

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
