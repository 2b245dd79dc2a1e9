"""Small conversions every adapter needs, written once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc(value: Any) -> Any:
    """The product's timestamps are aware UTC; a naive one read back is UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def first_line(exc: BaseException) -> str:
    """An error's own words, first line only, for one-line reasons."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
