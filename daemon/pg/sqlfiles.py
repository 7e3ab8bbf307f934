"""SQL kept in the top-level ``sql/`` folder, loaded by name.

An installed wheel carries the folder inside the package (``daemon/sql``, copied there by the
build: pyproject.toml's force-include); a source checkout reads the repository's ``sql/``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

SOURCE_SQL_DIR = Path(__file__).resolve().parents[2] / "sql"  # the repository's top-level sql/


def sql_dir() -> Traversable:
    """``daemon/sql`` inside the installed package, else the source checkout's ``sql/``."""
    packaged = resources.files("daemon") / "sql"
    if packaged.is_dir():
        return packaged
    if SOURCE_SQL_DIR.is_dir():
        return SOURCE_SQL_DIR
    raise FileNotFoundError(f"no SQL files: neither {packaged} (installed package) nor {SOURCE_SQL_DIR} (checkout)")


@cache
def load(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (sql_dir() / f"{name}.sql").read_text(encoding="utf-8")
