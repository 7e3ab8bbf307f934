"""Hospital OLTP simulator: keeps PostgreSQL busy with Brazilian hospital traffic for CDC tests."""

__version__ = "0.1.0"
