"""SQL text built by small pure functions; identifiers come only from validated names, and every
value is a named parameter (`$name` in DuckDB, `@name` in BigQuery)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backfill.adapters.values import utc
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableRef, identifier
from backfill.ports import SCAN_FIELDS, Read, Scan

# The type of each scan field, for the NULL a scan reports where it reads no column.
_FIELD_TYPES = {"processed_at": "TIMESTAMP", "version": "STRING", "inputs": "STRING",
                "content": "STRING"}


@dataclass(frozen=True)
class Dialect:
    quote: str        # of identifiers: " (DuckDB) or ` (BigQuery)
    placeholder: str  # prefix of a named parameter: $ (DuckDB) or @ (BigQuery)

    def table(self, table: TableRef) -> str:
        return self.quote + f"{self.quote}.{self.quote}".join((table.dataset, table.table)) \
            + self.quote

    def parameter(self, name: str) -> str:
        return f"{self.placeholder}{name}"


DUCKDB = Dialect('"', "$")
BIGQUERY = Dialect("`", "@")


def scan_sql(scan: Scan, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Count rows per game in the window, and the newest value of each column asked for."""
    game_id, game_date = identifier(scan.column("game_id")), identifier(scan.column("game_date"))
    maxima = dict(scan.maxima)
    fields = ", ".join(
        f"MAX({identifier(scan.column(maxima[f]))}) AS {f}" if f in maxima
        else f"CAST(NULL AS {_FIELD_TYPES[f]}) AS {f}" for f in SCAN_FIELDS)
    parameters: dict[str, Any] = {"start_date": scan.window.start, "end_date": scan.window.end}
    counted, rows = "TRUE", "COUNT(*)"
    if scan.count_where:
        column, values = scan.count_where
        names = [f"count_value_{i}" for i in range(len(values))]
        parameters.update(zip(names, values, strict=True))
        allowed = ", ".join(dialect.parameter(n) for n in names)
        counted = f"{identifier(scan.column(column))} IN ({allowed})"
        rows = f"SUM(CASE WHEN {counted} THEN 1 ELSE 0 END)"
    # The sanity facts: distinct unique values and the least and greatest team of counted rows
    # (a game has two teams), each NULL when the scan does not ask for it.
    unique = (f"COUNT(DISTINCT CASE WHEN {counted} THEN {identifier(scan.column(scan.unique))} "
              "END)" if scan.unique else "CAST(NULL AS INT64)")
    teams = ", ".join(
        f"{how}(CASE WHEN {counted} THEN {identifier(scan.column(scan.teams))} END) AS {name}"
        if scan.teams else f"CAST(NULL AS STRING) AS {name}"
        for how, name in (("MIN", "least_team"), ("MAX", "greatest_team")))
    # Identifiers are validated names; every value is a parameter.
    sql = (f"SELECT {game_id} AS game_id, {game_date} AS game_date, "  # noqa: S608
           f"{rows} AS row_count, {fields}, {unique} AS unique_count, {teams} "
           f"FROM {dialect.table(scan.table)} "
           f"WHERE {game_date} BETWEEN {dialect.parameter('start_date')} "
           f"AND {dialect.parameter('end_date')} GROUP BY {game_id}, {game_date}")
    return sql, parameters


_NO_TEAMS: frozenset[str] = frozenset()


def game_stat(row: Sequence[Any]) -> GameStat:
    """A GameStat from one result row of `scan_sql`; a naive timestamp is UTC."""
    game_id, game_date, count, processed, version, inputs, content, unique, least, greatest = row
    return GameStat(game_id, game_date, int(count or 0), utc(processed), version, inputs, content,
                    teams=_NO_TEAMS if least is None else frozenset((least, greatest)),
                    repeated=0 if unique is None else int(count or 0) - int(unique))


def read_sql(read: Read, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The rows a Read names: its columns under their names, its range and filters, its order."""
    columns = ", ".join(f"{identifier(column)} AS {identifier(name)}" if column != name
                        else identifier(name) for name, column in read.columns) or "*"
    by = identifier(read.by)
    parameters: dict[str, Any] = {"start": read.start, "end": read.end}
    filters = [f"{by} BETWEEN {dialect.parameter('start')} AND {dialect.parameter('end')}"]
    for i, (column, value) in enumerate(read.equals):
        parameters[f"equals_{i}"] = value
        filters.append(f"{identifier(column)} = {dialect.parameter(f'equals_{i}')}")
    sql = (f"SELECT {columns} FROM {dialect.table(read.table)} "  # noqa: S608
           f"WHERE {' AND '.join(filters)}")
    if read.newest_first:
        sql += f" ORDER BY {by} DESC"
    if read.limit is not None:
        parameters["limit"] = int(read.limit)
        sql += f" LIMIT {dialect.parameter('limit')}"
    return sql, parameters


def column_list(columns: Schema) -> str:
    return ", ".join(identifier(c.name) for c in columns)
