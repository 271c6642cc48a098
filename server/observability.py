"""Logging for the server process: text or JSON lines, with the trace id, never a secret.

Every record gets `trace_id` (the current OpenTelemetry trace, or none) and, in JSON, the
structured fields a caller passes as `extra={"fields": {...}}` (the per-request line of
server.middleware). As a last line of defence, every formatted line is scrubbed of what
looks like a credential: bearer tokens, JWTs, and password/token values in JSON or
GraphQL-argument syntax.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from typing import Any

import orjson

from server.tracing import current_trace_id

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[REDACTED]"
_HANDLER_MARK = "_consciousness_handler"
_SECRETS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(
        r"""(?i)((?:password|token|secret)[a-z_]*["']?\s*[:=]\s*)"""
        r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}&)]+)"""
    ),
)
_MARKERS = ("bearer", "eyj", "password", "token", "secret")  # no marker: nothing to redact


def redact_secrets(text: str) -> str:
    """`text` with bearer tokens, JWTs and password/token/secret values replaced."""
    folded = text.lower()
    if not any(marker in folded for marker in _MARKERS):
        return text
    for pattern in _SECRETS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class TraceContext(logging.Filter):
    """Adds `trace_id` to every record: the current trace, or None outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            line += f" trace_id={trace_id}"
        return redact_secrets(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            entry["trace_id"] = trace_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return redact_secrets(line)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at `level`, as text or JSON lines; safe to call again (it replaces)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(TraceContext())
    root.addHandler(handler)
    root.setLevel(level)
    # No format here shows the caller's file, thread or process: don't collect them for
    # every record (the logging HOWTO's "Optimization"); the request line is on every request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Our request line replaces uvicorn's access log, which would print query strings.
    logging.getLogger("uvicorn.access").setLevel(max(logging.getLevelName(level), logging.WARNING))
