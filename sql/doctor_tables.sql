-- Per table of ours: exists, replica identity (d default, f full, n nothing, i index), has a primary key.
SELECT t.name,
       c.oid IS NOT NULL AS present,
       c.relreplident AS replica_identity,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS has_pk
FROM unnest(%(tables)s::text[]) AS t(name)
LEFT JOIN pg_class c ON c.relname = t.name AND c.relnamespace = current_schema()::regnamespace;
