"""The production warehouse: BigQuery through google-cloud-bigquery, the same port as DuckDB.

Every job carries `maximum_bytes_billed`, labels naming the processor and run, and a job timeout;
every call waits at most `min(its own timeout, the time left to its deadline)` of wall time (the
client alone would not keep to it: see `_bounded`), a call past its deadline is refused before
it is sent (OutOfTime), and a job whose wait runs out is cancelled before the retry, so no MERGE
is left queued behind its own retry.
A table read or written by game date (an audit table: by its partition column) must be
partitioned by it: checked once per table and process from its metadata, and refused with a
clear error otherwise (unpartitioned, every query would bill the whole table and every two
concurrent MERGEs on it would conflict). Streaming inserts are not checked: they bill no scan
and conflict with nothing, and an audit row is worth more than the check.

Proven on the BigQuery API emulator (tests/integration/contract, tests/integration/
test_bigquery_*). Where the emulator differs, this module keeps BigQuery's behaviour and the
tests say what the emulator does instead: it drops a job's labels, byte limit and job timeout
(the tests read them off the wire), runs every DML statement under one lock (so it never
reports BigQuery's serialization conflict), cannot type an empty ARRAY<STRUCT> parameter (an
empty replacement is a DELETE on both), answers every job at once (a slow one is simulated by
holding its answers back), and its tables.patch changes its metadata but not its storage
(columns added that way cannot be queried there; the tests' harness ALTERs them into storage
after the patch, tests/integration/emulated.py).
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar, cast

import google.cloud.bigquery as bigquery
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.bigquery.retry import DEFAULT_RETRY

from backfill.adapters.sql import BIGQUERY, column_list, read_sql, scan_results, scans_sql
from backfill.adapters.values import named_in
from backfill.domain.deadline import Deadline
from backfill.domain.errors import (
    BackfillError,
    ConfigurationError,
    NotReady,
    OutOfTime,
    PermanentError,
    SchemaMismatch,
    TableNotFound,
    TransientError,
)
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableInfo, TableRef
from backfill.ports import Append, Change, Read, Replace, Row, Scan, Warehouse

log = logging.getLogger("backfill.bigquery")

# One call, with the client's own retries, gives up after this long unless told otherwise.
DEFAULT_CALL_TIMEOUT = 120.0
DEFAULT_MAXIMUM_BYTES_BILLED = 10 * 1024 ** 3
# Cancelling a job whose wait ran out: outside the delivery's own deadline (it runs in the
# worker's finishing reserve), never retried, never raising.
CANCEL_TIMEOUT_SECONDS = 5.0
# Rows a query's first results page may hold: the wait for the job then brings its rows too
# (BigQuery caps a page at 10 MB whatever this says), one request fewer than the default's.
PAGE_ROWS = 50_000

# Python values of query parameters to BigQuery types; bool before int matters.
_PARAMETER_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (str, "STRING"),
    (datetime, "TIMESTAMP"), (date, "DATE"))
# Legacy SQL type names the API still reports, in standard SQL's names.
_STANDARD_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}

# Error reasons BigQuery documents as worth retrying; everything else in 4xx is permanent.
_TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError",
                                "jobBackendError", "jobInternalError"})
# Reasons that are permanent however they arrive: python-bigquery turns a job's errorResult
# reason it does not know into a 500 (job/base.py, _ERROR_REASON_TO_EXCEPTION), so a query over
# maximum_bytes_billed would otherwise look like a server error and be retried to the budget.
_PERMANENT_REASONS = frozenset({"bytesBilledLimitExceeded"})
# Texts of 400s that pass on their own: two DML statements on one partition, "Could not
# serialize access to table ... due to concurrent update" (invalidQuery; one loses and may run
# again), and a table's queue of DML statements full, "Too many DML statements outstanding
# against table ..., limit is 20" (resourcesExceeded; at most 2 run and 20 wait per table).
_TRANSIENT_TEXTS = ("could not serialize access", "too many dml statements outstanding")
# A DML statement over rows streamed in the last ~30 to 90 minutes: "UPDATE or DELETE statement
# over table ... would affect rows in the streaming buffer, which is not supported"
# (invalidQuery). It passes once BigQuery has moved them to storage: a wait, not a failure.
_NOT_READY_TEXTS = ("streaming buffer",)
_LABEL = re.compile(r"[^a-z0-9_-]")
T = TypeVar("T")


class BigQueryWarehouse(Warehouse):
    """Warehouse on BigQuery datasets of one project; tables resolve in that project."""

    latency_bound = True

    def __init__(self, project: str, *, emulator_host: str | None = None,
                 call_timeout: float | None = None,
                 maximum_bytes_billed: int = DEFAULT_MAXIMUM_BYTES_BILLED,
                 deadline: Deadline | None = None, labels: Mapping[str, str] | None = None,
                 shared: _Shared | None = None) -> None:
        self.project = project
        self.url = f"bigquery://{project}"
        self._call_timeout = call_timeout or DEFAULT_CALL_TIMEOUT
        self._maximum_bytes_billed = maximum_bytes_billed
        self._deadline = deadline
        self._labels = {_label(k): _label(v) for k, v in (labels or {}).items()}
        # The client and table metadata, shared by every scoped copy of this warehouse.
        self._shared = shared or _Shared(project, emulator_host)

    # -- the port, in the same order as the DuckDB adapter ----------------------------------------

    def describe(self, table: TableRef) -> TableInfo | None:
        return self._shared.describe(table, lambda: self._get_table(table))

    def scan_together(self, scans: Sequence[Scan]) -> list[list[GameStat]]:
        for scan in scans:
            self._require_partitioned(scan.table, scan.column("game_date"))
        # A query reads tables of one location: one job per location, the jobs at once.
        by_location: dict[str | None, list[int]] = {}
        for i, scan in enumerate(scans):
            by_location.setdefault(self._shared.location(scan.table), []).append(i)
        groups = list(by_location.values())

        def scanned(group: list[int]) -> list[list[GameStat]]:
            chosen = [scans[i] for i in group]
            sql, parameters = scans_sql(chosen, BIGQUERY)
            return scan_results((row.values() for row in self._query(
                [s.table for s in chosen], sql, parameters)), len(chosen))

        if len(groups) <= 1:
            results = [scanned(group) for group in groups]
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(groups)) as pool:
                results = list(pool.map(scanned, groups))
        found: list[list[GameStat]] = [[] for _ in scans]
        for group, stats in zip(groups, results, strict=True):
            for i, games in zip(group, stats, strict=True):
                found[i] = games
        return found

    def read_rows(self, read: Read) -> list[Row]:
        self._require_partitioned(read.table, read.by)
        sql, parameters = read_sql(read, BIGQUERY)
        return [dict(row.items()) for row in self._query([read.table], sql, parameters)]

    def write(self, changes: Sequence[Change]) -> None:
        if len(changes) <= 1:
            for change in changes:
                self._apply(change)
            return
        # Independent statements at once: each is atomic on its own and idempotent to repeat.
        failures = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(changes)) as pool:
            for future in [pool.submit(self._apply, change) for change in changes]:
                try:
                    future.result()
                except BackfillError as exc:
                    failures.append(exc)
        if failures:
            raise failures[0]

    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        wanted = [bigquery.SchemaField(c.name, c.type) for c in columns]
        try:
            self._create(table, columns, wanted, partitioned_by)
        finally:
            self._shared.forget(table)  # whatever happened, the next describe asks again

    def scoped(self, deadline: Deadline | None = None,
               labels: Mapping[str, str] | None = None) -> BigQueryWarehouse:
        return BigQueryWarehouse(self.project, call_timeout=self._call_timeout,
                                 maximum_bytes_billed=self._maximum_bytes_billed,
                                 deadline=deadline or self._deadline,
                                 labels={**self._labels, **(labels or {})}, shared=self._shared)

    def forget(self, table: TableRef) -> None:
        self._shared.forget(table)

    def close(self) -> None:
        self._shared.close()

    # -- BigQuery's quirks, kept here -------------------------------------------------------------

    def _apply(self, change: Change) -> None:
        if isinstance(change, Append):
            self._append(change)
        else:
            self._replace(change)

    def _create(self, table: TableRef, columns: Schema, wanted: list[bigquery.SchemaField],
                partitioned_by: str) -> None:
        with self._errors(table):
            client = self._shared.client()
            try:
                # An existing table is only ever read and extended: tables.get and tables.update
                # are all a table-level grant needs to carry (terraform/iam.tf).
                found = self._bounded(lambda: client.get_table(
                    self._table_id(table), retry=self._retry(), timeout=self._timeout()))
            except exceptions.NotFound:
                found = self._insert(client, table, columns, wanted, partitioned_by)
            have = {f.name for f in found.schema}
            if any(c.name not in have for c in columns):
                # A table made before Backfill's lineage columns: add them (nullable).
                found.schema = [*found.schema, *(f for f in wanted if f.name not in have)]
                # Sent with the table's etag: a concurrent change is a 412, retried afresh.
                self._bounded(lambda: client.update_table(
                    found, ["schema"], retry=self._retry(), timeout=self._timeout()))

    def _insert(self, client: bigquery.Client, table: TableRef, columns: Schema,
                wanted: list[bigquery.SchemaField], partitioned_by: str) -> bigquery.Table:
        """A new table (tables.insert), and its dataset only if datasets.get finds none: a
        deployment whose datasets exist never asks for datasets.create."""
        dataset = f"{self.project}.{table.dataset}"
        try:
            self._bounded(lambda: client.get_dataset(dataset, retry=self._retry(),
                                                     timeout=self._timeout()))
        except exceptions.NotFound:
            self._bounded(lambda: client.create_dataset(
                dataset, exists_ok=True, retry=self._retry(), timeout=self._timeout()))
        definition = bigquery.Table(self._table_id(table), schema=wanted)
        if partitioned_by in {c.name for c in columns}:
            definition.time_partitioning = bigquery.TimePartitioning(field=partitioned_by)
        if "game_id" in {c.name for c in columns}:
            definition.clustering_fields = ["game_id"]
        return self._bounded(lambda: client.create_table(
            definition, exists_ok=True, retry=self._retry(), timeout=self._timeout()))

    def _replace(self, change: Replace) -> None:
        self._require_partitioned(change.table, "game_date")
        table = BIGQUERY.table(change.table)
        parameters: list[Any] = [*_parameters({"start": change.start, "end": change.end})]
        kept = ""
        if change.keep:
            kept = " AND target.game_id NOT IN UNNEST(@keep)" if change.rows else \
                " AND game_id NOT IN UNNEST(@keep)"
            parameters.append(bigquery.ArrayQueryParameter("keep", "STRING", list(change.keep)))
        if not change.rows:
            # BigQuery can type an empty ARRAY<STRUCT> parameter, the emulator cannot; a DELETE
            # is one atomic statement on both and says the same thing.
            self._query([change.table], f"DELETE FROM {table} "  # noqa: S608 - validated names
                        f"WHERE game_date BETWEEN @start AND @end{kept}", parameters)
            return
        # One MERGE is one atomic statement: the date range's old rows go and the new ones
        # arrive together, whoever runs it and however often. No load job, so no load quota.
        names = column_list(change.columns)
        # The row hash is computed here, by the same SQL a target scan checks it with.
        hashed = BIGQUERY.text(BIGQUERY.row_hash([(n, n) for n in change.hashed],
                                                 qualifier="source."))
        values = ", ".join(hashed if c.name == change.hash_into else f"source.{c.name}"
                           for c in change.columns)
        sql = (f"MERGE {table} AS target "  # noqa: S608 - identifiers validated
               "USING UNNEST(@rows) AS source ON FALSE "
               f"WHEN NOT MATCHED BY SOURCE AND target.game_date BETWEEN @start AND @end{kept} "
               "THEN DELETE "
               f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")
        self._query([change.table], sql, [_rows_parameter(change.rows, change.columns),
                                        *parameters])

    def _append(self, change: Append) -> None:
        if not change.rows:
            return
        # Streaming inserts: audit batches never spend the load-job quota.
        payload = [{c.name: _insert_value(row.get(c.name)) for c in change.columns}
                   for row in change.rows]
        with self._errors(change.table):
            client = self._shared.client()
            failed = self._bounded(lambda: client.insert_rows_json(
                self._table_id(change.table), payload, retry=self._retry(),
                timeout=self._timeout()))
        if failed:
            raise PermanentError(f"{len(failed)} rows rejected by {change.table}: "
                                 f"{failed[0]['errors']}")

    def _query(self, tables: Sequence[TableRef], sql: str,
               parameters: Mapping[str, Any] | Sequence[Any]) -> list[bigquery.Row]:
        """Run a statement over `tables` (in one location: the first one's) and its rows."""
        table = tables[0]
        timeout = self._timeout()  # OutOfTime here, before anything is sent
        config = bigquery.QueryJobConfig(
            query_parameters=(_parameters(parameters) if isinstance(parameters, Mapping)
                              else list(parameters)),
            maximum_bytes_billed=self._maximum_bytes_billed, labels=self._labels,
            # BigQuery stops the job itself once this is spent, even if no cancel reaches it.
            job_timeout_ms=max(1, math.ceil(timeout * 1000)))
        with self._errors(*tables):
            # A query job and its results rather than query_and_wait (jobs.query): only a job
            # has an id to cancel when its wait runs out (and the emulator answers a failed
            # jobs.query with no rows instead of the error).
            # job_retry=None: the client would wrap the insert in a fixed 10-minute retry of its
            # own, and a job of our own id cannot be re-run by it; a job that fails transiently
            # is a TransientError, and the worker runs its whole pass again within its budget.
            client = self._shared.client()
            # The id is ours, so a job whose insert answer never came in time can be cancelled.
            job_id = f"backfill_{uuid.uuid4().hex}"
            # Where the job runs (its table's dataset): jobs.get and jobs.cancel need it outside
            # the US and EU multi-regions.
            location = self._shared.location(table)
            try:
                job = self._bounded(lambda: client.query(
                    sql, job_config=config, job_id=job_id, retry=_retry(timeout),
                    job_retry=None, timeout=timeout), timeout)
            except concurrent.futures.TimeoutError:
                _cancel(lambda: client.cancel_job(job_id, location=location,
                                                  timeout=CANCEL_TIMEOUT_SECONDS), job_id)
                raise
            except exceptions.Conflict:
                # 409 "Already Exists" on an id of our own: the client retried a jobs.insert
                # whose answer was lost, and the first one created the job. It is this very
                # statement: wait on it (never run it twice, never call it a failure).
                log.info("BigQuery job %s already exists (its insert was retried): waiting on it",
                         job_id)
                try:
                    job = cast(bigquery.QueryJob, self._bounded(lambda: client.get_job(
                        job_id, location=location, retry=self._retry(),
                        timeout=self._timeout())))
                except exceptions.NotFound:
                    # jobs.get can miss a job created a moment ago (python-bigquery#2134): the
                    # pass runs again (a MERGE is idempotent), never a dead letter.
                    raise TransientError(f"{table}: BigQuery job {job_id} exists (409) but is "
                                         "not visible yet") from None
            try:
                wait = self._timeout()
                # result(timeout=) alone does not bound the wait: python-bigquery gives each
                # getQueryResults poll a transport timeout of at least 120 s (client.py,
                # _MIN_GET_QUERY_RESULTS_TIMEOUT) and checks the timeout only between polls.
                return self._bounded(lambda: list(job.result(
                    retry=_retry(wait), job_retry=None, timeout=wait,
                    page_size=PAGE_ROWS)), wait)
            except (concurrent.futures.TimeoutError, exceptions.RetryError,
                    requests.RequestException, OutOfTime) as exc:
                # Not left running: a retry would otherwise queue a second MERGE behind it.
                _cancel(lambda: job.cancel(retry=None, timeout=CANCEL_TIMEOUT_SECONDS), job_id)
                text = (f"{table}: BigQuery job {job.job_id} did not finish in time and was "
                        f"cancelled ({type(exc).__name__})")
                raise self._late(text) from None

    def _late(self, text: str) -> TransientError:
        """A call that did not finish in time: the delivery's end when its deadline has passed
        (no retry can help), a transient failure otherwise."""
        if self._deadline is not None and self._deadline.left() <= 0:
            return OutOfTime(f"the delivery ran out of time: {text}")
        return TransientError(text)

    def _require_partitioned(self, table: TableRef, column: str) -> None:
        info = self.describe(table)
        if info is None:
            raise TableNotFound(f"table {table} does not exist in {self.url}")
        if info.partitioned_by != column:
            found = (f"partitioned by {info.partitioned_by}" if info.partitioned_by
                     else "not partitioned")
            raise SchemaMismatch(
                f"{table} is {found}; Backfill needs it partitioned by {column}, or every query "
                "would read the whole table (see terraform/README.md)")

    def _get_table(self, table: TableRef) -> TableInfo | None:
        with self._errors(table):
            client = self._shared.client()
            try:
                found = self._bounded(lambda: client.get_table(
                    self._table_id(table), retry=self._retry(), timeout=self._timeout()))
            except exceptions.NotFound:
                return None
        self._shared.located(table, found.location)
        by_time, by_range = found.time_partitioning, found.range_partitioning
        return TableInfo({f.name: _STANDARD_TYPES.get(f.field_type, f.field_type)  # type: ignore[misc]
                          for f in found.schema},
                         (by_time.field or "_PARTITIONTIME") if by_time
                         else by_range.field if by_range else None)

    def _timeout(self) -> float:
        """min(the call timeout, the time left); OutOfTime when the deadline has passed."""
        return self._deadline.timeout(self._call_timeout) if self._deadline else \
            self._call_timeout

    def _retry(self) -> Any:
        return _retry(self._timeout())

    def _bounded(self, call: Callable[[], T], timeout: float | None = None) -> T:
        """`call`, given at most `timeout` (default: this call's) seconds of wall time.

        The client's timeouts are per HTTP request, its retries may start one more request
        just before their own deadline, and a job's wait polls for at least 120 s whatever it
        is told; so the call runs on a thread of its own and is given up when its time is
        up (TimeoutError; the thread ends with its last request, its answer unread).
        """
        limit = self._timeout() if timeout is None else timeout
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                answer.set_exception(exc)

        threading.Thread(target=run, name="bigquery-call", daemon=True).start()
        return answer.result(timeout=limit)

    def _table_id(self, table: TableRef) -> str:
        return f"{self.project}.{table.dataset}.{table.table}"

    @contextmanager
    def _errors(self, *tables: TableRef) -> Iterator[None]:
        """BigQuery's errors as the port's, said of the table they name (else the first)."""
        table = tables[0]
        try:
            yield
        except exceptions.GoogleAPICallError as exc:
            named = named_in(_message(exc), tables)
            error = classify(exc, named[0] if named else table)
            if isinstance(error, TableNotFound):
                for dropped in named or tables:  # dropped since it was described
                    self._shared.forget(dropped)
            raise error from None
        except (exceptions.RetryError, requests.ConnectionError, requests.Timeout,
                concurrent.futures.TimeoutError) as exc:
            detail = f": {exc}" if str(exc) else ""
            text = f"{table}: BigQuery did not answer in time ({type(exc).__name__}{detail})"
            raise self._late(text) from None


class _Shared:
    """The client (built on first use, under a lock) and the tables described so far."""

    def __init__(self, project: str, emulator_host: str | None) -> None:
        self._project = project
        self._emulator_host = emulator_host
        self._client: bigquery.Client | None = None
        self._tables: dict[TableRef, TableInfo] = {}
        self._locations: dict[TableRef, str | None] = {}
        self._lock = threading.Lock()

    def client(self) -> bigquery.Client:
        with self._lock:
            if self._client is None:
                if self._emulator_host:
                    self._client = bigquery.Client(
                        project=self._project,
                        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                        client_options=ClientOptions(api_endpoint=f"http://{self._emulator_host}"))
                else:
                    self._client = bigquery.Client(project=self._project)
            return self._client

    def describe(self, table: TableRef, look: Any) -> TableInfo | None:
        """A table's metadata, asked for once per process once it exists."""
        with self._lock:
            known = self._tables.get(table)
        if known is not None:
            return known
        found: TableInfo | None = look()
        if found is not None:
            with self._lock:
                self._tables[table] = found
        return found

    def located(self, table: TableRef, location: str | None) -> None:
        with self._lock:
            self._locations[table] = location

    def location(self, table: TableRef) -> str | None:
        """Where the table's dataset is, as its metadata said (None until described)."""
        with self._lock:
            return self._locations.get(table)

    def forget(self, table: TableRef) -> None:
        with self._lock:
            self._tables.pop(table, None)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def classify(exc: exceptions.GoogleAPICallError, table: TableRef) -> BackfillError:
    """notFound → TableNotFound with BigQuery's text; accessDenied → ConfigurationError (a
    permission the deployment lacks: BigQuery's text names the table and the permission, and no
    request is to blame); DML over the streaming buffer → NotReady (a wait); retryable reasons,
    429, 5xx, a 412 (the table changed under a conditional update) and the two 400s that pass on
    their own → transient; a reason permanent however it arrives, and the rest, permanent."""
    reasons = {error.get("reason") for error in exc.errors or [] if isinstance(error, dict)}
    text = _message(exc)
    if str(table) not in text:  # "Dataset p:nba_raw was not found" names no table
        text = f"{table}: {text}"
    if isinstance(exc, exceptions.NotFound) or "notFound" in reasons:
        return TableNotFound(text)
    if "accessDenied" in reasons:
        return ConfigurationError(f"the deployment lacks a permission: {text}")
    if any(t in text.lower() for t in _NOT_READY_TEXTS):
        return NotReady(text)
    if reasons & _PERMANENT_REASONS:
        return PermanentError(text)
    if (reasons & _TRANSIENT_REASONS or any(t in text.lower() for t in _TRANSIENT_TEXTS)
            or isinstance(exc, exceptions.ServerError | exceptions.TooManyRequests
                          | exceptions.PreconditionFailed)):
        return TransientError(text)
    return PermanentError(text)


def _message(exc: exceptions.GoogleAPICallError) -> str:
    """BigQuery's own words ("Not found: Table p:nba_raw.x was not found in location US")."""
    for error in exc.errors or []:
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]).strip().splitlines()[0]
    return str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__


