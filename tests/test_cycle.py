"""The issue's "done when": seed, delete Phase 3 rows, detect reports exactly those games, run
restores them identical to what was deleted. Real DuckDB, real emulator, the real CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from backfill.bootstrap import registry_from_file
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import backfill

REGISTRY = registry_from_file(None)


def delete_games(warehouse: DuckDBWarehouse, processor: str, day: date,
                 game_ids: set[str]) -> list[dict[str, object]]:
    """Delete some games' Phase 3 rows of one date; returns the deleted rows."""
    target = REGISTRY.get(processor)
    rows = warehouse.read_rows(target.target, day, day)
    warehouse.replace_range(target.target, day, day,
                            [r for r in rows if r["game_id"] not in game_ids], target.schema)
    return [r for r in rows if r["game_id"] in game_ids]


def test_detect_reports_exactly_the_deleted_games_and_run_restores_them(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    day_a, day_b = date(2024, 11, 5), date(2024, 11, 9)
    games_b = sorted({r["game_id"] for r in warehouse.read_rows(
        REGISTRY.get("player_game_summary").target, day_b, day_b)})[:2]
    deleted = {
        ("team_defense_game_summary", day_a): delete_games(
            warehouse, "team_defense_game_summary", day_a,
            {r["game_id"] for r in warehouse.read_rows(
                REGISTRY.get("team_defense_game_summary").target, day_a, day_a)}),
        ("player_game_summary", day_b): delete_games(warehouse, "player_game_summary", day_b,
                                                     set(games_b)),
    }
    # The contract's spelling: --warehouse after the command, nothing in the environment.
    window = ["--warehouse", settings.warehouse, "--start-date", "2024-11-01", "--end-date",
              "2024-11-14"]

    detected = backfill(settings, "detect", *window, "--dry-run", "--json", BACKFILL_WAREHOUSE="")
    assert detected.returncode == 0, detected.stderr
    report = json.loads(detected.stdout)
    found = {(p["name"], c["game_date"]): sorted(c["game_ids"])
             for p in report["processors"] for c in p["candidates"]}
    assert found == {(name, day.isoformat()): sorted({r["game_id"] for r in rows})
                     for (name, day), rows in deleted.items()}
    assert report["published"] == 0
    assert all(p["status"] == "ok" for p in report["processors"])

    ran = backfill(settings, "run", *window, "--concurrency", "2", "--json", BACKFILL_WAREHOUSE="")
    assert ran.returncode == 0, ran.stderr
    counts = json.loads(ran.stdout)
    assert (counts["detected"], counts["published"], counts["succeeded"]) == (2, 2, 2)
    for (name, day), rows in deleted.items():
        target = REGISTRY.get(name)
        restored = [r for r in warehouse.read_rows(target.target, day, day)
                    if r["game_id"] in {row["game_id"] for row in rows}]
        assert sorted(map(repr, restored)) == sorted(map(repr, rows))

    again = backfill(settings, "detect", *window, "--dry-run", "--json")
    assert all(not p["candidates"] for p in json.loads(again.stdout)["processors"])


def test_a_missing_source_table_is_an_error_for_that_processor_only(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    warehouse.drop_table(REGISTRY.get("upcoming_team_game_context").source)
    delete_games(warehouse, "team_offense_game_summary", date(2024, 11, 3),
                 {r["game_id"] for r in warehouse.read_rows(
                     REGISTRY.get("team_offense_game_summary").target, date(2024, 11, 3),
                     date(2024, 11, 3))})
    result = backfill(settings, "detect", "--start-date", "2024-11-01", "--end-date",
                      "2024-11-14", "--dry-run", "--json")
    assert result.returncode == 1
    by_name = {p["name"]: p for p in json.loads(result.stdout)["processors"]}
    assert by_name["upcoming_team_game_context"]["status"] == "error"
    assert "nba_raw.nbac_schedule" in by_name["upcoming_team_game_context"]["error"]
    assert by_name["team_offense_game_summary"]["status"] == "ok"
    assert [c["game_date"] for c in by_name["team_offense_game_summary"]["candidates"]] == \
        ["2024-11-03"]
