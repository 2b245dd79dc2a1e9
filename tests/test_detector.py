"""The detector: the HTTP function Cloud Scheduler calls, the publishing cap, and the demo cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

from backfill.bootstrap import registry_from_file
from backfill.domain.request import decode_request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import REPO, function_server, pull_all, unique_settings

REGISTRY = registry_from_file(None)


def post(url: str, payload: object) -> tuple[int, dict[str, object]]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"),
                                    timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def empty(warehouse: DuckDBWarehouse, processor: str, *days: date) -> None:
    target = REGISTRY.get(processor)
    for day in days:
        warehouse.replace_range(target.target, day, day, [], target.schema)


def test_the_detector_function_reports_gaps_and_fails_loudly_on_a_missing_table(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    empty(warehouse, "team_defense_game_summary", date(2024, 11, 4))
    window = {"start_date": "2024-11-01", "end_date": "2024-11-14", "dry_run": True}
    with function_server("detect", settings) as url:
        status, report = post(url, window)
        assert status == 200
        assert report["window"] == {"start_date": "2024-11-01", "end_date": "2024-11-14"}
        found = {p["name"]: [c["game_date"] for c in p["candidates"]]
                 for p in report["processors"]}
        assert found["team_defense_game_summary"] == ["2024-11-04"]
        assert report["published"] == 0

        assert post(url, b"lookback_days=3")[0] == 400
        assert post(url, {"lookback_days": -1})[0] == 400
        assert post(url, {"processors": ["nope"]})[0] == 400

        warehouse.drop_table(REGISTRY.get("player_game_summary").source)
        status, report = post(url, window)
        assert status == 500
        errors = {p["name"]: p["error"] for p in report["processors"] if p["status"] == "error"}
        assert list(errors) == ["player_game_summary"]


def test_max_messages_publishes_oldest_dates_first_dependencies_first_and_counts_the_rest(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    days = [date(2024, 11, 3), date(2024, 11, 2)]
    empty(warehouse, "player_game_summary", *days)
    empty(warehouse, "team_offense_game_summary", *days)
    env = {**os.environ, "BACKFILL_WAREHOUSE": settings.warehouse,
           "BACKFILL_REQUESTS_TOPIC": settings.requests_topic}
    result = subprocess.run(
        [sys.executable, "-m", "backfill.local.cli", "detect", "--start-date", "2024-11-01",
         "--end-date", "2024-11-14", "--max-messages", "3", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["published"], report["deferred"]) == (3, 1)
    published = [decode_request(m.message.data, today=date(2024, 11, 20))
                 for m in pull_all(settings, settings.requests_subscription)]
    assert {(r.game_date, r.processor) for r in published} == {
        (date(2024, 11, 2), "team_offense_game_summary"),
        (date(2024, 11, 2), "player_game_summary"),
        (date(2024, 11, 3), "team_offense_game_summary")}
    assert all(r.detection_run_id == report["run_id"] for r in published)


def test_make_run_demo_shows_the_cycle_behaving_as_designed(tmp_path: Path,
                                                              pubsub_emulator: str) -> None:
    settings = unique_settings(tmp_path / "unused.duckdb")
    env = {**os.environ, "BACKFILL_REQUESTS_TOPIC": settings.requests_topic,
           "BACKFILL_REQUESTS_SUBSCRIPTION": settings.requests_subscription,
           "BACKFILL_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
           "BACKFILL_DEAD_LETTER_SUBSCRIPTION": settings.dead_letter_subscription}
    result = subprocess.run([sys.executable, "-m", "backfill.local.cli", "demo", "--dir",
                             str(tmp_path / "demo")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "unparsable minutes '3O:12'" in result.stdout
    assert "team_offense_bdl" in result.stdout


def test_detect_on_a_fresh_emulator_makes_the_topology_so_nothing_it_publishes_is_dropped(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    fresh = unique_settings(warehouse_path)  # topics and subscriptions not created
    empty(warehouse, "team_defense_game_summary", date(2024, 11, 6))
    result = subprocess.run(
        [sys.executable, "-m", "backfill.local.cli", "detect", "--start-date", "2024-11-01",
         "--end-date", "2024-11-14", "--json"],
        env={**os.environ, **fresh.environment()}, capture_output=True, text=True, timeout=120,
        check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["published"] == 1
    [message] = pull_all(fresh, fresh.requests_subscription)
    request = decode_request(message.message.data, today=date(2024, 11, 20))
    assert (request.processor, request.game_date) == ("team_defense_game_summary",
                                                      date(2024, 11, 6))
