"""Issue 21's content kinds, each planted on a complete warehouse and followed by a run, on
DuckDB and on the BigQuery emulator: the end state is asserted (what was published, what Phase 3
holds, what quarantine holds). Inputs are judged by the content fingerprints the warehouse makes,
never by load times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backfill.bootstrap import Backfill
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Read
from backfill.service import quarantine
from backfill.service.detect import detect

from tests.fixtures import real_shapes
from tests.fixtures.changes import WINDOW, candidates, cycle, deliver, edit_game, set_value
from tests.fixtures.dirt_content import (
    LenientPlayerSummary,
    delete_player,
    duplicate_rows,
    hand_edit,
    lenient_registry,
    reload_schedule,
)
from tests.integration import emulated
from tests.unit import conftest as unit
from tests.unit.fakes import RecordingQueue

OFFENSE, PLAYERS, CONTEXT = ("team_offense_game_summary", "player_game_summary",
                             "upcoming_team_game_context")
NYK_PHI, DAL_HOU = "20250114_NYK_PHI", "20250116_DAL_HOU"  # DAL_HOU is alone on its date
DAY, ALONE = date(2025, 1, 14), date(2025, 1, 16)


@pytest.fixture(params=["duckdb", "bigquery"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backfill]:
    """The hand-made Phase 2 on a new warehouse of each kind, every gap filled by the worker."""
    if request.param == "duckdb":
        path = tmp_path / "dirt.duckdb"
        setup = DuckDBWarehouse(path)
        unit.load_phase2(setup, real_shapes.rows())
        setup.close()
        built = unit.make_app(path, registry=lenient_registry())
    else:
        host = request.getfixturevalue("bigquery_emulator")
        project = emulated.new_project("dirt")
        loader = emulated.loader(project, host)
        emulated.load_phase2(loader)
        built = emulated.make_app(emulated.settings_for(project, host), queue=RecordingQueue(),
                                  registry=lenient_registry())
        emulated.create_ops_tables(loader, built.ops)
    cycle(built)
    assert candidates(built) == set()
    try:
        yield built
    finally:
        built.close()


def refusing_cycle(app: Backfill) -> list[tuple[str, date, str]]:
    """One detection pass published and worked, where a game may be refused (partial)."""
    report = detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW)
    assert {r.outcome.value for r in deliver(app)} <= {"succeeded", "skipped", "partial"}
    return [(r.processor, r.game_date, r.reason.value) for r in report.published]


def target_rows(app: Backfill, processor: str, day: date) -> list[dict[str, object]]:
    return app.warehouse.read_rows(Read(app.registry.get(processor).target, day, day))


def test_kind_1_a_schedule_reload_that_changes_nothing_publishes_nothing(app: Backfill) -> None:
    lookback = timedelta(days=app.registry.get(CONTEXT).source_lookback_days)
    games = reload_schedule(app.warehouse, real_shapes.FIRST - lookback, real_shapes.LAST,
                            datetime(2025, 1, 20, 6, tzinfo=UTC))
    assert games >= 10
    assert candidates(app) == set()
    assert cycle(app) == []


def test_kind_6_a_deleted_phase2_row_removes_its_player_and_releases_a_hold(
        app: Backfill) -> None:
    before = {r["player_lookup"] for r in target_rows(app, PLAYERS, DAY)}
    delete_player(app.warehouse, DAY, NYK_PHI, "phitwo")
    assert cycle(app) == [(PLAYERS, DAY, "stale")]
    after = {r["player_lookup"] for r in target_rows(app, PLAYERS, DAY)}
    assert after == before - {"phitwo"}

    # A game held for a bad row, the bad row then deleted (not corrected): no longer held.
    edit_game(app, real_shapes.GAMEBOOK, DAY, NYK_PHI, set_value("nykone", minutes="3O:12"))
    assert refusing_cycle(app) == [(PLAYERS, DAY, "stale")]
    assert [e.game_id for e in quarantine.held(app.warehouse, app.ops, WINDOW)] == [NYK_PHI]
    assert cycle(app) == []  # held: reported, not published
    delete_player(app.warehouse, DAY, NYK_PHI, "nykone")
    assert cycle(app) == [(PLAYERS, DAY, "stale")]
    assert quarantine.held(app.warehouse, app.ops, WINDOW) == []
    players = {r["player_lookup"] for r in target_rows(app, PLAYERS, DAY)
               if r["game_id"] == NYK_PHI}
    assert "nykone" not in players and "nyktwo" in players
    assert candidates(app) == set()


def test_kind_8_hand_edits_to_phase3_are_reported_tampered_and_recomputed(
        app: Backfill) -> None:
    players, offense = app.registry.get(PLAYERS), app.registry.get(OFFENSE)
    clean = sorted(str(r) for r in target_rows(app, PLAYERS, DAY))
    hand_edit(app.warehouse, players, DAY, NYK_PHI, points=99)
    duplicate_rows(app.warehouse, offense, ALONE, DAL_HOU)
    # The doubled team offense is a gap of its own: its players are not judged against it.
    assert {(c[0], c[1], c[2], c[3]) for c in candidates(app)} == {
        (PLAYERS, DAY, "tampered", (NYK_PHI,)), (OFFENSE, ALONE, "tampered", (DAL_HOU,))}
    assert set(cycle(app)) == {(OFFENSE, ALONE, "tampered"), (PLAYERS, DAY, "tampered")}
    assert sorted(str(r) for r in target_rows(app, PLAYERS, DAY)) == clean
    assert len([r for r in target_rows(app, OFFENSE, ALONE) if r["game_id"] == DAL_HOU]) == 2
    assert candidates(app) == set()


def test_kind_11_a_version_that_fixes_a_refusal_retries_a_held_game_alone_on_its_date(
        app: Backfill) -> None:
    edit_game(app, real_shapes.GAMEBOOK, ALONE, DAL_HOU, set_value("dalone", minutes="3O:12"))
    assert refusing_cycle(app) == [(PLAYERS, ALONE, "stale")]
    assert [e.game_id for e in quarantine.held(app.warehouse, app.ops, WINDOW)] == [DAL_HOU]
    assert cycle(app) == []
    players = app.registry.get(PLAYERS)
    assert isinstance(players, LenientPlayerSummary)
    players.version = LenientPlayerSummary.FIXED
    found = {(c[0], c[1]): (c[2], c[3]) for c in candidates(app)}
    assert found[(PLAYERS, ALONE)] == ("outdated", (DAL_HOU,))
    cycle(app)
    assert quarantine.held(app.warehouse, app.ops, WINDOW) == []
    fixed = next(r for r in target_rows(app, PLAYERS, ALONE) if r["player_lookup"] == "dalone")
    assert fixed["minutes_played"] == pytest.approx(30.2)
    assert candidates(app) == set()


def test_a_schedule_reload_each_day_for_a_week_of_a_seeded_season_publishes_nothing(
        tmp_path: Path) -> None:
    """A seeded season; on each of 7 consecutive days the schedule is reloaded unchanged and
    detection runs over its usual 30-day lookback."""
    from backfill.local.seeding import seed

    path = tmp_path / "season.duckdb"
    app = unit.make_app(path)
    season = Window(date(2024, 10, 22), date(2024, 12, 31))
    seed(app.warehouse, app.registry, season)
    published = []
    for offset in range(7):
        today = date(2024, 12, 20) + timedelta(days=offset)
        reload_schedule(app.warehouse, season.start - timedelta(days=14), season.end,
                        datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=6))
        report = detect(app.warehouse, app.registry, app.ops, app.queue,
                        Window(today - timedelta(days=30), today))
        assert not report.failed
        published += report.published
    assert published == []
    app.close()
