"""Logging: loguru to stdout or stderr (human or JSON) and, optionally, rotating app/stream/errors files.

Log lines are events: ``event`` names what happened (stable, e.g. ``stream.summary``) and the
remaining ``extra`` fields carry the data. Messages are constant templates.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from daemon.config import LogSettings

if TYPE_CHECKING:  # loguru's record and sink types exist in its stubs only
    from loguru import FilterFunction, FormatFunction, Record

HUMAN_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} [{extra[event]}] {message}"
_JSON_RESERVED = {"event", "_json", "exception", "severity", "level", "time", "message"}
# loguru level -> Cloud Logging LogSeverity (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry)
SEVERITY = {
    "TRACE": "DEBUG",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "SUCCESS": "NOTICE",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}


def exception_fields(exc_info: Any) -> dict[str, str]:
    """``{type, message, stacktrace}`` of a record's exception (loguru's ``RecordException``)."""
    kind, value, tb = exc_info
    return {
        "type": getattr(kind, "__name__", str(kind)),
        "message": str(value),
        "stacktrace": "".join(traceback.format_exception(kind, value, tb)),
    }


class InterceptHandler(logging.Handler):
    """Send stdlib logging records (APScheduler, ...) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(event=record.name).opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _patcher(secret: str, as_json: bool) -> Callable[[Record], None]:
    def patch(record: Record) -> None:
        extra = record["extra"]
        extra.setdefault("event", record["name"] or "log")
        if secret and secret in record["message"]:
            record["message"] = record["message"].replace(secret, "***")
        if as_json:
            payload: dict[str, object] = {
                "time": record["time"].isoformat(timespec="milliseconds"),
                "level": record["level"].name,
                "severity": SEVERITY.get(record["level"].name, "DEFAULT"),
                "event": extra["event"],
                "message": record["message"],
            }
            payload.update({k: v for k, v in extra.items() if k not in _JSON_RESERVED})
            if record["exception"] is not None:
                payload["exception"] = exception_fields(record["exception"])
            text = json.dumps(payload, default=str, ensure_ascii=False)
            extra["_json"] = text.replace(secret, "***") if secret else text

    return patch


def _json_format(_record: Record) -> str:
    # A callable format: loguru then appends no traceback, so each record stays one JSON line.
    return "{extra[_json]}\n"


def configure(settings: LogSettings, secret: str = "", stream: TextIO | None = None) -> list[str]:
    """Install the sinks; return warnings to log once logging works (e.g. unusable LOG_DIR).

    ``stream`` is the console sink: stdout (the daemon) unless a command keeps stdout for its
    result (``counts``, ``check``, ...), which logs to stderr.
    """
    logger.remove()
    as_json = settings.format == "json"
    logger.configure(patcher=_patcher(secret, as_json), extra={"channel": "app"})
    fmt: str | FormatFunction = _json_format if as_json else HUMAN_FORMAT
    logger.add(
        sys.stdout if stream is None else stream,
        level=settings.level,
        format=fmt,
        diagnose=False,
        backtrace=False,
        colorize=False,
    )
    warnings: list[str] = []
    directory = settings.directory
    if directory is not None:
        problem = _check_writable(directory)
        if problem:
            warnings.append(problem)
        else:

            def add_file(name: str, level: str, only: FilterFunction | None = None) -> None:
                logger.add(
                    directory / name,
                    level=level,
                    format=fmt,
                    filter=only,
                    diagnose=False,
                    backtrace=False,
                    enqueue=True,
                    encoding="utf-8",
                    rotation=settings.rotation_mb * 1024 * 1024,
                    retention=settings.retention_files,
                )

            add_file("app.log", settings.level)
            add_file("stream.log", settings.level, lambda r: r["extra"].get("channel") == "stream")
            add_file("errors.log", "ERROR")
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    return warnings


def _check_writable(directory: Path) -> str | None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        return f"LOG_DIR {directory} is not usable ({exc.strerror or exc}); logging to stdout only"
    return None


def flush() -> None:
    """Wait until queued records reach their files, then detach sinks."""
    logger.complete()
    logger.remove()
