"""Quarantine, staleness that follows every input, and processor versions on BigQuery (the API
emulator, the real client): the same changes the unit tier makes on DuckDB, on one project."""

from __future__ import annotations

from datetime import date

from backfill.bootstrap import Backfill
from backfill.processors import formulas
from backfill.processors.nba_raw import GAMEBOOK, TEAM_BOXSCORE
from backfill.processors.registry import load_registry
from backfill.service import quarantine
from backfill.service.detect import detect, find_gaps

from tests.fixtures.changes import (
    WINDOW,
    box_score,
    candidates,
    correct_turnovers,
    cycle,
    deliver,
    edit_game,
    run_date,
    set_value,
)
from tests.integration.emulated import (
    create_ops_tables,
    load_phase2,
    loader,
    make_app,
    new_project,
    settings_for,
)
from tests.unit.fakes import RecordingQueue

OFFENSE, DEFENSE, PLAYERS = ("team_offense_game_summary", "team_defense_game_summary",
                             "player_game_summary")
CORRECTED, POISONED = date(2025, 1, 14), date(2025, 1, 16)


def filled(project: str, host: str) -> Backfill:
    setup = loader(project, host)
    load_phase2(setup)
    app = make_app(settings_for(project, host), queue=RecordingQueue())
    create_ops_tables(setup, app.ops)
    cycle(app)
    assert candidates(app) == set()
    return app


def test_a_box_score_correction_reaches_the_players_and_a_bad_game_waits_in_quarantine(
        bigquery_emulator: str) -> None:
    app = filled(new_project("lineage"), bigquery_emulator)
    box = str(TEAM_BOXSCORE)
    game = "20250114_NYK_PHI"

    edit_game(app, TEAM_BOXSCORE, CORRECTED, game, correct_turnovers("PHI"))
    assert candidates(app) == {(OFFENSE, CORRECTED, "stale", (game,), (box,)),
                               (DEFENSE, CORRECTED, "stale", (game,), (box,))}
    cycle(app)  # the worker that changed the team offense published the players: worked too
    assert candidates(app) == set()
    team = box_score(app, CORRECTED, "PHI")
    players, _ = run_date(app, PLAYERS, CORRECTED)  # complete: skipped, rows as they are
    for row in (r for r in players if r["team_abbr"] == "PHI"):
        assert row["usage_rate"] == formulas.usage_rate(
            row["fg_attempted"], row["ft_attempted"], row["turnovers"], row["minutes_played"],
            240, team["fg_attempted"], team["ft_attempted"], team["turnovers"])

    bad = "20250116_DAL_HOU"
    edit_game(app, GAMEBOOK, POISONED, bad, set_value("dalone", minutes="3O:12"))
    rows, result = run_date(app, PLAYERS, POISONED)
    assert result.outcome.value == "partial" and set(result.refused) == {bad}
    assert "'3O:12'" in result.refused[bad]
    assert [e.game_id for e in quarantine.held(app.warehouse, app.ops, WINDOW)] == [bad]
    report = detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW)
    assert not report.published
    (players_report,) = [p for p in report.processors if p.name == PLAYERS]
    assert [q.game_ids for q in players_report.gaps.quarantined] == [(bad,)]
    edit_game(app, GAMEBOOK, POISONED, bad, set_value("dalone", minutes="30:12"))
    assert cycle(app) == [(PLAYERS, POISONED, "stale")]
    assert not quarantine.held(app.warehouse, app.ops, WINDOW)
    assert candidates(app) == set()


def test_a_version_bump_makes_every_date_of_that_processor_outdated_and_nothing_else(
        bigquery_emulator: str) -> None:
    app = filled(new_project("versions"), bigquery_emulator)
    registry = load_registry()
    registry.get(DEFENSE).version = "2"
    bumped = make_app(app.settings, warehouse=app.warehouse, registry=registry)
    found = {r.name: r for r in find_gaps(bumped.warehouse, bumped.registry, bumped.ops, WINDOW)}
    assert {(c.reason.value, c.has_version, c.needs_version)
            for c in found[DEFENSE].candidates} == {("outdated", "1", "2")}
    assert len(found[DEFENSE].candidates) == 6  # every date with a checked game
    assert all(not found[name].candidates for name in found if name != DEFENSE)
    detect(bumped.warehouse, bumped.registry, bumped.ops, bumped.queue, WINDOW)
    assert {r.outcome.value for r in deliver(bumped)} == {"succeeded"}
    assert all(not r.candidates for r in find_gaps(bumped.warehouse, bumped.registry,
                                                   bumped.ops, WINDOW))
