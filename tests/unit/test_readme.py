"""README stays true: its configuration table is the catalogue, its command table the CLI."""

from __future__ import annotations

import re

from daemon import configdocs
from daemon.catalogue import VARIABLES
from daemon.cli import COMMANDS
from tests.support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_configuration_table_matches_the_code():
    rows = re.findall(r"^\| `([A-Z_0-9]+)` \| (\w+) \| `([^`]*)` \| (.+?) \| (.+?) \|$", README, re.M)
    expected = [(v.name, v.type, v.default_text, v.allowed, v.meaning) for v in VARIABLES]
    assert rows == expected


def test_configuration_table_is_the_rendered_one():
    assert configdocs.readme_with_table(README) == README, "README's table is stale: run `make config-docs`"


def test_every_subcommand_is_documented():
    for name in COMMANDS:
        assert re.search(rf"^\| `{name}\b", README, re.M), name


def test_two_commands_are_documented():
    assert "make run" in README and "make test" in README
