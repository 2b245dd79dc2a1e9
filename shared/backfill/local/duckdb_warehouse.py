"""The embedded warehouse: a DuckDB file, one schema per BigQuery dataset, same table names.

DuckDB lets one process at a time open a file for writing. The detector, the worker and the CLI
may all be running, so a process opens the file only under an exclusive advisory lock on a
sidecar `.lock` file: processes queue on the lock instead of failing.

Opening the file costs about 20 ms, more than most operations, so a process keeps its connection
while operations keep coming (its threads share it, each through a cursor of its own) and closes
it, releasing the lock, once the file has been idle for `linger_seconds`. A busy process never
goes idle, so after holding the file for `max_hold_seconds` it lets the operations in flight
finish, closes it and steps aside briefly before taking it again: another process waits at most
about that long. Writes inside one process are serialised (DuckDB would abort one of two
conflicting transactions); reads run side by side.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import duckdb

from backfill.adapters.sql import DUCKDB, column_list, read_sql, scan_results, scans_sql
from backfill.adapters.values import first_line, named_in, utc
from backfill.domain.errors import (
    ConfigurationError,
    MissingColumn,
    PermanentError,
    TableNotFound,
    TransientError,
)
from backfill.domain.gaps import GameStat
from backfill.domain.tables import ColumnType, Schema, TableInfo, TableRef, identifier
from backfill.ports import Append, Change, Read, Replace, Row, Scan, Warehouse

# Keep the file open this long after the last operation, then let other processes have it.
LINGER_SECONDS = 0.1
# A busy process hands the file over after holding it this long (costs one ~20 ms reopen).
MAX_HOLD_SECONDS = 1.0
HAND_OVER_SECONDS = 0.01
# Up to this many rows an insert passes its values as parameters, beyond through a file.
PARAMETER_ROWS = 5_000

DUCKDB_TYPES: dict[ColumnType, str] = {"STRING": "VARCHAR", "INT64": "BIGINT", "FLOAT64": "DOUBLE",
                                       "BOOL": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}
# DuckDB's names for the types, as BigQuery names them (the contract's language).
_AS_BIGQUERY: dict[str, str] = {
    **{duck: bq for bq, duck in DUCKDB_TYPES.items()}, "INTEGER": "INT64", "SMALLINT": "INT64",
    "HUGEINT": "INT64", "FLOAT": "FLOAT64", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP"}


class DuckDBWarehouse(Warehouse):
    """Warehouse on a DuckDB file; TIMESTAMP columns hold UTC, returned as aware datetimes."""

    def __init__(self, path: str | Path, *, spool_dir: str | None = None,
                 linger_seconds: float = LINGER_SECONDS,
                 max_hold_seconds: float = MAX_HOLD_SECONDS) -> None:
        self.path = Path(path)
        self.url = f"duckdb://{self.path}"  # file-URL style: duckdb:///abs/path, duckdb://rel
        if self.path.exists() and self.path.is_dir():
            raise ConfigurationError(f"warehouse {self.path} is a directory, not a DuckDB file")
        self._hold = _FileHold(self.path, linger_seconds, max_hold_seconds)
        self._spool_dir = spool_dir
        self._writing = threading.Lock()
        self._local = threading.local()
        # Tables described so far (only existing ones): a delivery describes four or five, and
        # DuckDB's information_schema costs a few milliseconds a query.
        self._described: dict[TableRef, TableInfo] = {}

    # -- the port, in the same order as the BigQuery adapter ------------------------------------

    def describe(self, table: TableRef) -> TableInfo | None:
        known = self._described.get(table)
        if known is not None:
            return known
        with self._connection() as con:
            # duckdb_columns() answers in a millisecond, information_schema in four.
            found = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = $dataset AND table_name = $table ORDER BY column_index",
                {"dataset": table.dataset, "table": table.table}).fetchall()
        if not found:
            return None
        info = TableInfo({name: _AS_BIGQUERY.get(kind, kind) for name, kind in found})  # type: ignore[misc]
        self._described[table] = info
        return info

    def scan_together(self, scans: Sequence[Scan]) -> list[list[GameStat]]:
        if not scans:
            return []
        sql, parameters = scans_sql(scans, DUCKDB)
        with self._connection(*(scan.table for scan in scans)) as con:
            result = con.execute(sql, parameters).fetchall()
        return scan_results(result, len(scans))

    def read_rows(self, read: Read) -> list[Row]:
        sql, parameters = read_sql(read, DUCKDB)
        with self._connection(read.table) as con:
            cursor = con.execute(sql, parameters)
            names = [d[0] for d in cursor.description]
            return [{n: utc(v) for n, v in zip(names, row, strict=True)}
                    for row in cursor.fetchall()]

    def write(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        with self._connection(write=True) as con:
            if len(changes) == 1 and isinstance(changes[0], Append):
                # One INSERT is atomic on its own: no transaction around it (an audit row's
                # append is a skipped delivery's only write).
                self._insert(con, changes[0])
                return
            con.execute("BEGIN TRANSACTION")
            try:
                for change in changes:
                    if isinstance(change, Replace):
                        self._delete(con, change)
                    self._insert(con, change)
                    if isinstance(change, Replace) and change.hash_into and change.rows:
                        self._hash_rows(con, change)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        # DuckDB has no partitions; the column is what BigQuery would partition by.
        definition = ", ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in columns)
        self._described.pop(table, None)
        with self._connection(write=True, create=True) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.dataset}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {DUCKDB.table(table)} ({definition})")
            for c in columns:
                con.execute(f"ALTER TABLE {DUCKDB.table(table)} "
                            f"ADD COLUMN IF NOT EXISTS {c.name} {DUCKDB_TYPES[c.type]}")

    def forget(self, table: TableRef) -> None:
        self._described.pop(table, None)

    def close(self) -> None:
        """Close the file now (checkpointed: safe to copy), rather than after the idle linger."""
        self._hold.close()

    # -- DuckDB's quirks, kept here ---------------------------------------------------------------

    def _delete(self, con: duckdb.DuckDBPyConnection, change: Replace) -> None:
        where, parameters = _replaced(change)
        con.execute(f"DELETE FROM {DUCKDB.table(change.table)} WHERE {where}",  # noqa: S608
                    parameters)

    def _hash_rows(self, con: duckdb.DuckDBPyConnection, change: Replace) -> None:
        """Record each new row's hash, in SQL and in the write's transaction: every row of the
        range but the kept games' is new (one UPDATE covers both insert paths)."""
        where, parameters = _replaced(change)
        hashed = DUCKDB.text(DUCKDB.row_hash([(name, name) for name in change.hashed]))
        con.execute(f"UPDATE {DUCKDB.table(change.table)} "  # noqa: S608 - validated names
                    f"SET {identifier(str(change.hash_into))} = {hashed} WHERE {where}",
                    parameters)

    def _insert(self, con: duckdb.DuckDBPyConnection, change: Replace | Append) -> None:
        """Insert in one statement: a few thousand rows as one list parameter per column, more
        through a newline-delimited JSON file (executemany costs about a millisecond a row)."""
        if not change.rows:
            return
        columns = change.columns
        into = f"INSERT INTO {DUCKDB.table(change.table)} ({column_list(columns)}) "
        if len(change.rows) <= PARAMETER_ROWS:
            selected = ", ".join(f"CAST(unnest($c{i}) AS {DUCKDB_TYPES[c.type]})"
                                 for i, c in enumerate(columns))
            con.execute(into + f"SELECT {selected}",  # noqa: S608 - validated names only
                        {f"c{i}": [_stored(row.get(c.name)) for row in change.rows]
                         for i, c in enumerate(columns)})
            return
        types = ", ".join(f"{c.name}: '{DUCKDB_TYPES[c.type]}'" for c in columns)
        with tempfile.NamedTemporaryFile("w", suffix=".ndjson", dir=self._spool_dir,
                                         delete=False, encoding="utf-8") as spool:
            for row in change.rows:
                spool.write(json.dumps({c.name: _ndjson_value(row.get(c.name)) for c in columns}))
                spool.write("\n")
        try:
            con.execute(into + f"SELECT {column_list(columns)} FROM read_json($spool, "  # noqa: S608
                        f"format = 'newline_delimited', columns = {{{types}}})",
                        {"spool": spool.name})
        finally:
            os.unlink(spool.name)

    @contextmanager
    def _connection(self, *tables: TableRef, write: bool = False, create: bool = False
                    ) -> Iterator[duckdb.DuckDBPyConnection]:
        if getattr(self._local, "held", False):
            # A nested operation could wait for a hand-over that waits for this one: deadlock.
            raise RuntimeError("nested warehouse connection in one thread")
        if not create and not self._hold.is_open and not self.path.exists():
            # DuckDB would create an empty file: a typo must not read as "every table missing".
            raise ConfigurationError(f"warehouse file {self.path} does not exist "
                                     "(create one with `backfill seed`)")
        self._local.held = True
        try:
            with self._writing if write else nullcontext(), self._hold.cursor() as con:
                try:
                    yield con
                except duckdb.CatalogException as exc:
                    if "does not exist" in str(exc):
                        for table in tables:  # another program may have dropped it
                            self._described.pop(table, None)
                        missing = tables if len(tables) == 1 else named_in(first_line(exc), tables)
                        raise TableNotFound(f"table {missing[0]} does not exist in {self.url}"
                                            if missing else first_line(exc)) from None
                    raise PermanentError(first_line(exc)) from None
                except (duckdb.TransactionException, duckdb.IOException) as exc:
                    raise TransientError(first_line(exc)) from None
                except duckdb.BinderException as exc:
                    if "does not have a column with name" in str(exc):  # an INSERT's column
                        raise MissingColumn(first_line(exc)) from None
                    raise PermanentError(first_line(exc)) from None
                except (duckdb.ConversionException, duckdb.ParserException,
                        duckdb.InvalidInputException) as exc:
                    raise PermanentError(first_line(exc)) from None
        finally:
            self._local.held = False


