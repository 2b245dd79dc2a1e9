"""The production warehouse: BigQuery through google-cloud-bigquery, the same port as DuckDB.

`BIGQUERY_EMULATOR_HOST=host:port` points the client at a BigQuery API emulator with anonymous
credentials, as `PUBSUB_EMULATOR_HOST` does for Pub/Sub. Every API call carries an explicit
retry deadline and timeout, so the client's own retries never outlive the worker's budget.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import google.cloud.bigquery as bigquery
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from backfill.adapters.sql import (
    column_list,
    game_stat,
    scan_games_sql,
    scan_parameters,
    table_sql,
)
from backfill.domain.errors import BackfillError, PermanentError, TableNotFound, TransientError
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableRef
from backfill.ports import GameScan, Row, Warehouse, require_dates_within

EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
# One call, with the client's own retries, gives up after this long unless told otherwise.
DEFAULT_DEADLINE_SECONDS = 120.0

# Python values of query parameters (scan filters) to BigQuery types; bool before int matters.
_PARAMETER_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (str, "STRING"),
    (datetime, "TIMESTAMP"), (date, "DATE"))

# Error reasons BigQuery documents as worth retrying; everything else in 4xx is permanent.
_TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError",
                                "jobBackendError", "jobInternalError"})
# Concurrent DML on the same partitions: one of them loses and may simply run again.
_SERIALIZATION_FAILURE = "could not serialize access"


class BigQueryWarehouse(Warehouse):
    """Warehouse on BigQuery datasets of one project; tables resolve in that project."""

    latency_bound = True

    def __init__(self, project: str, *, deadline_seconds: float | None = None) -> None:
        self.project = project
        self.url = f"bigquery://{project}"
        self._deadline = deadline_seconds or DEFAULT_DEADLINE_SECONDS
        self._retry = DEFAULT_RETRY.with_deadline(self._deadline)
        self._job_retry = DEFAULT_JOB_RETRY.with_deadline(self._deadline)
        self._client: bigquery.Client | None = None
        self._client_lock = threading.Lock()

    # -- the port, in the same order as the DuckDB adapter ----------------------------------------

    def scan_games(self, scan: GameScan) -> list[GameStat]:
        # Rows are read page by page as they arrive; only key columns are ever selected.
        rows = self._query(scan.table, scan_games_sql(scan, quote="`", placeholder="@"),
                           _parameters(scan_parameters(scan)))
        return [game_stat(row.values()) for row in rows]

    def read_rows(self, table: TableRef, start: date, end: date) -> list[Row]:
        sql = (f"SELECT * FROM {table_sql(table, '`')} "  # noqa: S608 - identifiers validated
               "WHERE game_date BETWEEN @start AND @end ORDER BY game_date")
        return [dict(row.items()) for row in self._query(table, sql, _range(start, end))]

    def replace_range(self, table: TableRef, start: date, end: date, rows: Sequence[Row],
                      columns: Schema) -> int:
        require_dates_within(table, start, end, rows)
        if not rows:
            # The emulator cannot type an empty array of structs; a DELETE is one atomic
            # statement on both and says the same thing.
            sql = (f"DELETE FROM {table_sql(table, '`')} "  # noqa: S608 - identifiers validated
                   "WHERE game_date BETWEEN @start AND @end")
            self._query(table, sql, _range(start, end))
            return 0
        # One MERGE is one atomic statement: the date range's old rows go and the new ones
        # arrive together, whoever runs it and however often. No load job, so no load quota.
        names = column_list(columns)
        values = ", ".join(f"source.{c.name}" for c in columns)
        sql = (f"MERGE {table_sql(table, '`')} AS target "  # noqa: S608 - identifiers validated
               "USING UNNEST(@rows) AS source ON FALSE "
               "WHEN NOT MATCHED BY SOURCE AND target.game_date BETWEEN @start AND @end "
               "THEN DELETE "
               f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")
        self._query(table, sql, [_rows_parameter(rows, columns), *_range(start, end)])
        return len(rows)

    def create_table(self, table: TableRef, columns: Schema) -> None:
        definition = bigquery.Table(self._table_id(table),
                                    schema=[bigquery.SchemaField(c.name, c.type) for c in columns])
        if any(c.name == "game_date" and c.type == "DATE" for c in columns):
            definition.time_partitioning = bigquery.TimePartitioning(field="game_date")
        with self._errors(table):
            client = self._bigquery()
            client.create_dataset(f"{self.project}.{table.dataset}", exists_ok=True,
                                  retry=self._retry, timeout=self._deadline)
            client.create_table(definition, exists_ok=True, retry=self._retry,
                                timeout=self._deadline)

    def load_rows(self, table: TableRef, rows: Sequence[Row], columns: Schema) -> int:
        if not rows:
            return 0
        # Streaming inserts: audit batches never spend the load-job quota (lesson 9).
        payload = [{c.name: _json_value(row.get(c.name)) for c in columns} for row in rows]
        with self._errors(table):
            failed = self._bigquery().insert_rows_json(self._table_id(table), payload,
                                                       retry=self._retry, timeout=self._deadline)
        if failed:
            raise PermanentError(f"{len(failed)} rows rejected by {table}: {failed[0]['errors']}")
        return len(rows)

    def drop_table(self, table: TableRef) -> None:
        with self._errors(table):
            self._bigquery().delete_table(self._table_id(table), not_found_ok=True,
                                          retry=self._retry, timeout=self._deadline)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- BigQuery's quirks, kept here -------------------------------------------------------------

    def _query(self, table: TableRef, sql: str,
               parameters: Sequence[Any]) -> list[bigquery.Row]:
        config = bigquery.QueryJobConfig(query_parameters=list(parameters))
        with self._errors(table):
            # A query job and its results rather than query_and_wait (jobs.query): the emulator
            # answers a failed jobs.query with no rows instead of the error; both accept this.
            # job_retry=None here: otherwise the client wraps the insert in a fixed 10-minute
            # retry of its own; a failed job is still re-run by result() within our deadline.
            job = self._bigquery().query(sql, job_config=config, retry=self._retry,
                                         job_retry=None, timeout=self._deadline)
            return list(job.result(retry=self._retry, job_retry=self._job_retry,
                                   timeout=self._deadline))

    def _table_id(self, table: TableRef) -> str:
        return f"{self.project}.{table.dataset}.{table.table}"

    def _bigquery(self) -> bigquery.Client:
        """The client, built on first use (nothing connects at import or construction time)."""
        with self._client_lock:
            if self._client is None:
                self._client = _client(self.project)
            return self._client

    @contextmanager
    def _errors(self, table: TableRef) -> Iterator[None]:
        try:
            yield
        except exceptions.GoogleAPICallError as exc:
            raise classify(exc, table) from None
        except (exceptions.RetryError, requests.ConnectionError, requests.Timeout,
                concurrent.futures.TimeoutError) as exc:
            raise TransientError(f"BigQuery unavailable: {exc}") from None


def _client(project: str) -> bigquery.Client:
    host = os.environ.get(EMULATOR_HOST)
    if host:
        return bigquery.Client(project=project, credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                               client_options=ClientOptions(api_endpoint=f"http://{host}"))
    return bigquery.Client(project=project)


def classify(exc: exceptions.GoogleAPICallError, table: TableRef) -> BackfillError:
    """notFound → TableNotFound with BigQuery's text; retryable reasons and 5xx → transient."""
    reasons = {error.get("reason") for error in exc.errors or [] if isinstance(error, dict)}
    text = _message(exc)
    if str(table) not in text:  # "Dataset p:nba_raw was not found" names no table
        text = f"{table}: {text}"
    if isinstance(exc, exceptions.NotFound) or "notFound" in reasons:
        return TableNotFound(text)
    if (reasons & _TRANSIENT_REASONS or _SERIALIZATION_FAILURE in text.lower()
            or isinstance(exc, exceptions.ServerError | exceptions.TooManyRequests)):
        return TransientError(text)
    return PermanentError(text)


