-- The current shape of faturamento, as the schema changes (STREAM_DDL_EVERY_SECONDS) left it:
-- its live columns with a VARCHAR's width (NULL for other types), and the status enum's labels
-- with their sort order (a label added AFTER another sorts between, e.g. 3.5).
-- Read by daemon/stream/kinds/shape.py; no rows when the table does not exist.
SELECT 'column' AS what, a.attname::text AS name,
       CASE WHEN a.atttypid = 'varchar'::regtype AND a.atttypmod > 0 THEN (a.atttypmod - 4)::float8 END AS width
FROM pg_attribute a
WHERE a.attrelid = to_regclass('faturamento') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'label', e.enumlabel::text, e.enumsortorder::float8
FROM pg_enum e
WHERE e.enumtypid = to_regtype('status_guia');
