"""SQL text built by small pure functions; identifiers come only from validated names, and every
value is a named parameter (`$name` in DuckDB, `@name` in BigQuery)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backfill.domain.fingerprint import READ_FINGERPRINT
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableRef, identifier
from backfill.ports import SCAN_FIELDS, Read, Scan

# The type of each scan field, for the NULL a scan reports where it reads no column.
_FIELD_TYPES = {"version": "STRING", "inputs": "STRING"}
# The per-row hash inside a scan or a read, and each game's fingerprint a read attaches.
_ROW = "_backfill_row_hash"


@dataclass(frozen=True)
class Dialect:
    quote: str        # of identifiers: " (DuckDB) or ` (BigQuery)
    placeholder: str  # prefix of a named parameter: $ (DuckDB) or @ (BigQuery)
    # A row's values as one struct ({} the fields; a field from {name} and {column}), the
    # struct's hash in the engine's own 64-bit type, and a group's sorted row hashes hashed
    # ({} a row hash), as text.
    struct: str
    field: str
    hash_struct: str
    hash_sorted: str
    # How many distinct non-NULL values of {} a group holds.
    count_distinct: str

    def table(self, table: TableRef) -> str:
        return self.quote + f"{self.quote}.{self.quote}".join((table.dataset, table.table)) \
            + self.quote

    def parameter(self, name: str) -> str:
        return f"{self.placeholder}{name}"

    def row_hash(self, columns: Sequence[tuple[str, str]], qualifier: str = "") -> str:
        """One row's hash over (name, column) pairs: its values keyed by name, so the same
        values hash the same in a scan, a read and the write (`text` makes it the stored one)."""
        return self.hash_struct.format(self.struct.format(", ".join(
            self.field.format(name=identifier(name), column=qualifier + identifier(column))
            for name, column in columns)))

    def text(self, expression: str) -> str:
        return f"CAST({expression} AS STRING)"

    def game_hash(self, row_hash: str) -> str:
        """The fingerprint of a group's row hashes: sorted, then hashed, so it does not depend
        on the order rows are stored in and a duplicated row changes it (XOR would cancel it,
        and an INT64 SUM can overflow on BigQuery)."""
        return self.hash_sorted.format(row_hash)


# BigQuery hashes each row's JSON text with FARM_FINGERPRINT and a group's sorted hashes joined
# by commas. DuckDB hashes the row's struct itself and the sorted list of a group's hashes (its
# `hash`, 64 bits like FARM_FINGERPRINT): no text per row, which costs detection, hashing every
# row it scans, three times as much. DuckDB's values are pinned with its version (a new version
# may change them once: everything is then recomputed once).
# DuckDB counts distinct values from the group's list: its COUNT(DISTINCT) plans a pipeline of
# its own, a millisecond and more on every scan of a few rows (a worker's re-check is such scans).
DUCKDB = Dialect('"', "$", "struct_pack({})", "{name} := {column}", "hash({})",
                 "CAST(hash(list_sort(list({0}))) AS VARCHAR)", "len(list_distinct(list({})))")
BIGQUERY = Dialect("`", "@", "STRUCT({})", "{column} AS {name}",
                   "FARM_FINGERPRINT(TO_JSON_STRING({}))",
                   "CAST(FARM_FINGERPRINT(STRING_AGG(CAST({0} AS STRING), ',' ORDER BY {0})) "
                   "AS STRING)", "COUNT(DISTINCT {})")


def scans_sql(scans: Sequence[Scan], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Several scans as one statement: each result row is `_scan_sql`'s, the first column the
    place of its scan in `scans` (see `scan_results`)."""
    parts, parameters = [], {}
    for index, scan in enumerate(scans):
        sql, values = _scan_sql(scan, dialect, index)
        parts.append(sql)
        parameters.update(values)
    return " UNION ALL ".join(parts), parameters


def scan_results(rows: Iterable[Sequence[Any]], scans: int) -> list[list[GameStat]]:
    """The GameStats of each scan of a `scans_sql` statement, in the order of its scans."""
    found: list[list[GameStat]] = [[] for _ in range(scans)]
    for row in rows:
        found[row[0]].append(game_stat(row[1:]))
    return found


