"""The embedded warehouse: a DuckDB file, one schema per BigQuery dataset, same table names.

DuckDB lets one process at a time open a file for writing. The detector, the worker and the CLI
may all be running, so every operation opens the file under an exclusive advisory lock on a
sidecar `.lock` file and closes it afterwards: processes queue on the lock instead of failing.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from backfill.adapters.sql import column_list, scan_games_sql, scan_parameters, table_sql
from backfill.domain.errors import ConfigurationError, PermanentError, TableNotFound, TransientError
from backfill.domain.gaps import GameStat
from backfill.domain.tables import ColumnType, Schema, TableRef
from backfill.ports import GameScan, Row, Warehouse

DUCKDB_TYPES: dict[ColumnType, str] = {"STRING": "VARCHAR", "INT64": "BIGINT", "FLOAT64": "DOUBLE",
                                       "BOOL": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}


class DuckDBWarehouse(Warehouse):
    """Warehouse on a DuckDB file; TIMESTAMP columns hold UTC, returned as aware datetimes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"duckdb:///{self.path}"
        if self.path.exists() and self.path.is_dir():
            raise ConfigurationError(f"warehouse {self.path} is a directory, not a DuckDB file")
        # Threads of one process also take the file lock, each through its own descriptor.
        self._local = threading.local()

    # -- the port, in the same order as the BigQuery adapter ------------------------------------

    def scan_games(self, scan: GameScan) -> list[GameStat]:
        sql = scan_games_sql(scan, quote='"', placeholder="$")
        with self._connection(scan.table) as con:
            result = con.execute(sql, scan_parameters(scan)).fetchall()
        return [GameStat(game_id, game_date, int(count), _utc(processed))
                for game_id, game_date, count, processed in result]

    def read_rows(self, table: TableRef, start: date, end: date) -> list[Row]:
        sql = (f"SELECT * FROM {table_sql(table, chr(34))} "  # noqa: S608 - identifiers validated
               "WHERE game_date BETWEEN $start AND $end ORDER BY ALL")
        with self._connection(table) as con:
            cursor = con.execute(sql, {"start": start, "end": end})
            names = [d[0] for d in cursor.description]
            return [{n: _utc(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]

    def replace_range(self, table: TableRef, start: date, end: date, rows: Sequence[Row],
                      columns: Schema) -> int:
        if any(not _within(row.get("game_date"), start, end) for row in rows):
            raise PermanentError(f"rows for {table} must have game_date in {start}..{end}")
        with self._connection(table) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {table_sql(table, chr(34))} "  # noqa: S608
                            "WHERE game_date BETWEEN $start AND $end", {"start": start, "end": end})
                self._insert(con, table, rows, columns)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(rows)

    def create_table(self, table: TableRef, columns: Schema) -> None:
        definition = ", ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in columns)
        with self._connection(create=True) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.dataset}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {table_sql(table, chr(34))} ({definition})")

    def load_rows(self, table: TableRef, rows: Sequence[Row], columns: Schema) -> int:
        with self._connection(table) as con:
            self._insert(con, table, rows, columns)
        return len(rows)

    def drop_table(self, table: TableRef) -> None:
        with self._connection() as con:
            con.execute(f"DROP TABLE IF EXISTS {table_sql(table, chr(34))}")

    # -- DuckDB's quirks, kept here ---------------------------------------------------------------

    def _insert(self, con: duckdb.DuckDBPyConnection, table: TableRef, rows: Sequence[Row],
                columns: Schema) -> None:
        """Insert through a newline-delimited JSON file: one statement, any size, typed columns.

        (executemany costs about a millisecond a row in DuckDB; read_json costs a few in all.)
        """
        if not rows:
            return
        types = ", ".join(f"{c.name}: '{DUCKDB_TYPES[c.type]}'" for c in columns)
        with tempfile.NamedTemporaryFile("w", suffix=".ndjson", dir=self._spool_dir(),
                                         delete=False, encoding="utf-8") as spool:
            for row in rows:
                spool.write(json.dumps({c.name: _json_value(row.get(c.name)) for c in columns}))
                spool.write("\n")
        try:
            con.execute(
                f"INSERT INTO {table_sql(table, chr(34))} ({column_list(columns)}) "  # noqa: S608
                f"SELECT {column_list(columns)} FROM read_json($spool, "
                f"format = 'newline_delimited', columns = {{{types}}})",
                {"spool": spool.name})
        finally:
            os.unlink(spool.name)

    def _spool_dir(self) -> str | None:
        return os.environ.get("BACKFILL_SPOOL_DIR")

    @contextmanager
    def _connection(self, table: TableRef | None = None,
                    create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if getattr(self._local, "held", False):
            raise RuntimeError("nested warehouse connection in one thread")
        if not create and not self.path.exists():
            # DuckDB would create an empty file: a typo must not read as "every table missing".
            raise ConfigurationError(f"warehouse file {self.path} does not exist "
                                     "(create one with `backfill seed`)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._local.held = True
            try:
                try:
                    con = duckdb.connect(str(self.path))
                except duckdb.IOException as exc:
                    raise _io_error(self.path, exc) from None
                try:
                    yield con
                except duckdb.CatalogException as exc:
                    if table is not None and "does not exist" in str(exc):
                        raise TableNotFound(f"table {table} does not exist in {self.url}") from None
                    raise PermanentError(_first_line(exc)) from None
                except (duckdb.TransactionException, duckdb.IOException) as exc:
                    raise TransientError(_first_line(exc)) from None
                except (duckdb.ConversionException, duckdb.BinderException,
                        duckdb.ParserException, duckdb.InvalidInputException) as exc:
                    raise PermanentError(_first_line(exc)) from None
                finally:
                    con.close()
            finally:
                self._local.held = False
                fcntl.flock(lock, fcntl.LOCK_UN)


def _io_error(path: Path, exc: duckdb.IOException) -> Exception:
    text = _first_line(exc)
    if "lock" in text.lower():
        return TransientError(f"warehouse {path} is locked by another program: {text}")
    return ConfigurationError(f"warehouse {path} is not a DuckDB database: {text}")


def _within(value: Any, start: date, end: date) -> bool:
    return isinstance(value, date) and start <= value <= end


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _utc(value: Any) -> Any:
    """DuckDB's TIMESTAMP is naive; the product's timestamps are aware UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
