"""Exception hierarchy: everything the daemon raises on purpose derives from SimulatorError."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of the daemon's own errors."""


class ConfigError(SimulatorError):
    """The environment holds invalid settings; ``problems`` maps each variable to its message."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(sorted(problems.items()))
        lines = [f"  {name}: {message}" for name, message in self.problems.items()]
        super().__init__("invalid configuration:\n" + "\n".join(lines))


class DatabaseError(SimulatorError):
    """A database operation failed (wraps psycopg2 errors)."""


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached (network, shutdown in progress): worth retrying."""


class DatabaseRejected(DatabaseError):
    """The server refused us (authentication, missing database or privilege): retrying won't help."""


class StopRequested(SimulatorError):
    """A stop signal arrived while waiting; the caller unwinds and exits cleanly."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (server errors add DETAIL/HINT lines), or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