def _scan_sql(scan: Scan, dialect: Dialect, index: int) -> tuple[str, dict[str, Any]]:
    """Per game in the window, after `index` (the scan's place in a statement of several): its
    rows counted, the greatest value of each column asked for, the fingerprint of the columns it
    hashes, and the rows whose recorded hash no longer matches their values or repeats another
    row's."""
    prefix = f"s{index}_"  # parameters of the scan, apart from the other scans' of the statement
    game_id, game_date = identifier(scan.column("game_id")), identifier(scan.column("game_date"))
    maxima = dict(scan.maxima)
    fields = ", ".join(
        f"MAX({identifier(scan.column(maxima[f]))}) AS {f}" if f in maxima
        else f"CAST(NULL AS {_FIELD_TYPES[f]}) AS {f}" for f in SCAN_FIELDS)
    start, end = f"{prefix}start_date", f"{prefix}end_date"
    parameters: dict[str, Any] = {start: scan.window.start, end: scan.window.end}
    counted, rows = "TRUE", "COUNT(*)"
    if scan.count_where:
        column, values = scan.count_where
        names = [f"{prefix}count_value_{i}" for i in range(len(values))]
        parameters.update(zip(names, values, strict=True))
        allowed = ", ".join(dialect.parameter(n) for n in names)
        counted = f"{identifier(scan.column(column))} IN ({allowed})"
        rows = f"SUM(CASE WHEN {counted} THEN 1 ELSE 0 END)"
    # The sanity facts: distinct unique values and the least and greatest team of counted rows
    # (a game has two teams), each NULL when the scan does not ask for it.
    unique = (dialect.count_distinct.format(
        f"CASE WHEN {counted} THEN {identifier(scan.column(scan.unique))} END")
        if scan.unique else "CAST(NULL AS INT64)")
    # Text whatever the column's type: the scans of one statement must agree on every column.
    teams = ", ".join(
        f"CAST({how}(CASE WHEN {counted} THEN {identifier(scan.column(scan.teams))} END) "
        f"AS STRING) AS {name}" if scan.teams else f"CAST(NULL AS STRING) AS {name}"
        for how, name in (("MIN", "least_team"), ("MAX", "greatest_team")))
    table = dialect.table(scan.table)
    fingerprint = tampered = "NULL"
    if scan.hashed:
        # Each row hashed once, in a subquery the warehouse reads only the named columns for.
        hashed = tuple((name, scan.column(column)) for name, column in scan.hashed)
        table = (f"(SELECT *, {dialect.row_hash(hashed)} AS {_ROW} "  # noqa: S608
                 f"FROM {table}) AS scanned")
        fingerprint = dialect.game_hash(_ROW)
        if scan.stored_hash:
            stored = identifier(scan.stored_hash)
            tampered = (f"SUM(CASE WHEN {stored} = {dialect.text(_ROW)} THEN 0 ELSE 1 END) "
                        f"+ COUNT(*) - {dialect.count_distinct.format(_ROW)}")
    # Identifiers are validated names; every value is a parameter.
    sql = (f"SELECT {index} AS scan_index, CAST({game_id} AS STRING) AS game_id, "  # noqa: S608
           f"{game_date} AS game_date, "
           f"{rows} AS row_count, {fields}, CAST({fingerprint} AS STRING) AS fingerprint, "
           f"CAST({tampered} AS BIGINT) AS tampered, {unique} AS unique_count, {teams} "
           f"FROM {table} "
           f"WHERE {game_date} BETWEEN {dialect.parameter(start)} "
           f"AND {dialect.parameter(end)} GROUP BY {game_id}, {game_date}")
    return sql, parameters


_NO_TEAMS: frozenset[str] = frozenset()


def game_stat(row: Sequence[Any]) -> GameStat:
    """A GameStat from one result row of `_scan_sql` (after its scan index)."""
    game_id, game_date, count, version, inputs, fingerprint, tampered, unique, least, greatest = \
        row
    return GameStat(game_id, game_date, int(count or 0), version, inputs, fingerprint,
                    int(tampered or 0),
                    teams=_NO_TEAMS if least is None else frozenset((least, greatest)),
                    repeated=0 if unique is None else int(count or 0) - int(unique))


def read_sql(read: Read, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The rows a Read names: its columns under their names, its range and filters, its order;
    with `hashed`, each row also carries its game's fingerprint, computed in the same statement
    (so it is the fingerprint of exactly the rows read)."""
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
    if read.hashed:
        game_id = identifier(dict(read.columns).get("game_id", "game_id"))
        game_date = identifier(dict(read.columns).get("game_date", "game_date"))
        sql = (f"WITH picked AS (SELECT {columns}, {dialect.row_hash(read.hashed)} "  # noqa: S608
               f"AS {_ROW}, {game_id} AS {_ROW}_id, {game_date} AS {_ROW}_date "
               f"FROM {dialect.table(read.table)} WHERE {' AND '.join(filters)}), "
               f"games AS (SELECT {_ROW}_id, {_ROW}_date, {dialect.game_hash(_ROW)} "
               f"AS {READ_FINGERPRINT} FROM picked GROUP BY {_ROW}_id, {_ROW}_date) "
               f"SELECT {', '.join(f'picked.{identifier(n)}' for n, _ in read.columns)}, "
               f"games.{READ_FINGERPRINT} FROM picked JOIN games "
               f"ON picked.{_ROW}_id = games.{_ROW}_id "
               f"AND picked.{_ROW}_date = games.{_ROW}_date")
    if read.newest_first:
        sql += f" ORDER BY {by} DESC"
    if read.limit is not None:
        parameters["limit"] = int(read.limit)
        sql += f" LIMIT {dialect.parameter('limit')}"
    return sql, parameters


def column_list(columns: Schema) -> str:
    return ", ".join(identifier(c.name) for c in columns)
