"""PostgreSQL access: connections, retry, COPY, schema, SQL files and the local cluster."""
