"""Outages and races on real parts: a warehouse held by another program, the dead-letter topic
gone, the emulator restarted under `backfill run`, a write failing half-way."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import requests
from backfill.bootstrap import build_worker, registry_from_file
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.stack import PubSubEmulator, free_port
from backfill.settings import Settings
from google.cloud import pubsub_v1

from tests.faults import PLAN_VARIABLE, FaultPlan
from tests.support import REPO, function_server, unique_settings

OFFENSE = registry_from_file(None).get("team_offense_game_summary")
DAY = date(2024, 11, 5)
FAULTY = '[[processor]]\nname = "faulty_offense"\nclass = "tests.faults:FaultyTeamOffense"\n' \
         'target = "nba_analytics.team_offense_game_summary"\n'


def push(request: Request) -> bytes:
    return json.dumps({"message": {"data": base64.b64encode(request.encode()).decode(),
                                   "attributes": request.attributes(), "messageId": "1"}}).encode()


def faulty(tmp_path: Path, settings: Settings, faults: dict[str, dict[str, object]]) -> Settings:
    """Settings whose registry adds `faulty_offense` (team offense's own table), with a plan."""
    path = tmp_path / "processors.toml"
    path.write_text(FAULTY)
    plan = FaultPlan.write(tmp_path / "plan.json", faults)
    os.environ[PLAN_VARIABLE] = str(plan.path)
    return replace(settings, processors_file=str(path))


@pytest.fixture(autouse=True)
def _no_plan_left() -> object:
    yield
    os.environ.pop(PLAN_VARIABLE, None)


def test_a_warehouse_held_by_another_program_is_retried_until_it_is_free(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    clean = warehouse.read_rows(OFFENSE.target, DAY, DAY)
    warehouse.replace_range(OFFENSE.target, DAY, DAY, [], OFFENSE.schema)
    warehouse.close()  # let go now, not after the lease's idle linger: the other program goes next
    # Another program opens the DuckDB file itself (not through our lock) for 3 seconds.
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"c = duckdb.connect({str(warehouse_path)!r}); print('held'); "
                               "sys.stdout.flush(); time.sleep(3)"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    result = build_worker(replace(settings, retry_budget_seconds=30.0)).handle(
        Request(processor=OFFENSE.name, game_date=DAY, reason=Reason.MANUAL).encode())
    holder.wait()
    assert result.outcome == "succeeded", result.error
    assert warehouse.read_rows(OFFENSE.target, DAY, DAY) == clean


def test_without_its_dead_letter_topic_the_worker_answers_503_and_keeps_the_message(
        settings: Settings) -> None:
    publisher = pubsub_v1.PublisherClient()
    dead_topic = publisher.topic_path(settings.project, settings.dead_letter_topic)
    bad = push(Request(processor=OFFENSE.name, game_date=DAY, reason=Reason.MANUAL)).replace(
        b'"data": "', b'"data": "!')
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


def test_a_write_failing_half_way_leaves_the_old_rows(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    before = warehouse.read_rows(OFFENSE.target, DAY, DAY)
    chosen = faulty(tmp_path, settings, {"bad_write": {f"faulty_offense/{DAY}": True}})
    result = build_worker(chosen).handle(Request(
        processor="faulty_offense", game_date=DAY, reason=Reason.MANUAL, force=True).encode())
    assert result.outcome == "dead_lettered" and "not a number" in str(result.error)
    assert warehouse.read_rows(OFFENSE.target, DAY, DAY) == before


def test_backfill_run_fails_loudly_when_the_emulator_restarts_under_it(
        warehouse: DuckDBWarehouse, warehouse_path: Path, tmp_path: Path) -> None:
    for day in (date(2024, 11, d) for d in range(2, 12)):
        warehouse.replace_range(OFFENSE.target, day, day, [], OFFENSE.schema)
    chosen = faulty(tmp_path, unique_settings(warehouse_path), {"sleep": {
        f"faulty_offense/2024-11-{d:02d}": 1.0 for d in range(2, 12)}})
    port = free_port()
    emulator = PubSubEmulator("backfill-local", port)
    env = {**os.environ, **chosen.environment(), "PUBSUB_EMULATOR_HOST": emulator.host,
           "PYTHONPATH": f"{REPO}:{REPO / 'shared'}"}
    run = subprocess.Popen([sys.executable, "-m", "backfill.local.cli", "run",
                            "--start-date", "2024-11-02", "--end-date", "2024-11-11",
                            "--processor", "faulty_offense", "--concurrency", "1",
                            "--timeout", "60", "--json"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        emulator.stop()
        emulator = PubSubEmulator("backfill-local", port)
        out, err = run.communicate(timeout=120)
    finally:
        emulator.stop()
    assert run.returncode == 1, (out, err)
    counts = json.loads(out)
    assert counts["published"] == 10
    assert counts["unaccounted"] + counts["succeeded"] + counts["skipped"] == 10
    assert counts["unaccounted"] > 0
