"""Outages and races on real parts: a warehouse file held by another program, the dead-letter
topic gone, an audit table that refuses rows, a write failing half-way, and the emulator
restarted under `backfill run`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from backfill.bootstrap import Backfill, bootstrap
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason, Request
from backfill.domain.tables import schema
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.stack import PubSubEmulator, free_port
from backfill.ports import Delivery
from backfill.service.audit import AuditLog
from backfill.settings import Settings
from google.cloud import pubsub_v1

from tests.faults import PLAN_VARIABLE, FaultPlan
from tests.support import (
    OFFENSE,
    canon,
    empty,
    environment,
    function_server,
    push_body,
    rows,
    unique_settings,
)

DAY = date(2024, 11, 5)
FAULTY = '[[processor]]\nname = "faulty_offense"\nclass = "tests.faults:FaultyTeamOffense"\n' \
         'target = "nba_analytics.team_offense_game_summary"\n'


def handle(app: Backfill, request: Request) -> tuple[Outcome, str | None]:
    result = app.worker().handle(Delivery(request.encode(), request.attributes()))
    return result.outcome, result.error


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A processors file adding `faulty_offense` (on team offense's own table), and a way to
    give it a fault plan: (processors file, plan path)."""
    path = tmp_path / "processors.toml"
    path.write_text(FAULTY)
    plan = tmp_path / "plan.json"
    monkeypatch.setenv(PLAN_VARIABLE, str(plan))
    yield path, plan


def test_a_warehouse_held_by_another_program_is_retried_until_it_is_free(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    clean = rows(warehouse, OFFENSE, DAY)
    empty(warehouse, OFFENSE, DAY)
    warehouse.close()  # let go now, not after the idle linger: the other program goes next
    # Another program opens the DuckDB file itself (not through the adapter's lock) for 3 s.
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"c = duckdb.connect({str(warehouse_path)!r}); print('held'); "
                               "sys.stdout.flush(); time.sleep(3)"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    started = time.monotonic()
    app = bootstrap(settings.model_copy(update={"retry_budget_seconds": 30.0}))
    result = app.worker().handle(Delivery(Request(processor=OFFENSE, game_date=DAY).encode()))
    holder.wait()
    app.close()
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.attempts > 1 and time.monotonic() - started >= 2
    assert all("lock" in f.message for f in result.failures)
    assert canon(rows(warehouse, OFFENSE, DAY)) == canon(clean)


def test_without_its_dead_letter_topic_the_worker_answers_503_and_keeps_the_message(
        settings: Settings) -> None:
    publisher = pubsub_v1.PublisherClient()
    dead_topic = publisher.topic_path(settings.project, settings.dead_letter_topic)
    bad = push_body(Request(processor=OFFENSE, game_date=DAY)).replace(b'"data": "',
                                                                          b'"data": "!')
    with function_server("work", settings) as url:
        publisher.delete_topic(topic=dead_topic)
        gone = requests.post(url, data=bad, timeout=60)
        assert gone.status_code == 503 and "dead letter" in gone.json()["error"]
        publisher.create_topic(name=dead_topic)
        # Pub/Sub redelivers a 503 with backoff; the topic may take a moment to serve again.
        deadline = time.monotonic() + 30
        back = requests.post(url, data=bad, timeout=60)
        while back.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
            back = requests.post(url, data=bad, timeout=60)
        assert (back.status_code, back.json()["outcome"]) == (200, "dead_lettered")


def test_an_audit_table_that_refuses_rows_never_fails_the_request(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    app = bootstrap(settings)
    # A table of the right name but a column of another type: every audit insert fails for
    # real (the columns it lacks are added, that one cannot be mended).
    warehouse.create_table(app.ops.log, schema(request_id="INT64"))
    clean = rows(warehouse, OFFENSE, DAY)
    empty(warehouse, OFFENSE, DAY)
    worker = app.worker()
    result = worker.handle(Delivery(Request(processor=OFFENSE, game_date=DAY).encode()))
    app.close()
    assert result.outcome is Outcome.SUCCEEDED and result.rows_written == len(clean)
    assert isinstance(worker.audit, AuditLog) and worker.audit.write_failures == 1
    assert canon(rows(warehouse, OFFENSE, DAY)) == canon(clean)


def test_a_write_failing_half_way_leaves_the_old_rows(
        settings: Settings, warehouse: DuckDBWarehouse, faulty: tuple[Path, Path]) -> None:
    processors, plan = faulty
    FaultPlan.write(plan, {"bad_write": {f"faulty_offense/{DAY}": True}})
    before = canon(rows(warehouse, OFFENSE, DAY))
    app = bootstrap(settings.model_copy(update={"processors_file": str(processors)}))
    outcome, error = handle(app, Request(processor="faulty_offense", game_date=DAY,
                                         reason=Reason.MANUAL, force=True))
    app.close()
    assert outcome is Outcome.DEAD_LETTERED and "not a number" in str(error)
    assert canon(rows(warehouse, OFFENSE, DAY)) == before


def test_backfill_run_fails_loudly_when_the_emulator_restarts_under_it(
        warehouse: DuckDBWarehouse, warehouse_path: Path, faulty: tuple[Path, Path]) -> None:
    processors, plan = faulty
    days = [date(2024, 11, d) for d in range(2, 12)]
    empty(warehouse, OFFENSE, *days)
    warehouse.close()
    FaultPlan.write(plan, {"sleep": {f"faulty_offense/{d}": 1.0 for d in days}})
    port = free_port()
    emulator = PubSubEmulator("backfill-local", port)
    chosen = unique_settings(warehouse_path, processors_file=str(processors),
                             pubsub_emulator_host=emulator.host)
    run = subprocess.Popen([sys.executable, "-m", "backfill.local", "run",
                            "--start-date", str(days[0]), "--end-date", str(days[-1]),
                            "--processor", "faulty_offense", "--concurrency", "1",
                            "--timeout", "60", "--json"],
                           env=environment(chosen), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        emulator.stop()
        emulator = PubSubEmulator("backfill-local", port)  # the same address, and empty
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
        emulator.stop()
    assert run.returncode == 1, (out, err)
    counts = json.loads(out)
    assert counts["published"] == 10
    assert 0 < counts["unaccounted"] < 10
    assert counts["unaccounted"] + counts["succeeded"] + counts["skipped"] == 10

