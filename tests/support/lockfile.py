"""Does requirements.lock still match requirements.txt? Checked offline (no index, no resolver).

The lock (``make lock``: ``uv pip compile --generate-hashes``) pins every runtime dependency of the
image with its hashes and says, in ``# via`` comments, why each is there. It matches when:
  - every requirement of requirements.txt is pinned, at a version its specifier allows, and is
    marked ``# via -r requirements.txt``;
  - every pin is reachable from requirements.txt through the ``# via`` chain (nothing stale), and
    only requirements.txt's own lines say ``-r requirements.txt``;
  - every pin carries at least one sha256 hash (``pip install --require-hashes`` demands it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = "-r requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})\b")


@dataclass
class Pin:
    name: str  # canonical
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)  # canonical names, or ROOT


def parse_requirements(text: str) -> tuple[dict[str, Requirement], list[str]]:
    """requirements.txt's requirements by canonical name, and the lines that are not requirements."""
    found: dict[str, Requirement] = {}
    problems = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"requirements.txt: cannot check {line!r}")
            continue
        found[canonicalize_name(requirement.name)] = requirement
    return found, problems


def parse_lock(text: str) -> tuple[dict[str, Pin], list[str]]:
    pins: dict[str, Pin] = {}
    problems: list[str] = []
    current: Pin | None = None
    in_via = False
    for raw in text.splitlines():
        stripped = raw.strip()
        match = _PIN.match(raw)
        if match:
            name = canonicalize_name(match.group(1))
            if name in pins:
                problems.append(f"{name} is pinned twice")
            current = pins[name] = Pin(name, match.group(2))
            current.hashes += _HASH.findall(raw)
            in_via = False
            continue
        if current is None:
            if stripped and not stripped.startswith("#"):
                problems.append(f"unexpected line before the first pin: {stripped!r}")
            continue
        if stripped.startswith("--hash="):
            hashes = _HASH.findall(stripped)
            if not hashes:
                problems.append(f"{current.name}: not a sha256 hash: {stripped!r}")
            current.hashes += hashes
        elif stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                current.via.append(_via_item(rest))
        elif in_via and stripped.startswith("#   "):
            current.via.append(_via_item(stripped.removeprefix("#").strip()))
        elif stripped and not stripped.startswith("#"):
            problems.append(f"unexpected line: {stripped!r}")
    return pins, problems


def _via_item(text: str) -> str:
    return ROOT if text.startswith("-r ") else canonicalize_name(text)


def lock_problems(requirements_text: str, lock_text: str) -> list[str]:
    """What makes the lock disagree with requirements.txt (empty: it matches)."""
    requirements, problems = parse_requirements(requirements_text)
    pins, lock_problems_found = parse_lock(lock_text)
    problems += lock_problems_found
    for name, requirement in requirements.items():
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement} is not in the lock")
            continue
        try:
            allowed = requirement.specifier.contains(Version(pin.version), prereleases=True)
        except InvalidVersion:
            allowed = False
        if not allowed:
            problems.append(f"{name}=={pin.version} does not satisfy {requirement}")
        if ROOT not in pin.via:
            problems.append(f"{name} is in requirements.txt but its lock entry does not say '# via {ROOT}'")
    for pin in pins.values():
        if not pin.hashes:
            problems.append(f"{pin.name}=={pin.version} has no hash")
        if ROOT in pin.via and pin.name not in requirements:
            problems.append(f"{pin.name} says '# via {ROOT}' but requirements.txt does not list it")
        unknown = [parent for parent in pin.via if parent != ROOT and parent not in pins]
        if unknown:
            problems.append(f"{pin.name} is there via {', '.join(unknown)}, which the lock does not pin")
    reachable = {name for name, pin in pins.items() if name in requirements and ROOT in pin.via}
    grew = True
    while grew:
        grew = False
        for name, pin in pins.items():
            if name not in reachable and any(parent in reachable for parent in pin.via):
                reachable.add(name)
                grew = True
    stale = sorted(set(pins) - reachable)
    if stale:
        problems.append(f"not needed by requirements.txt (stale): {', '.join(stale)}")
    return problems
