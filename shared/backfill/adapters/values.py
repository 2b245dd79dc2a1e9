"""Small conversions every adapter needs, written once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backfill.domain.tables import TableRef


def utc(value: Any) -> Any:
    """The product's timestamps are aware UTC; a naive one read back is UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def first_line(exc: BaseException) -> str:
    """An error's own words, first line only, for one-line reasons."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def named_in(text: str, tables: Sequence[TableRef]) -> list[TableRef]:
    """The tables of a statement over several that an error names, as a whole word: by
    dataset.table, else by dataset ("Dataset p:nba_raw was not found"), else by table alone
    (DuckDB's "Table with name x does not exist")."""
    for name in (str, lambda t: t.dataset, lambda t: t.table):
        found = [t for t in tables
                 if re.search(rf"(?<![\w.]){re.escape(name(t))}(?![\w])", text)]
        if found:
            return found
    return []
