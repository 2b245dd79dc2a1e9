"""BigQuery's errors in the product's classes, built exactly as python-bigquery builds them from
what BigQuery sends: a failed job's `status.errorResult` (QueryJob.exception(), through
`_error_result_to_exception`) and an HTTP error answer (`from_http_response`, as the client's
connection raises it). Then the two ways a call is cut short: a job whose wait times out is
cancelled before anyone retries it, and a call past its deadline is refused before it is sent.

No emulator here: the BigQuery emulator never fails this way (it runs DML under one lock and
answers at once), so these are the only tests of these paths; the client is the real one.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.cloud.bigquery as bigquery
import pytest
import requests
from backfill.adapters.bigquery_warehouse import (
    CANCEL_TIMEOUT_SECONDS,
    BigQueryWarehouse,
    classify,
)
from backfill.domain.deadline import Deadline
from backfill.domain.errors import (
    BackfillError,
    ConfigurationError,
    NotReady,
    OutOfTime,
    PermanentError,
    TableNotFound,
    TransientError,
)
from backfill.domain.outcome import Outcome, Policy, settle
from backfill.domain.tables import TableRef, schema
from backfill.domain.window import Window
from backfill.local.stack import free_port
from backfill.ports import Append, Read, Replace, Scan
from backfill.service.retry import retry_policy
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials

TABLE = TableRef("nba_analytics", "team_offense_game_summary")
BQ_TABLE = "my-project:nba_analytics.team_offense_game_summary"  # as BigQuery names it
DAY = date(2025, 1, 14)
COLUMNS = schema(game_id="STRING", game_date="DATE", points="INT64")


def job_failure(reason: str, message: str) -> exceptions.GoogleAPICallError:
    """What QueryJob.result() raises for a job that ended with this errorResult."""
    client = bigquery.Client(project="my-project",
                             credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    error = {"reason": reason, "location": "query", "message": message}
    job = bigquery.QueryJob.from_api_repr({
        "jobReference": {"projectId": "my-project", "jobId": "job-1", "location": "US"},
        "configuration": {"query": {"query": "MERGE ..."}},
        "status": {"state": "DONE", "errorResult": error, "errors": [error]}}, client)
    failure = job.exception()
    assert isinstance(failure, exceptions.GoogleAPICallError)
    return failure


def http_failure(status: int, reason: str | None, message: str) -> exceptions.GoogleAPICallError:
    """What the client raises when BigQuery answers a request (jobs.insert, getQueryResults,
    tables.get, insertAll) with this HTTP error."""
    answer = requests.Response()
    answer.status_code = status
    errors = [{"message": message, "domain": "global", "reason": reason}] if reason else []
    answer._content = json.dumps({"error": {"code": status, "message": message,
                                            "errors": errors}}).encode()
    answer.request = requests.Request(
        "POST", "https://bigquery.googleapis.com/bigquery/v2/projects/my-project/jobs").prepare()
    return exceptions.from_http_response(answer)


DML_QUEUE_FULL = ("Resources exceeded during query execution: Too many DML statements "
                  f"outstanding against table {BQ_TABLE}, limit is 20.")
SERIALIZATION = f"Could not serialize access to table {BQ_TABLE} due to concurrent update"


@pytest.mark.parametrize("build", [job_failure, lambda r, m: http_failure(400, r, m)],
                         ids=["job errorResult", "HTTP 400"])
@pytest.mark.parametrize(("reason", "message"), [
    ("resourcesExceeded", DML_QUEUE_FULL), ("invalidQuery", SERIALIZATION)],
    ids=["DML queue full", "concurrent update"])
def test_the_two_400s_that_pass_on_their_own_are_transient(
        build: Any, reason: str, message: str) -> None:
    raised = build(reason, message)
    assert isinstance(raised, exceptions.BadRequest)  # as the client makes it: a 400
    mapped = classify(raised, TABLE)
    assert type(mapped) is TransientError
    assert str(mapped) == message  # BigQuery's own words, which name the table


@pytest.mark.parametrize(("raised", "expected"), [
    # The job failures, as QueryJob.exception() gives them.
    (job_failure("notFound", f"Not found: Table {BQ_TABLE} was not found in location US"),
     TableNotFound),
    (job_failure("rateLimitExceeded", "Exceeded rate limits: too many concurrent queries"),
     TransientError),  # the client makes it a 429
    (job_failure("backendError", "Backend error"), TransientError),
    (job_failure("internalError", "An internal error occurred"), TransientError),
    (job_failure("jobBackendError", "The job encountered an error"), TransientError),
    (job_failure("jobRateLimitExceeded", "Exceeded rate limits for jobs"), TransientError),
    (job_failure("invalidQuery", "Unrecognized name: nope at [1:8]"), PermanentError),
    (job_failure("resourcesExceeded", "Resources exceeded during query execution: The query "
                 "could not be executed in the allotted memory."), PermanentError),
    (job_failure("accessDenied", f"Access Denied: Table {BQ_TABLE}: Permission "
                 f"bigquery.tables.updateData denied on table {BQ_TABLE}"), ConfigurationError),
    (job_failure("quotaExceeded", "Quota exceeded: Your project exceeded quota for free "
                 "query bytes scanned"), PermanentError),
    # Over maximum_bytes_billed: the client turns this reason, unknown to it, into a 500;
    # retrying cannot help, so it must not look like a server error.
    (job_failure("bytesBilledLimitExceeded", "Query exceeded limit for bytes billed: "
                 "10737418240. 21474836480 or higher required."), PermanentError),
    # The HTTP answers, as the client's connection raises them.
    (http_failure(404, "notFound", "Not found: Dataset my-project:nba_analytics"),
     TableNotFound),
    (http_failure(403, "rateLimitExceeded", "Exceeded rate limits: too many table update "
                  "operations for this table"), TransientError),
    (http_failure(403, "quotaExceeded", "Quota exceeded"), PermanentError),
    (http_failure(403, "accessDenied", "Access Denied: Dataset my-project:nba_analytics: "
                  "Permission bigquery.tables.create denied on dataset "
                  "my-project:nba_analytics (or it may not exist)."), ConfigurationError),
    (http_failure(400, "bytesBilledLimitExceeded", "Query exceeded limit for bytes billed"),
     PermanentError),
    (http_failure(409, "duplicate", "Already Exists: Table my-project:nba_analytics.x"),
     PermanentError),  # a job's 409 never reaches classify(): see the test below
    (http_failure(412, "conditionNotMet", "Precondition check failed."), TransientError),
    (http_failure(429, None, "Too many requests"), TransientError),
    (http_failure(500, "backendError", "Backend error"), TransientError),
    (http_failure(503, None, "Service unavailable"), TransientError),
], ids=lambda value: value.__name__ if isinstance(value, type) else
    f"{type(value).__name__}:{(value.errors or [{}])[0].get('reason')}")
def test_every_other_answer_keeps_its_class(raised: exceptions.GoogleAPICallError,
                                            expected: type[BackfillError]) -> None:
    mapped = classify(raised, TABLE)
    assert type(mapped) is expected
    assert str(TABLE) in str(mapped)


STREAMING_BUFFER = (f"UPDATE or DELETE statement over table {BQ_TABLE} would affect rows in "
                    "the streaming buffer, which is not supported")


@pytest.mark.parametrize("build", [job_failure, lambda r, m: http_failure(400, r, m)],
                         ids=["job errorResult", "HTTP 400"])
def test_dml_over_the_streaming_buffer_is_a_wait_not_a_failure(build: Any) -> None:
    """Rows the pipeline streamed in the last ~30-90 minutes cannot be deleted by the MERGE yet:
    the request waits (Pub/Sub delivers it again later) instead of being dead-lettered."""
    mapped = classify(build("invalidQuery", STREAMING_BUFFER), TABLE)
    assert type(mapped) is NotReady and str(mapped) == STREAMING_BUFFER
    policy = Policy(timedelta(hours=2), 60)
    waiting = settle(None, mapped, 1, age=timedelta(minutes=5), delivery_attempt=3,
                     policy=policy)
    assert (waiting.outcome, waiting.error_type, waiting.dead_letter) == (
        Outcome.RETRY, "NotReady", False)
    given_up = settle(None, mapped, 1, age=timedelta(hours=3), delivery_attempt=30,
                      policy=policy)
    assert (given_up.outcome, given_up.dead_letter) == (Outcome.DEAD_LETTERED, True)
    assert "gave up after waiting 3h00m" in str(given_up.error)


def test_a_missing_dataset_keeps_bigquerys_text_and_names_the_table() -> None:
    mapped = classify(job_failure(
        "notFound", "Not found: Dataset my-project:nba_analytics was not found in location US"),
        TABLE)
    assert str(mapped) == (f"{TABLE}: Not found: Dataset my-project:nba_analytics was not "
                           "found in location US")


# -- the wait that runs out, and the deadline that has passed ------------------------------------


class FakeJob:
    """Stands for a query job that is still running when its wait runs out: the one thing here
    not BigQuery's own (the emulator answers at once and cannot be made slow on cue; the
    integration tier holds a real job back through a proxy for the same path)."""

    def __init__(self, events: list[str], finishes: bool, clock: list[float] | None = None,
                 job_id: str = "job-1") -> None:
        self.events = events
        self.finishes = finishes
        self.clock = clock
        self.job_id = job_id
        self.waits: list[dict[str, Any]] = []

    def result(self, **kwargs: Any) -> list[Any]:
        self.waits.append(kwargs)
        self.events.append(f"wait {self.job_id}")
        if self.finishes:
            return []
        if self.clock is not None:
            self.clock[0] += kwargs["timeout"]  # the whole wait went by
        raise concurrent.futures.TimeoutError()

    def cancel(self, client: Any = None, retry: Any = "default", timeout: Any = None) -> bool:
        self.events.append(f"cancel {self.job_id} retry={retry} timeout={timeout}")
        return True


LOCATION = "europe-west3"  # a region: jobs.get and jobs.cancel need it named


@pytest.fixture
def partitioned_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """tables.get answers with BigQuery's resource for a table partitioned by game_date, in a
    dataset of a single region."""
    resource = {"tableReference": {"projectId": "my-project", "datasetId": TABLE.dataset,
                                   "tableId": TABLE.table}, "location": LOCATION,
                "schema": {"fields": [{"name": c.name, "type": c.type} for c in COLUMNS]},
                "timePartitioning": {"type": "DAY", "field": "game_date"}}
    monkeypatch.setattr(bigquery.Client, "get_table",
                        lambda self, *a, **k: bigquery.Table.from_api_repr(resource))


def with_jobs(monkeypatch: pytest.MonkeyPatch, jobs: list[FakeJob]) -> list[dict[str, Any]]:
    """Client.query hands out these jobs in turn; returns what each insert was given."""
    inserted: list[dict[str, Any]] = []

    def query(self: bigquery.Client, sql: str, **kwargs: Any) -> FakeJob:
        job = jobs[len(inserted)]
        inserted.append({"sql": sql, **kwargs})
        job.events.append(f"insert {job.job_id}")
        return job

    monkeypatch.setattr(bigquery.Client, "query", query)
    return inserted


def test_a_job_whose_wait_runs_out_is_cancelled_before_the_retry_runs_it_again(
        monkeypatch: pytest.MonkeyPatch, partitioned_table: None) -> None:
    events: list[str] = []
    jobs = [FakeJob(events, finishes=False, job_id="job-1"),
            FakeJob(events, finishes=True, job_id="job-2")]
    inserted = with_jobs(monkeypatch, jobs)
    warehouse = BigQueryWarehouse("my-project", emulator_host="127.0.0.1:9", call_timeout=7.0)
    write = Replace(TABLE, DAY, DAY, [{"game_id": "g1", "game_date": DAY, "points": 3}], COLUMNS)
    with pytest.raises(TransientError, match="job-1 did not finish in time and was cancelled"):
        warehouse.write([write])
    assert events == ["insert job-1", "wait job-1",
                      f"cancel job-1 retry=None timeout={CANCEL_TIMEOUT_SECONDS}"]
    # The worker's retry: the second MERGE starts only after the first was cancelled.
    retry_policy(10, sleep=lambda _: None)(warehouse.write, [write])
    assert events[3:] == ["insert job-2", "wait job-2"]
    assert all(i["sql"].startswith("MERGE") for i in inserted)
    assert jobs[0].waits[0]["timeout"] == 7.0  # min(the call timeout, no deadline)


def test_a_wait_cut_short_by_the_deadline_is_out_of_time_and_cancelled(
        monkeypatch: pytest.MonkeyPatch, partitioned_table: None) -> None:
    clock = [1000.0]
    events: list[str] = []
    job = FakeJob(events, finishes=False, clock=clock)
    inserted = with_jobs(monkeypatch, [job])
    warehouse = BigQueryWarehouse("my-project", emulator_host="127.0.0.1:9", call_timeout=60.0)
    scoped = warehouse.scoped(Deadline.after(2.5, lambda: clock[0]),
                              {"backfill_processor": "team_offense_game_summary",
                               "backfill_run": "Run-42"})
    with pytest.raises(OutOfTime, match="ran out of time.*job-1 .*cancelled"):
        scoped.read_rows(Read(TABLE, DAY, DAY))
    assert events[-1].startswith("cancel job-1 retry=None")
    assert job.waits[0]["timeout"] == 2.5  # min(60, the 2.5 s left)
    config = inserted[0]["job_config"]
    assert (config.labels, config.maximum_bytes_billed, int(config.job_timeout_ms)) == (
        {"backfill_processor": "team_offense_game_summary", "backfill_run": "run-42"},
        10 * 1024 ** 3, 2500)


def test_a_retried_insert_of_our_own_job_that_got_409_waits_on_the_job_that_exists(
        monkeypatch: pytest.MonkeyPatch, partitioned_table: None) -> None:
    """python-bigquery retries a jobs.insert whose answer was lost; with an id of our own the
    retry gets 409 "Already Exists" although the first insert created the job (and re-raises it:
    _job_helpers.query_jobs_insert). That job is this statement: fetched and waited on, once."""
    events: list[str] = []
    fetched: list[dict[str, Any]] = []
    inserted: list[str] = []

    def query(self: bigquery.Client, sql: str, **kwargs: Any) -> FakeJob:
        inserted.append(kwargs["job_id"])
        raise http_failure(409, "duplicate",
                           f"Already Exists: Job my-project:{LOCATION}.{kwargs['job_id']}")

    def get_job(self: bigquery.Client, job_id: str, **kwargs: Any) -> FakeJob:
        fetched.append({"job_id": job_id, **kwargs})
        return FakeJob(events, finishes=True, job_id=job_id)

    monkeypatch.setattr(bigquery.Client, "query", query)
    monkeypatch.setattr(bigquery.Client, "get_job", get_job)
    warehouse = BigQueryWarehouse("my-project", emulator_host="127.0.0.1:9", call_timeout=7.0)
    warehouse.write([Replace(TABLE, DAY, DAY, [{"game_id": "g1", "game_date": DAY,
                                                "points": 3}], COLUMNS)])
    assert [(f["job_id"], f["location"]) for f in fetched] == [(inserted[0], LOCATION)]
    assert events == [f"wait {inserted[0]}"]  # waited on to its end, not run again

    # jobs.get may not see it yet (python-bigquery#2134): the pass is retried, not dead-lettered.
    def not_yet(self: bigquery.Client, job_id: str, **kwargs: Any) -> FakeJob:
        raise http_failure(404, "notFound", f"Not found: Job my-project:{LOCATION}.{job_id}")

    monkeypatch.setattr(bigquery.Client, "get_job", not_yet)
    with pytest.raises(TransientError, match="exists \\(409\\) but is not visible yet"):
        warehouse.write([Replace(TABLE, DAY, DAY, [], COLUMNS)])


def test_an_insert_that_did_not_answer_in_time_is_cancelled_in_its_location(
        monkeypatch: pytest.MonkeyPatch, partitioned_table: None) -> None:
    cancelled: list[dict[str, Any]] = []
    inserted: list[str] = []
    release = threading.Event()

    def query(self: bigquery.Client, sql: str, **kwargs: Any) -> FakeJob:
        inserted.append(kwargs["job_id"])
        release.wait(5)  # the insert's answer never comes in time
        raise AssertionError("given up on before this")

    def cancel_job(self: bigquery.Client, job_id: str, **kwargs: Any) -> None:
        cancelled.append({"job_id": job_id, **kwargs})

    monkeypatch.setattr(bigquery.Client, "query", query)
    monkeypatch.setattr(bigquery.Client, "cancel_job", cancel_job)
    warehouse = BigQueryWarehouse("my-project", emulator_host="127.0.0.1:9", call_timeout=0.3)
    try:
        with pytest.raises(TransientError, match="did not answer in time"):
            warehouse.read_rows(Read(TABLE, DAY, DAY))
    finally:
        release.set()
    assert [(c["job_id"], c["location"]) for c in cancelled] == [(inserted[0], LOCATION)]


@pytest.fixture
def counting_service() -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint that records every request and answers 404 (nothing exists)."""
    seen: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body = b'{"error": {"code": 404, "message": "Not found", "errors": []}}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Answer)
    # A short poll: shutdown() waits up to one poll interval (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_warehouse_past_its_deadline_refuses_every_call_without_sending_it(
        counting_service: tuple[str, list[str]]) -> None:
    host, seen = counting_service
    warehouse = BigQueryWarehouse("my-project", emulator_host=host, call_timeout=5.0)
    assert warehouse.describe(TABLE) is None and len(seen) == 1  # the service does answer
    clock = [50.0]
    late = warehouse.scoped(Deadline.after(1.0, lambda: clock[0]))
    clock[0] += 1.0  # the deadline passes
    calls = {
        "describe": lambda: late.describe(TABLE),
        "scan_games": lambda: late.scan_games(Scan(TABLE, Window(DAY, DAY))),
        "read_rows": lambda: late.read_rows(Read(TABLE, DAY, DAY)),
        "write Replace": lambda: late.write([Replace(TABLE, DAY, DAY, [], COLUMNS)]),
        "write Append": lambda: late.write([Append(TABLE, [{"game_id": "g"}], COLUMNS)]),
        "write both": lambda: late.write([Replace(TABLE, DAY, DAY, [], COLUMNS),
                                          Append(TABLE, [{"game_id": "g"}], COLUMNS)]),
        "create_table": lambda: late.create_table(TABLE, COLUMNS),
    }
    for name, call in calls.items():
        with pytest.raises(OutOfTime):
            call()
        assert len(seen) == 1, (name, seen)


