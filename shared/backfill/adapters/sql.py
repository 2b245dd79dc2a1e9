"""SQL text built by small pure functions; identifiers come only from validated TableRef/Column."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableRef, identifier
from backfill.ports import GameScan


def scan_games_sql(scan: GameScan, quote: str, placeholder: str) -> str:
    """Count rows per game in the window; optionally the newest processed time and a label.

    `placeholder` is the dialect's prefix of a named parameter: `$` (DuckDB) or `@` (BigQuery).
    """
    processed = (f"MAX({identifier(scan.processed_column)})" if scan.processed_column
                 else "CAST(NULL AS TIMESTAMP)")
    label = (f"MAX({identifier(scan.label_column)})" if scan.label_column
             else "CAST(NULL AS STRING)")
    if scan.count_where:
        column = identifier(scan.count_where[0])
        allowed = ", ".join(f"{placeholder}{name}" for name in count_parameter_names(scan))
        rows = f"SUM(CASE WHEN {column} IN ({allowed}) THEN 1 ELSE 0 END)"
    else:
        rows = "COUNT(*)"
    # Identifiers come from validated TableRef/Column names; every value is a parameter.
    return (f"SELECT game_id, game_date, {rows} AS row_count, {processed} AS processed_at, "  # noqa: S608
            f"{label} AS label "
            f"FROM {table_sql(scan.table, quote)} "
            f"WHERE game_date BETWEEN {placeholder}start_date AND {placeholder}end_date "
            "GROUP BY game_id, game_date")


def game_stat(row: Sequence[Any]) -> GameStat:
    """A GameStat from one result row of `scan_games_sql`; a naive timestamp is UTC."""
    game_id, game_date, count, processed, label = row
    if isinstance(processed, datetime) and processed.tzinfo is None:
        processed = processed.replace(tzinfo=UTC)
    return GameStat(game_id, game_date, int(count or 0), processed, label)


def count_parameter_names(scan: GameScan) -> list[str]:
    """One named parameter per allowed value of `count_where` (both dialects accept `IN (a, b)`)."""
    return [f"count_value_{i}" for i in range(len(scan.count_where[1]))] if scan.count_where else []


def scan_parameters(scan: GameScan) -> dict[str, object]:
    """The values of the parameters `scan_games_sql` names."""
    values = scan.count_where[1] if scan.count_where else ()
    return {"start_date": scan.window.start, "end_date": scan.window.end,
            **dict(zip(count_parameter_names(scan), values, strict=True))}


def table_sql(table: TableRef, quote: str, project: str | None = None) -> str:
    """`dataset.table` (with `project.` in front for BigQuery), quoted in the dialect's quote."""
    parts = ([project] if project else []) + [table.dataset, table.table]
    return quote + f"{quote}.{quote}".join(parts) + quote


def column_list(columns: Schema) -> str:
    return ", ".join(identifier(c.name) for c in columns)
