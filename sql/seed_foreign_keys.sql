-- Foreign keys of the given tables, with their definitions (dropped and re-added around a large seed).
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
ORDER BY 1, 2;