def _message(exc: exceptions.GoogleAPICallError) -> str:
    """BigQuery's own words ("Not found: Table p:nba_raw.x was not found in location US")."""
    for error in exc.errors or []:
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]).strip().splitlines()[0]
    return str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__


def _parameters(values: Mapping[str, Any]) -> list[bigquery.ScalarQueryParameter]:
    return [bigquery.ScalarQueryParameter(name, _parameter_type(value), value)
            for name, value in values.items()]


def _parameter_type(value: object) -> str:
    for kind, name in _PARAMETER_TYPES:
        if isinstance(value, kind):
            return name
    raise TypeError(f"no BigQuery parameter type for {type(value).__name__}")


def _range(start: date, end: date) -> list[bigquery.ScalarQueryParameter]:
    return [bigquery.ScalarQueryParameter("start", "DATE", start),
            bigquery.ScalarQueryParameter("end", "DATE", end)]


def _rows_parameter(rows: Sequence[Row], columns: Schema) -> bigquery.ArrayQueryParameter:
    """The rows as one ARRAY<STRUCT<...>> parameter, typed by the schema (NULLs keep their type)."""
    struct = bigquery.StructQueryParameterType(
        *(bigquery.ScalarQueryParameterType(c.type, name=c.name) for c in columns))
    values = [bigquery.StructQueryParameter(
        None, *(bigquery.ScalarQueryParameter(c.name, c.type, row.get(c.name)) for c in columns))
        for row in rows]
    return bigquery.ArrayQueryParameter("rows", struct, values)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
