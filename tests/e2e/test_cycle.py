"""The whole cycle through the real CLI (`python -m backfill.local`) in subprocesses, on a seeded
DuckDB file and the session's Pub/Sub emulator: what `detect` reports is exactly what was broken,
`run` restores it as it was, and the next detection is clean."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seed.league import PHASE2_SCHEMAS
from backfill.ports import Replace
from backfill.processors import formulas
from backfill.processors.nba_raw import GAMEBOOK, TEAM_BOXSCORE
from backfill.processors.registry import load_registry
from backfill.settings import Settings

from tests.support import (
    DEFENSE,
    OFFENSE,
    PLAYERS,
    SEED_WINDOW,
    backfill,
    canon,
    drop_games,
    game_ids,
    json_out,
    rows,
    sql,
)

WINDOW = ["--start-date", str(SEED_WINDOW.start), "--end-date", str(SEED_WINDOW.end)]


def candidates(report: dict) -> dict[tuple[str, str], list[str]]:  # type: ignore[type-arg]
    return {(p["name"], c["game_date"]): sorted(c["game_ids"])
            for p in report["processors"] for c in p["candidates"]}


def test_detect_reports_exactly_the_deleted_games_and_run_restores_them(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    day_a, day_b = date(2024, 11, 5), date(2024, 11, 9)
    deleted = {
        (DEFENSE, day_a): drop_games(warehouse, DEFENSE, day_a,
                                     set(game_ids(warehouse, DEFENSE, day_a))),
        (PLAYERS, day_b): drop_games(warehouse, PLAYERS, day_b,
                                     set(game_ids(warehouse, PLAYERS, day_b)[:2])),
    }
    assert all(deleted.values())
    warehouse.close()
    # The contract's spelling: --warehouse after the command, nothing in the environment.
    flags = ["--warehouse", settings.warehouse, *WINDOW]

    detected = backfill(settings, "detect", *flags, "--dry-run", "--json", BACKFILL_WAREHOUSE="")
    assert detected.returncode == 0, detected.stderr
    report = json_out(detected)
    assert candidates(report) == {(name, day.isoformat()): sorted({r["game_id"] for r in lost})
                                  for (name, day), lost in deleted.items()}
    assert {c["reason"] for p in report["processors"] for c in p["candidates"]} == {"missing"}
    assert report["published"] == 0
    assert all(p["status"] == "ok" for p in report["processors"])

    ran = backfill(settings, "run", *flags, "--concurrency", "2", "--json", BACKFILL_WAREHOUSE="")
    assert ran.returncode == 0, ran.stderr
    counts = json_out(ran)
    assert (counts["detected"], counts["published"], counts["succeeded"]) == (2, 2, 2)
    assert (counts["unaccounted"], counts["dead_lettered"]) == (0, 0)
    assert counts["run_id"] == counts["run_ids"][0]
    for (name, day), lost in deleted.items():
        wanted = {r["game_id"] for r in lost}
        restored = [r for r in rows(warehouse, name, day) if r["game_id"] in wanted]
        assert canon(restored) == canon(lost)  # identical, lineage columns included

    again = json_out(backfill(settings, "detect", *flags, "--dry-run", "--json"))
    assert candidates(again) == {}


def test_a_missing_source_table_is_an_error_for_that_processor_only(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    day = date(2024, 11, 3)
    drop_games(warehouse, OFFENSE, day, set(game_ids(warehouse, OFFENSE, day)))
    warehouse.close()
    sql(warehouse_path, f"DROP TABLE {GAMEBOOK}")

    result = backfill(settings, "detect", *WINDOW, "--dry-run", "--json")

    assert result.returncode == 1, result.stderr
    by_name = {p["name"]: p for p in json_out(result)["processors"]}
    assert by_name[PLAYERS]["status"] == "error"
    assert "TableNotFound" in by_name[PLAYERS]["error"] and str(GAMEBOOK) in \
        by_name[PLAYERS]["error"]
    assert [name for name, p in by_name.items() if p["status"] == "error"] == [PLAYERS]
    assert [c["game_date"] for c in by_name[OFFENSE]["candidates"]] == [str(day)]
    assert all(not by_name[n]["candidates"] for n in (DEFENSE, "upcoming_team_game_context"))

    # `run` works the others and still says the pass failed.
    ran = backfill(settings, "run", *WINDOW, "--json")
    assert ran.returncode == 1
    counts = json_out(ran)
    # The team offense's games it wrote are new to the players: its worker publishes them,
    # and that request is dead-lettered with the missing table (detection cannot check them).
    assert (counts["published"], counts["followed_up"], counts["succeeded"],
            counts["dead_lettered"]) == (2, 1, 1, 1)
    assert list(counts["processor_errors"]) == [PLAYERS]


def test_a_processor_without_a_target_table_is_filled_from_scratch(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    processors = tmp_path / "processors.toml"
    processors.write_text('[[processor]]\nname = "team_offense_copy"\n'
                          'class = "backfill.processors.team_offense:TeamOffenseGameSummary"\n'
                          'target = "nba_analytics.team_offense_copy"\n')
    copy = load_registry(str(processors)).get("team_offense_copy")
    assert warehouse.describe(copy.target) is None
    warehouse.close()
    flags = ["--processors-file", str(processors), *WINDOW, "--processor", copy.name]

    found = json_out(backfill(settings, "detect", *flags, "--dry-run", "--json"))
    (only,) = found["processors"]
    days = [c["game_date"] for c in only["candidates"]]
    assert days == [str(d) for d in SEED_WINDOW.dates() if rows(warehouse, OFFENSE, d)]
    assert {c["reason"] for c in only["candidates"]} == {"missing"}

    ran = backfill(settings, "run", *flags, "--json")
    assert ran.returncode == 0, ran.stderr
    counts = json_out(ran)
    assert (counts["published"], counts["succeeded"]) == (len(days), len(days))
    # Created with the processor's schema and lineage columns, row for row the built-in's.
    assert set(warehouse.describe(copy.target).columns) == {c.name for c in copy.table_schema()}
    assert canon(rows(warehouse, copy.target, SEED_WINDOW.start, SEED_WINDOW.end)) == \
        canon(rows(warehouse, OFFENSE, SEED_WINDOW.start, SEED_WINDOW.end))
    assert candidates(json_out(backfill(settings, "detect", *flags, "--dry-run",
                                        "--json"))) == {}


def test_a_team_box_score_correction_reaches_the_player_summaries_in_one_run(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    day = date(2024, 11, 7)
    box = rows(warehouse, TEAM_BOXSCORE, day)
    home = min((r for r in box if r["is_home"]), key=lambda r: r["team_abbr"])
    team = home["team_abbr"]
    before = {r["player_lookup"]: r["usage_rate"] for r in rows(warehouse, PLAYERS, day)
              if r["team_abbr"] == team}
    # The scrape is corrected three days later: two more turnovers for that home team.
    home["turnovers"] += 2
    home["processed_at"] += timedelta(days=3)
    warehouse.write([Replace(TEAM_BOXSCORE, day, day, box, PHASE2_SCHEMAS[TEAM_BOXSCORE])])
    warehouse.close()

    ran = backfill(settings, "run", *WINDOW, "--json")

    assert ran.returncode == 0, ran.stderr
    counts = json_out(ran)
    # Both team summaries are stale; the worker that changed the team offense published the
    # players of that game in the same run; the confirming pass found nothing new.
    assert (counts["detected"], counts["published"], counts["followed_up"], counts["succeeded"],
            counts["passes"], counts["quiet_passes"]) == (2, 3, 1, 3, 2, [2])
    history = json_out(backfill(settings, "history", "--date", str(day), "--json"))
    assert sorted((r["processor"], r["reason"], r["outcome"]) for r in history) == sorted([
        (OFFENSE, "stale", "succeeded"), (DEFENSE, "stale", "succeeded"),
        (PLAYERS, "upstream_changed", "succeeded")])
    assert {r["run_id"] for r in history} == {counts["run_id"]}
    teams = {r["team_abbr"]: r for r in rows(warehouse, OFFENSE, day)}
    assert teams[team]["turnovers"] == home["turnovers"]
    gamebook = {(r["team_abbr"], r["player_lookup"]): r for r in rows(warehouse, GAMEBOOK, day)}
    players = rows(warehouse, PLAYERS, day)
    assert len(players) == sum(r["player_status"] == "active" for r in gamebook.values())
    for player in players:
        line, totals = gamebook[(player["team_abbr"], player["player_lookup"])], \
            teams[player["team_abbr"]]
        assert player["usage_rate"] == formulas.usage_rate(
            line["field_goals_attempted"], line["free_throws_attempted"], line["turnovers"],
            formulas.parse_minutes(line["minutes"]), totals["team_minutes"],
            totals["fg_attempted"], totals["ft_attempted"], totals["turnovers"]), player
    after = {r["player_lookup"]: r["usage_rate"] for r in players if r["team_abbr"] == team}
    assert after.keys() == before.keys()
    # More team turnovers: every player of that team used a smaller share of its plays.
    assert all(after[p] < before[p] for p in after if before[p])
    assert any(before.values())
    assert candidates(json_out(backfill(settings, "detect", *WINDOW, "--dry-run",
                                        "--json"))) == {}
