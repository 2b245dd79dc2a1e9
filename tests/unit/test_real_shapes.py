"""The original pipeline's real Phase 2 shapes, in-process on DuckDB (the same cycle runs on the
BigQuery emulator in tests/integration): official ids on the schedule, date-based ids in the box
scores, appended schedule rows, a reused id, ids spelled two ways, game types, missing tables."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from backfill.bootstrap import Backfill
from backfill.domain.window import Window
from backfill.local.cli.main import cli
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Read, Replace
from backfill.processors.nba_raw import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE
from backfill.service.detect import find_gaps
from click.testing import CliRunner

from tests.fixtures import real_shapes
from tests.unit.conftest import close_all_gaps, deliver_published, load_phase2, make_app

WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)
BOX_SCORE_PROCESSORS = ("team_offense_game_summary", "team_defense_game_summary",
                        "player_game_summary")


def reported(app: Backfill) -> dict[str, dict[str, list[str]]]:
    """Per processor: date -> game ids of its candidates (all must be `missing` here)."""
    found: dict[str, dict[str, list[str]]] = {}
    for result in find_gaps(app.warehouse, app.registry, app.ops, WINDOW):
        assert result.error is None, result.error
        assert not result.upstream_error and not result.gaps.upstream
        found[result.name] = {c.game_date.isoformat(): list(c.game_ids)
                              for c in result.candidates}
        assert {c.reason.value for c in result.candidates} <= {"missing"}
    return found


def test_a_processor_deployed_after_months_of_phase2_sees_every_checked_game_missing(
        shapes_app: Backfill) -> None:
    found = reported(shapes_app)
    box_scores = {
        "2025-01-10": ["20250110_LAL_DEN", "20250110_NYK_BOS"],  # as stored: one flipped
        "2025-01-11": ["20250111_PHX_SAS"],       # one game, its rows spelled two ways
        "2025-01-12": ["20250112_OKC_MIL"],       # the Cup final is checked
        "2025-01-14": ["20250114_GSW_LAC", "20250114_NYK_PHI"],
        "2025-01-15": ["20250115_CHI_MIL"],       # the postponed game, on its new date
        "2025-01-16": ["20250116_DAL_HOU"]}
    for name in BOX_SCORE_PROCESSORS:
        assert found[name] == box_scores, name
    # The schedule's games by official id: appended rows count once, preseason (0012400099)
    # and All-Star (0032400001) are not checked, the postponed game is a game on both dates.
    assert found["upcoming_team_game_context"] == {
        "2025-01-10": ["0022400581", "0022400580"][::-1],
        "2025-01-11": ["0022400600", "0022400601"], "2025-01-12": ["0062400001"],
        "2025-01-14": ["0022400620", "0022400621"], "2025-01-15": ["0022400600"],
        "2025-01-16": ["0022400640"]}


def test_the_worker_fills_them_creating_the_targets_and_the_next_detection_is_clean(
        shapes_app: Backfill) -> None:
    results = close_all_gaps(shapes_app)
    assert {r.outcome.value for r in results} == {"succeeded"}
    assert len(results) == 4 * 6
    assert reported(shapes_app) == {name: {} for name in shapes_app.registry.names}
    offense = shapes_app.warehouse.read_rows(Read(
        shapes_app.registry.get("team_offense_game_summary").target, WINDOW.start, WINDOW.end))
    # Canonical ids rebuilt from is_home, whatever Phase 2 spelled: away first.
    assert {r["game_id"] for r in offense} == {g.game_id for g in real_shapes.CHECKED}
    context = shapes_app.warehouse.read_rows(Read(
        shapes_app.registry.get("upcoming_team_game_context").target, WINDOW.start, WINDOW.end))
    assert len(context) == 2 * 9  # nine checked games on the schedule: the postponed one twice


def test_a_flipped_or_mixed_id_inside_phase2_never_fails_a_date(filled_app: Backfill) -> None:
    players = filled_app.warehouse.read_rows(Read(
        filled_app.registry.get("player_game_summary").target, date(2025, 1, 10),
        date(2025, 1, 11)))
    # The gamebook spells 20250110_NYK_BOS, the box score the same, flipped; 01-11's two team
    # rows disagree with each other: every player still found his team's row.
    assert {(r["game_id"], r["team_abbr"]) for r in players} >= {
        ("20250110_BOS_NYK", "BOS"), ("20250110_BOS_NYK", "NYK"),
        ("20250111_PHX_SAS", "PHX"), ("20250111_PHX_SAS", "SAS")}
    assert all(r["usage_rate"] is not None for r in players)


def test_a_missing_column_is_an_error_of_the_processors_reading_it_and_the_report_prints(
        tmp_path: Path, shapes_template: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(path)
    rows = real_shapes.rows()
    saved = real_shapes.SCHEMAS[TEAM_BOXSCORE]
    real_shapes.SCHEMAS[TEAM_BOXSCORE] = tuple(c for c in saved if c.name != "is_home")
    try:
        load_phase2(warehouse, rows)
    finally:
        real_shapes.SCHEMAS[TEAM_BOXSCORE] = saved
    warehouse.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["detect", "--warehouse", f"duckdb://{path}", "--start-date",
                                 "2025-01-10", "--end-date", "2025-01-16", "--dry-run",
                                 "--json"])
    assert result.exit_code == 1, result.output
    by_name = {p["name"]: p for p in json.loads(result.output)["processors"]}
    for name in ("team_offense_game_summary", "team_defense_game_summary"):
        assert by_name[name]["status"] == "error"
        assert by_name[name]["error"] == ("SchemaMismatch: nba_raw.nbac_team_boxscore has no "
                                          "column is_home: expected BOOL")
    assert by_name["player_game_summary"]["status"] == "ok"
    assert by_name["upcoming_team_game_context"]["candidates"]


def test_a_column_of_another_type_is_named_with_the_type_expected(
        tmp_path: Path, shapes_template: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(shapes_template, path)
    app = make_app(path)
    app.warehouse.close()
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE nba_raw.nbac_schedule ALTER game_status TYPE VARCHAR")
    results = {r.name: r for r in find_gaps(app.warehouse, app.registry, app.ops, WINDOW)}
    assert results["upcoming_team_game_context"].error == (
        "SchemaMismatch: nba_raw.nbac_schedule.game_status is STRING, expected INT64")
    # Without a schedule the others still run, and say their game types went unchecked.
    assert "game_status is STRING" in (results["player_game_summary"].upstream_error or "")


def test_a_missing_source_table_is_an_error_for_that_processor_only(
        shapes_app: Backfill) -> None:
    shapes_app.warehouse.close()
    import duckdb

    path = str(shapes_app.warehouse.url).removeprefix("duckdb://")
    with duckdb.connect(path) as con:
        con.execute("DROP TABLE nba_raw.nbac_gamebook_player_stats")
    results = {r.name: r for r in find_gaps(shapes_app.warehouse, shapes_app.registry,
                                            shapes_app.ops, WINDOW)}
    assert results["player_game_summary"].error == (
        f"TableNotFound: table {GAMEBOOK} does not exist in {shapes_app.warehouse.url}")
    assert results["team_offense_game_summary"].error is None
    assert results["team_offense_game_summary"].candidates


def test_a_pipeline_with_its_own_column_names_works_through_the_processors_file(
        tmp_path: Path) -> None:
    renames = {"field_goals_made": "fgm", "field_goals_attempted": "fga", "minutes": "min"}
    path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(path)
    rows = real_shapes.rows()
    rows[GAMEBOOK] = [{renames.get(k, k): v for k, v in r.items()} for r in rows[GAMEBOOK]]
    saved = real_shapes.SCHEMAS[GAMEBOOK]
    real_shapes.SCHEMAS[GAMEBOOK] = tuple(
        type(c)(renames.get(c.name, c.name), c.type) for c in saved)
    try:
        load_phase2(warehouse, rows)
    finally:
        real_shapes.SCHEMAS[GAMEBOOK] = saved
    warehouse.close()
    config = tmp_path / "processors.toml"
    config.write_text(
        '[[processor]]\nname = "players_own_names"\n'
        'class = "backfill.processors.player_game_summary:PlayerGameSummary"\n'
        'target = "nba_analytics.players_own_names"\n'
        'columns = { field_goals_made = "fgm", field_goals_attempted = "fga", minutes = "min" }\n')
    app = make_app(path, processors_file=str(config))
    results = {r.name: r for r in find_gaps(app.warehouse, app.registry, app.ops, WINDOW)}
    assert "has no column minutes" in (results["player_game_summary"].error or "")
    assert results["players_own_names"].error is None
    close_all_gaps(app)
    written = app.warehouse.read_rows(Read(app.registry.get("players_own_names").target,
                                           WINDOW.start, WINDOW.end))
    assert len(written) == 10 * len(real_shapes.CHECKED)
    assert {r["fg_made"] for r in written} == {9, 7, 5, 4, 3}


@pytest.mark.parametrize("table", [SCHEDULE, TEAM_BOXSCORE])
def test_every_query_filters_game_date(table: object, shapes_app: Backfill) -> None:
    from backfill.adapters.sql import BIGQUERY, read_sql, scans_sql

    processor = shapes_app.registry.get("team_offense_game_summary")
    scans, _ = scans_sql([processor.source_scan(WINDOW), processor.source_scan(WINDOW)], BIGQUERY)
    assert scans.count("WHERE game_date BETWEEN @s") == 2
    for sql, _ in (read_sql(processor.source_read(WINDOW.start, WINDOW.end), BIGQUERY),
                   read_sql(shapes_app.registry.schedule_read(WINDOW.start, WINDOW.end),
                            BIGQUERY)):
        assert "WHERE game_date BETWEEN @start" in sql


def test_a_new_processor_with_no_target_table_is_filled_from_scratch(filled_app: Backfill,
                                                                     tmp_path: Path) -> None:
    config = tmp_path / "processors.toml"
    config.write_text('[[processor]]\nname = "defense_again"\n'
                      'class = "backfill.processors.team_defense:TeamDefenseGameSummary"\n'
                      'target = "nba_analytics.defense_again"\n')
    path = Path(str(filled_app.warehouse.url).removeprefix("duckdb://"))
    filled_app.close()
    app = make_app(path, processors_file=str(config))
    assert app.warehouse.describe(app.registry.get("defense_again").target) is None
    results = close_all_gaps(app)
    assert {(r.request.processor, r.outcome.value) for r in results if r.request} == {
        ("defense_again", "succeeded")}
    assert app.warehouse.describe(app.registry.get("defense_again").target) is not None
    assert not deliver_published(app)
    assert all(not r.candidates for r in find_gaps(app.warehouse, app.registry, app.ops,
                                                   WINDOW))
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)


def test_a_half_loaded_game_is_reported_not_guessed(shapes_app: Backfill) -> None:
    day = date(2025, 1, 16)
    rows = [r for r in shapes_app.warehouse.read_rows(Read(TEAM_BOXSCORE, day, day))
            if r["is_home"]]
    shapes_app.warehouse.write([Replace(TEAM_BOXSCORE, day, day, rows,
                                        real_shapes.SCHEMAS[TEAM_BOXSCORE])])
    results = {r.request.processor: r for r in close_all_gaps(shapes_app)
               if r.request and r.request.game_date == day}
    assert "team_offense_game_summary" not in results  # an upstream gap: never published
    (offense,) = [r for r in find_gaps(shapes_app.warehouse, shapes_app.registry,
                                       shapes_app.ops, WINDOW)
                  if r.name == "team_offense_game_summary"]
    why = f"{TEAM_BOXSCORE} has no rows of team DAL"
    assert [(g.game_date, g.game_ids, g.reason) for g in offense.gaps.upstream] == [
        (day, ("20250116_DAL_HOU",), why)]
    # Its players wait with it, reported, not published again on every pass.
    (players,) = [r for r in find_gaps(shapes_app.warehouse, shapes_app.registry,
                                       shapes_app.ops, WINDOW) if r.name == "player_game_summary"]
    assert [(g.game_date, g.reason) for g in players.gaps.waiting] == [
        (day, f"waiting on team_offense_game_summary, whose Phase 2 rows of it fail a sanity "
              f"rule: {why}")]
    assert players.gaps.candidate(day) is None
