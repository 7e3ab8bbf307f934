"""Event kinds: inserts, updates and deletes, each one transaction."""
