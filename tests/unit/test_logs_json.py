"""JSON log lines: severity for Cloud Logging, exceptions as {type, message, stacktrace}."""

from __future__ import annotations

import io
import json

from loguru import logger

from daemon import logs
from daemon.config import LogSettings


def test_json_line_has_severity_and_a_structured_exception():
    out = io.StringIO()
    logs.configure(LogSettings("DEBUG", "json", None, 10, 3), secret="hunter2", stream=out)
    try:
        logger.bind(event="demo.ok", rows=3).success("done {rows}", rows=3)
        try:
            raise ValueError("bad value hunter2")
        except ValueError as exc:
            logger.bind(event="demo.failed").opt(exception=exc).error("failed")
    finally:
        logs.flush()
    ok, failed = (json.loads(line) for line in out.getvalue().splitlines())
    assert (ok["level"], ok["severity"], ok["event"], ok["rows"]) == ("SUCCESS", "NOTICE", "demo.ok", 3)
    assert failed["severity"] == "ERROR" and "exception" in failed
    exception = failed["exception"]
    assert exception["type"] == "ValueError" and exception["message"] == "bad value ***"
    assert "Traceback" in exception["stacktrace"] and "raise ValueError" in exception["stacktrace"]
    assert "hunter2" not in out.getvalue()
