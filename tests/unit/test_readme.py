"""README stays true: its configuration table is the catalogue, its command table the CLI."""

from __future__ import annotations

import re

from daemon.catalogue import VARIABLES
from daemon.cli import build_parser
from tests.support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_configuration_table_matches_the_code():
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\w+) \| `([^`]*)` \| (.+?) \|$", README, re.M)
    assert [(n, t, d) for n, t, d, _ in rows] == [(n, t, d) for n, t, d, _ in VARIABLES]


def test_every_subcommand_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        assert re.search(rf"^\| `{name}\b", README, re.M), name


def test_two_commands_are_documented():
    assert "make run" in README and "make test" in README