def test_scans_of_tables_in_two_locations_are_one_job_per_location(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A query reads tables of one location: the re-check's scans are grouped by their tables'
    locations, one job each (sent at once), the answers handed back in the order asked."""
    raw = TableRef("nba_raw", "nbac_team_boxscore")
    where = {TABLE.dataset: LOCATION, raw.dataset: "US"}

    def get_table(self: bigquery.Client, table_id: str, **kwargs: Any) -> bigquery.Table:
        dataset, table = table_id.split(".")[-2:]
        return bigquery.Table.from_api_repr({
            "tableReference": {"projectId": "my-project", "datasetId": dataset,
                               "tableId": table}, "location": where[dataset],
            "schema": {"fields": [{"name": c.name, "type": c.type} for c in COLUMNS]},
            "timePartitioning": {"type": "DAY", "field": "game_date"}})

    monkeypatch.setattr(bigquery.Client, "get_table", get_table)
    events: list[str] = []
    inserted = with_jobs(monkeypatch, [FakeJob(events, finishes=True, job_id=f"job-{i}")
                                       for i in range(2)])
    warehouse = BigQueryWarehouse("my-project", emulator_host="127.0.0.1:9", call_timeout=7.0)
    scans = [Scan(raw, Window(DAY, DAY)), Scan(TABLE, Window(DAY, DAY)),
             Scan(raw, Window(DAY - timedelta(days=3), DAY))]
    assert warehouse.scan_together(scans) == [[], [], []]
    read = sorted(sorted({t for t in ("nba_raw", "nba_analytics") if t in i["sql"]})
                  for i in inserted)
    assert read == [["nba_analytics"], ["nba_raw"]]
    assert [i["sql"].count("UNION ALL") for i in inserted if "nba_raw" in i["sql"]] == [1]


@pytest.mark.parametrize(("text", "named"), [
    ("Not found: Table my-project:nba_analytics.player_games was not found in location US",
     ["nba_analytics.player_games"]),
    ("Not found: Dataset my-project:nba_raw was not found in location US", ["nba_raw.games"]),
    ("Catalog Error: Table with name player_games does not exist!",
     ["nba_analytics.player_games"]),
    ('Catalog Error: Table with name "nba_raw.games" does not exist because schema "nba_raw" '
     "does not exist.", ["nba_raw.games"]),
    ("Access Denied: Project my-project: User does not have permission", []),
])
def test_the_table_an_error_names_of_several_is_a_whole_word(text: str,
                                                              named: list[str]) -> None:
    """Which of a statement's tables an error is about (BigQuery's words, then DuckDB's): never
    one whose name only sits inside another's (games in player_games, raw in nba_raw)."""
    from backfill.adapters.values import named_in

    tables = [TableRef("nba_analytics", "raw"), TableRef("nba_raw", "games"),
              TableRef("nba_analytics", "player_games")]
    assert [str(t) for t in named_in(text, tables)] == named
