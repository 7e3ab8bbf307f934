-- Tables of our schema that a publication (name as parameter) already contains.
SELECT tablename FROM pg_publication_tables WHERE pubname = %(pub)s AND schemaname = current_schema();
