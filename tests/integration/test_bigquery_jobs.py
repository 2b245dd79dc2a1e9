"""What BigQuery jobs carry and what they are refused, on the emulator through the real client.

The emulator keeps only a job's query text (jobs.get and jobs.list show no labels, byte limit or
job timeout, which BigQuery stores and reports), so what each job carried is read off the wire:
tests/bigquery_emulator/recorder.py sits between the client and the emulator and keeps the
body of every jobs.insert, which is what BigQuery itself would receive.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import google.cloud.bigquery as bigquery
import pytest
from backfill.adapters.bigquery_warehouse import BigQueryWarehouse
from backfill.domain.errors import SchemaMismatch, TransientError
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason, Request
from backfill.domain.tables import OpsTables, TableRef
from backfill.domain.window import Window
from backfill.ports import Delivery, Read, Replace, Scan
from backfill.processors.nba_raw import TEAM_BOXSCORE
from backfill.service.audit import read_history
from backfill.service.detect import find_gaps
from backfill.service.ledger import AUDIT_SCHEMA

from tests.bigquery_emulator.recorder import recording
from tests.fixtures import real_shapes
from tests.integration.emulated import (
    client,
    create_ops_tables,
    load_phase2,
    loader,
    make_app,
    new_project,
    settings_for,
)
from tests.unit.fakes import RecordingQueue

OFFENSE = "team_offense_game_summary"
DAY = date(2025, 1, 14)
WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)
OPS = OpsTables("backfill_ops")


def test_every_job_carries_the_byte_limit_the_labels_and_a_job_timeout_from_the_deadline(
        bigquery_emulator: str) -> None:
    project = new_project("jobs")
    setup = loader(project, bigquery_emulator)
    load_phase2(setup)
    create_ops_tables(setup, OPS)
    with recording(bigquery_emulator) as recorder:
        budget = 40.0
        settings = settings_for(project, recorder.host, maximum_bytes_billed=123_456_789,
                                retry_budget_seconds=budget)
        app = make_app(settings)  # the warehouse as bootstrap builds it from the settings
        request = Request(processor=OFFENSE, game_date=DAY, reason=Reason.MISSING,
                          detection_run_id="Run-2025-01-14T09:00")
        mark = time.monotonic()
        result = app.worker().handle(Delivery(request.encode(), request.attributes()))
        assert result.outcome is Outcome.SUCCEEDED, result.error
        jobs = recorder.query_jobs(mark)
        job_ids = [str(e.job_id) for e in recorder.since(mark) if e.kind == "jobs.insert"]
        detection = time.monotonic()
        find_gaps(app.warehouse, app.registry, app.ops, WINDOW)
        detection_jobs = recorder.query_jobs(detection)

    statements = sorted(job["query"]["query"].split()[0] for job in jobs)
    assert statements.count("MERGE") == 1 and statements.count("SELECT") >= 4, statements
    for job in jobs:
        # Labels as BigQuery allows them: lower case, ':' and '.' replaced.
        assert job["labels"] == {"backfill_processor": OFFENSE,
                                 "backfill_run": "run-2025-01-14t09_00"}, job
        assert job["query"]["maximumBytesBilled"] == "123456789"
        # min(the call's timeout: a quarter of the budget, the time left) in milliseconds.
        assert 0 < int(job["jobTimeoutMs"]) <= budget / 4 * 1000
        assert all(p["parameterValue"] for p in job["query"]["queryParameters"])  # values
    # Detection has no delivery: no labels, the same byte limit and job timeout.
    assert detection_jobs and all(j["query"]["query"].startswith("SELECT") for j in detection_jobs)
    for job in detection_jobs:
        assert not job.get("labels")
        assert job["query"]["maximumBytesBilled"] == "123456789"
        assert 0 < int(job["jobTimeoutMs"]) <= budget / 4 * 1000
    # The emulator gap this works around: its own record of the job has none of them.
    for job_id in job_ids:
        stored = client(project, bigquery_emulator).get_job(job_id)
        assert isinstance(stored, bigquery.QueryJob)
        assert (stored.labels, stored.maximum_bytes_billed) == ({}, None)
        assert "jobTimeoutMs" not in stored.to_api_repr()["configuration"]


def test_a_job_held_past_its_wait_is_cancelled_and_the_call_is_transient(
        bigquery_emulator: str) -> None:
    """The emulator answers at once; the recorder holds the job's results back, so the real
    client's wait runs out and the adapter must cancel the real job (jobs.cancel)."""
    project = new_project("cancel")
    load_phase2(loader(project, bigquery_emulator))
    with recording(bigquery_emulator) as recorder:
        slow = BigQueryWarehouse(project, emulator_host=recorder.host, call_timeout=1.0)
        assert slow.describe(TEAM_BOXSCORE) is not None
        recorder.delays["jobs.getQueryResults"] = 4.0
        mark = time.monotonic()
        with pytest.raises(TransientError, match="did not finish in time and was cancelled"):
            slow.read_rows(Read(TEAM_BOXSCORE, DAY, DAY))
        elapsed = time.monotonic() - mark
        [inserted] = [e for e in recorder.since(mark) if e.kind == "jobs.insert"]
        cancels = [e for e in recorder.since(mark) if e.kind == "jobs.cancel"]
    assert elapsed < 3.0  # the call's 1 s, then the cancel: not the held 4 s
    assert [c.job_id for c in cancels] == [inserted.job_id]
    assert cancels[0].start >= inserted.end


