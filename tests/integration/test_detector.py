"""The detector as deployed: functions-framework serving functions/detector/main.py, called the
way Cloud Scheduler calls it, publishing on the emulator and recording its run. (Its answers to
bad bodies and a misconfigured deployment are checked in-process in tests/unit/test_http.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests
from backfill.domain.errors import TableNotFound
from backfill.domain.request import decode_request
from backfill.domain.tables import OpsTables
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.stack import FUNCTIONS_DIR, answers, free_port, stop_group
from backfill.ports import Read
from backfill.settings import Settings

from tests.support import (
    DEFENSE,
    OFFENSE,
    PLAYERS,
    SEED_WINDOW,
    empty,
    environment,
    function_server,
    pull_all,
    sql,
)

WINDOW = {"start_date": str(SEED_WINDOW.start), "end_date": str(SEED_WINDOW.end)}
SCHEDULER = {"X-CloudScheduler-JobName": "backfill-daily", "Content-Type": "application/json"}


def runs_table(warehouse: DuckDBWarehouse, settings: Settings) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    try:
        return warehouse.read_rows(Read(OpsTables(settings.audit_dataset).runs,
                                        now - timedelta(hours=1), now + timedelta(hours=1),
                                        by="recorded_at"))
    except TableNotFound:
        return []


def test_a_scheduled_call_publishes_on_the_emulator_and_records_a_scheduled_run(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    empty(warehouse, DEFENSE, date(2024, 11, 4))
    empty(warehouse, OFFENSE, date(2024, 11, 9))
    warehouse.close()
    with function_server("detect", settings) as url:
        dry = requests.post(url, json={**WINDOW, "dry_run": True}, headers=SCHEDULER,
                            timeout=120)
        assert dry.status_code == 200, dry.text
        assert dry.json()["published"] == 0
        reply = requests.post(url, json=WINDOW, headers=SCHEDULER, timeout=120)
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["window"] == WINDOW
    found = {p["name"]: [c["game_date"] for c in p["candidates"]] for p in report["processors"]}
    assert (found[DEFENSE], found[OFFENSE]) == (["2024-11-04"], ["2024-11-09"])
    assert report["published"] == 2

    published = [decode_request(m.message.data, today=date(2024, 11, 20))
                 for m in pull_all(settings, settings.requests_subscription)]
    assert sorted((str(r.game_date), r.processor, r.reason.value) for r in published) == [
        ("2024-11-04", DEFENSE, "missing"), ("2024-11-09", OFFENSE, "missing")]
    assert {r.detection_run_id for r in published} == {report["run_id"]}

    # The dry run recorded nothing; the real one is a run of trigger `scheduled`.
    (run,) = runs_table(warehouse, settings)
    assert (run["run_id"], run["event"], run["trigger"], run["started_by"]) == (
        report["run_id"], "started", "scheduled", "backfill-daily")
    assert (run["found"], run["published"], run["deferred"]) == (2, 2, 0)
    assert json.loads(str(run["published_by_processor"])) == {DEFENSE: 1, OFFENSE: 1}
    assert (run["window_start"], run["window_end"]) == (SEED_WINDOW.start, SEED_WINDOW.end)


def test_a_get_is_refused_and_a_call_that_finds_nothing_records_no_run(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    """A health check or a person opening the URL must not run a detection that publishes; a
    daily call on a complete warehouse publishes nothing and adds no run to the runs table."""
    warehouse.close()
    with function_server("detect", settings) as url:  # its readiness probe is a GET too
        got = requests.get(url, timeout=60)
        assert got.status_code == 405 and "POST" in got.json()["error"]
        clean = requests.post(url, json=WINDOW, headers=SCHEDULER, timeout=120)
    assert clean.status_code == 200, clean.text
    assert (clean.json()["published"], clean.json()["deferred"]) == (0, 0)
    assert runs_table(warehouse, settings) == []
    assert pull_all(settings, settings.requests_subscription, wait_seconds=1) == []


def test_a_processor_that_cannot_be_checked_is_named_and_the_others_still_run(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    """The pass published: a 200 (a 500 would have Cloud Scheduler retry and publish it all
    again); the failure is in the report and logged as detection_failed for the alert."""
    empty(warehouse, DEFENSE, date(2024, 11, 4))
    warehouse.close()
    sql(warehouse_path, "DROP TABLE nba_raw.nbac_gamebook_player_stats")
    with function_server("detect", settings) as url:
        reply = requests.post(url, json=WINDOW, headers=SCHEDULER, timeout=120)
    assert reply.status_code == 200
    by_name = {p["name"]: p for p in reply.json()["processors"]}
    assert [n for n, p in by_name.items() if p["status"] == "error"] == [PLAYERS]
    assert "nba_raw.nbac_gamebook_player_stats" in by_name[PLAYERS]["error"]
    assert [c["game_date"] for c in by_name[DEFENSE]["candidates"]] == ["2024-11-04"]
    # What could be checked was still published (a failure never reads as "no gaps").
    assert reply.json()["published"] == 1
    assert len(pull_all(settings, settings.requests_subscription)) == 1


@contextmanager
def detector_with_log(settings: Settings, log: Path, **env: str) -> Iterator[str]:
    """The detector function with its JSON log lines kept in `log`."""
    url = f"http://127.0.0.1:{free_port()}"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", "detect", "--source",
             str(FUNCTIONS_DIR / "detector" / "main.py"), "--host", "127.0.0.1",
             "--port", url.rsplit(":", 1)[1]],
            env=environment(settings, **env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not answers(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        stop_group(process)  # type: ignore[arg-type]


def test_the_light_scheduled_call_logs_the_runs_that_stalled_for_the_alert(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    empty(warehouse, DEFENSE, date(2024, 11, 4))
    warehouse.close()
    log = tmp_path / "detector.log"
    with detector_with_log(settings, log, BACKFILL_RUN_STALL_MINUTES="0.02") as url:
        first = requests.post(url, json=WINDOW, headers=SCHEDULER, timeout=120).json()
        time.sleep(2)  # nobody works the queue: nothing of that run ends for 1.2 s
        check = requests.post(url, json={"stalls_only": True}, headers=SCHEDULER, timeout=120)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    stalled = [e for e in events if e.get("event") == "run_stalled"]
    assert {e["run_id"] for e in stalled} == {first["run_id"]}
    assert stalled[0]["severity"] == "WARNING" and "1 requests outstanding" in \
        stalled[0]["message"]
    assert (check.status_code, check.json()) == (200, {"stalled": [first["run_id"]]})
    # The light call published nothing: only the detection's one request is on the queue.
    assert len(pull_all(settings, settings.requests_subscription)) == 1
