"""Structured logs for the functions: one JSON object a line, as Cloud Logging reads stdout.

`severity` and `message` are Cloud Logging's own fields; the request's processor, game date
and id (passed as `extra=`) travel as fields of their own, so logs can be filtered by them.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from datetime import UTC, datetime

# Fields a log call may pass in `extra=` that are copied into the entry.
REQUEST_FIELDS = ("processor", "game_date", "request_id", "outcome", "event", "run_id",
                  "error_type", "attempt")


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
        return json.dumps(entry, default=str)


@functools.cache
def configure_function_logging(level: int = logging.INFO) -> None:
    """Send every log record to stdout as JSON (once per process)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