def _retry(timeout: float) -> Any:
    """The client's retry of one API request, within `timeout`."""
    return DEFAULT_RETRY.with_timeout(timeout)


def _cancel(cancel: Callable[[], object], job_id: str) -> None:
    """Ask BigQuery to stop a job (best effort: its job timeout stops it otherwise)."""
    try:
        cancel()
    except Exception as exc:  # noqa: BLE001 - the caller reports the timeout, not this
        log.warning("could not cancel BigQuery job %s: %s", job_id, exc)


def _parameters(values: Mapping[str, Any]) -> list[bigquery.ScalarQueryParameter]:
    return [bigquery.ScalarQueryParameter(name, _parameter_type(value), value)
            for name, value in values.items()]


def _parameter_type(value: object) -> str:
    for kind, name in _PARAMETER_TYPES:
        if isinstance(value, kind):
            return name
    raise TypeError(f"no BigQuery parameter type for {type(value).__name__}")


def _rows_parameter(rows: Sequence[Row], columns: Schema) -> bigquery.ArrayQueryParameter:
    """The rows as one ARRAY<STRUCT<...>> parameter, typed by the schema (NULLs keep their type)."""
    struct = bigquery.StructQueryParameterType(
        *(bigquery.ScalarQueryParameterType(c.type, name=c.name) for c in columns))
    values = [bigquery.StructQueryParameter(
        None, *(bigquery.ScalarQueryParameter(c.name, c.type, row.get(c.name)) for c in columns))
        for row in rows]
    return bigquery.ArrayQueryParameter("rows", struct, values)


def _insert_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _label(text: str) -> str:
    """A label key or value as BigQuery allows: lower-case letters, digits, _ and -, 63 at most."""
    return _LABEL.sub("_", text.lower())[:63]