@pytest.mark.parametrize("table", [TEAM_BOXSCORE, TableRef("nba_analytics", OFFENSE)],
                         ids=["phase 2 source", "phase 3 target"])
def test_a_table_not_partitioned_by_game_date_is_refused_with_a_clear_error(
        bigquery_emulator: str, table: TableRef) -> None:
    project = new_project("unpartitioned")
    setup = loader(project, bigquery_emulator)
    load_phase2(setup)
    app = make_app(settings_for(project, bigquery_emulator))
    processor = app.registry.get(OFFENSE)
    columns = (real_shapes.SCHEMAS[TEAM_BOXSCORE] if table == TEAM_BOXSCORE
               else processor.table_schema())
    plain = client(project, bigquery_emulator)
    # (The emulator answers a table insert into a missing dataset with a 500, BigQuery with a
    # 404; the adapter always makes the dataset first.)
    plain.create_dataset(f"{project}.{table.dataset}", exists_ok=True)
    plain.delete_table(f"{project}.{table}", not_found_ok=True)
    # Made by hand without partitioning, as a pipeline's table might have been.
    plain.create_table(bigquery.Table(f"{project}.{table}", schema=[
        bigquery.SchemaField(c.name, c.type) for c in columns]))
    assert plain.get_table(f"{project}.{table}").time_partitioning is None
    if table == TEAM_BOXSCORE:
        setup.write([Replace(table, real_shapes.FIRST, real_shapes.LAST,
                             real_shapes.rows()[table], columns)])
    expected = (f"{table} is not partitioned; Backfill needs it partitioned by game_date, or "
                "every query would read the whole table")

    with pytest.raises(SchemaMismatch, match=expected):
        app.warehouse.scan_games(Scan(table, WINDOW))
    with pytest.raises(SchemaMismatch, match=expected):
        app.warehouse.read_rows(Read(table, DAY, DAY))
    with pytest.raises(SchemaMismatch, match=expected):
        app.warehouse.write([Replace(table, DAY, DAY, [], columns)])
    # Detection reports it as the processor's error; the worker dead-letters at once.
    [report] = [r for r in find_gaps(app.warehouse, app.registry, app.ops, WINDOW)
                if r.name == OFFENSE]
    assert report.error is not None and expected in report.error
    assert isinstance(app.queue, RecordingQueue)
    request = Request(processor=OFFENSE, game_date=DAY, reason=Reason.MISSING)
    result = app.worker().handle(Delivery(request.encode(), request.attributes()))
    assert (result.outcome, result.error_type, result.attempts) == (
        Outcome.DEAD_LETTERED, "SchemaMismatch", 1)
    assert expected in (result.error or "")
    assert app.queue.dead_letters[-1][1]["error_type"] == "SchemaMismatch"


def test_an_audit_table_is_read_by_its_own_partition_column_or_refused(
        bigquery_emulator: str) -> None:
    project = new_project("audit")
    setup = loader(project, bigquery_emulator)
    setup.create_table(OPS.log, AUDIT_SCHEMA, partitioned_by="game_date")  # the wrong column
    now = datetime.now(UTC)
    with pytest.raises(SchemaMismatch, match=f"{OPS.log} is partitioned by game_date; Backfill "
                                             "needs it partitioned by logged_at"):
        read_history(setup, OPS, since=now - timedelta(days=1), until=now)
    right = new_project("audit")
    create_ops_tables(loader(right, bigquery_emulator), OPS)
    assert read_history(loader(right, bigquery_emulator), OPS, since=now - timedelta(days=1),
                        until=now) == []
