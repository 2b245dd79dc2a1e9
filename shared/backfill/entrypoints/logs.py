"""Structured logs for the functions: one JSON object a line, as Cloud Logging reads stdout.

`severity` and `message` are Cloud Logging's own fields; the request's processor, game date
and id (passed as `extra=`) travel as fields of their own, so logs can be filtered by them.
Lines written while an HTTP request is served carry its trace (`logging.googleapis.com/trace`,
from the X-Cloud-Trace-Context or traceparent header), so Cloud Logging shows them under the
request's own entry.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# Fields a log call may pass in `extra=` that are copied into the entry.
REQUEST_FIELDS = ("processor", "game_date", "request_id", "outcome", "event", "run_id",
                  "error_type", "attempt")
TRACE_FIELD = "logging.googleapis.com/trace"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
# The trace of the request being served by this thread (gunicorn serves one per thread).
_trace: ContextVar[str | None] = ContextVar("backfill_trace", default=None)


def trace_of(cloud_trace: str | None, traceparent: str | None, project: str) -> str | None:
    """`projects/PROJECT/traces/TRACE_ID` from the headers `X-Cloud-Trace-Context:
    TRACE_ID/SPAN;o=1` or, failing that, W3C `traceparent: 00-TRACE_ID-SPAN-FLAGS`; None
    without a valid one."""
    candidates = ((cloud_trace or "").split("/", 1)[0], *(traceparent or "").split("-")[1:2])
    found = next((c.strip().lower() for c in candidates
                  if _TRACE_ID.fullmatch(c.strip().lower())), None)
    return f"projects/{project}/traces/{found}" if found else None


@contextmanager
def traced(trace: str | None) -> Iterator[None]:
    """Every line logged inside carries `trace`."""
    token = _trace.set(trace)
    try:
        yield
    finally:
        _trace.reset(token)


class CloudLoggingFormatter(logging.Formatter):
    """Formats a record as a Cloud Logging structured entry."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            # A stack trace inside the message is what Error Reporting picks up.
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry = {"severity": record.levelname if record.levelname != "WARN" else "WARNING",
                 "message": message, "logger": record.name,
                 "time": datetime.fromtimestamp(record.created, UTC).isoformat()}
        entry.update({name: getattr(record, name) for name in REQUEST_FIELDS
                      if getattr(record, name, None) is not None})
        trace = _trace.get()
        if trace:
            entry[TRACE_FIELD] = trace
        return json.dumps(entry, default=str)


@functools.cache
def configure_function_logging(level: int = logging.INFO) -> None:
    """Send every log record to stdout as JSON (once per process)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
