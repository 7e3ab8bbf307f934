"""requirements.lock (the image's hash-pinned dependencies) matches requirements.txt; `make lock` refreshes it."""

from __future__ import annotations

import re

import pytest

from tests.support import REPO
from tests.support.lockfile import lock_problems, parse_lock

REQUIREMENTS = (REPO / "requirements.txt").read_text(encoding="utf-8")
LOCK = (REPO / "requirements.lock").read_text(encoding="utf-8")


def test_the_lock_matches_requirements_txt() -> None:
    assert lock_problems(REQUIREMENTS, LOCK) == [], "requirements.lock is stale: run `make lock`"
    pins, _ = parse_lock(LOCK)
    assert {"psycopg2-binary", "environs", "marshmallow", "loguru"} <= set(pins)
    assert "make lock" in LOCK.splitlines()[1], "the header names the command that refreshes it"


def without_entry(text: str, name: str) -> str:
    """``text`` without the pin of ``name`` and its hash and via lines."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "".join(lines[:start] + lines[end:])


@pytest.mark.parametrize(
    ("requirements", "lock", "expected"),
    [
        # a requirement added to requirements.txt but not locked
        (REQUIREMENTS + "requests>=2\n", LOCK, "requests>=2 is not in the lock"),
        # a specifier tightened past the pin
        (re.sub(r"^loguru[^\n]*", "loguru>=9", REQUIREMENTS, flags=re.MULTILINE), LOCK, "does not satisfy loguru>=9"),
        # a requirement removed from requirements.txt: its pin (and what only it needed) is stale
        (re.sub(r"^apscheduler[^\n]*\n", "", REQUIREMENTS, flags=re.MULTILINE), LOCK, "requirements.txt does not"),
        # a pin removed from the lock
        (REQUIREMENTS, without_entry(LOCK, "psycopg2-binary"), "psycopg2-binary<3,>=2.9.9 is not in the lock"),
        # a pin whose hashes were dropped
        (REQUIREMENTS, re.sub(r"(loguru==\S+ \\\n)(    --hash=\S+( \\)?\n)+", r"loguru==0.7.3\n", LOCK), "has no hash"),
        # a stale transitive pin: needed by nothing in requirements.txt
        (REQUIREMENTS, LOCK + "six==1.16.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via tzlocal-gone\n", "six"),
    ],
    ids=["unlocked-requirement", "pin-outside-specifier", "requirement-removed", "pin-removed", "no-hash", "stale"],
)
def test_a_tampered_lock_or_requirements_is_caught(requirements: str, lock: str, expected: str) -> None:
    assert requirements != REQUIREMENTS or lock != LOCK, "the tampering changed nothing"
    problems = lock_problems(requirements, lock)
    assert any(expected in problem for problem in problems), problems