class _FileHold:
    """This process's connection to the file, held under the file lock while it is in use."""

    def __init__(self, path: Path, linger_seconds: float, max_hold_seconds: float) -> None:
        self._path = path
        self._linger = linger_seconds
        self._max_hold = max_hold_seconds
        self._changed = threading.Condition()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock_file: IO[str] | None = None
        self._generation = 0
        self._in_use = 0
        self._opened_at = self._last_used = 0.0

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._changed:
            while self._con is not None and self._held_too_long():
                if self._in_use:
                    self._changed.wait()
                else:
                    self._close()
                    time.sleep(HAND_OVER_SECONDS)  # a process waiting on the lock wakes first
            if self._con is None:
                self._open()
            assert self._con is not None
            con = self._con.cursor()
            self._in_use += 1
        try:
            yield con
        finally:
            con.close()
            with self._changed:
                self._in_use -= 1
                self._last_used = time.monotonic()
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            while self._in_use:
                self._changed.wait()
            self._close()

    @property
    def is_open(self) -> bool:
        """Whether this process has the file open now (then it exists: no need to look)."""
        return self._con is not None

    def _held_too_long(self) -> bool:
        return time.monotonic() - self._opened_at > self._max_hold

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(f"{self._path}.lock", "a+")  # noqa: SIM115 - held across operations
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            self._con = duckdb.connect(str(self._path))
        except duckdb.IOException as exc:
            lock_file.close()
            raise _io_error(self._path, exc) from None
        except BaseException:
            lock_file.close()
            raise
        self._lock_file = lock_file
        self._opened_at = self._last_used = time.monotonic()
        self._generation += 1
        # Not a daemon: the interpreter waits (at most the linger) for the file to be closed,
        # rather than killing the thread inside DuckDB's close at exit.
        threading.Thread(target=self._close_when_idle, args=(self._generation,),
                         name="duckdb-lease").start()

    def _close_when_idle(self, generation: int) -> None:
        with self._changed:
            while self._con is not None and self._generation == generation:
                idle = time.monotonic() - self._last_used
                if not self._in_use and idle >= self._linger:
                    self._close()
                    return
                self._changed.wait(None if self._in_use else self._linger - idle)

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the flock
            self._lock_file = None


def _io_error(path: Path, exc: duckdb.IOException) -> Exception:
    text = first_line(exc)
    if "lock" in text.lower():
        return TransientError(f"warehouse {path} is locked by another program: {text}")
    return ConfigurationError(f"warehouse {path} is not a DuckDB database: {text}")


def _stored(value: Any) -> Any:
    """TIMESTAMP columns hold UTC without a zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _ndjson_value(value: Any) -> Any:
    """A value as the spool file holds it: stored as a parameter would be, dates as text."""
    value = _stored(value)
    return value.isoformat() if isinstance(value, date) else value


def _replaced(change: Replace) -> tuple[str, dict[str, Any]]:
    """Which rows a replacement replaces: its date range but the kept games."""
    keep = " AND NOT list_contains($keep, game_id)" if change.keep else ""
    return (f"game_date BETWEEN $start AND $end{keep}",
            {"start": change.start, "end": change.end,
             **({"keep": list(change.keep)} if change.keep else {})})
