-- Tables of our schema that a publication (name as parameter) already contains: its explicit
-- members (a partitioned table is one even before it has partitions, and pg_publication_tables
-- lists its partitions instead unless publish_via_partition_root), and every table it publishes
-- (FOR ALL TABLES has no explicit members).
SELECT c.relname
FROM pg_publication_rel r
JOIN pg_publication p ON p.oid = r.prpubid
JOIN pg_class c ON c.oid = r.prrelid
WHERE p.pubname = %(pub)s AND c.relnamespace = current_schema()::regnamespace
UNION
SELECT tablename FROM pg_publication_tables WHERE pubname = %(pub)s AND schemaname = current_schema();
