"""Staleness that follows the content of every input (Phase 2 corrected, upstream games
recomputed with other values, the schedule's lookback), never its timestamps, and processor
versions, in-process on DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from backfill.bootstrap import Backfill
from backfill.domain.request import Reason, Request
from backfill.domain.window import Window
from backfill.ports import Read, Replace
from backfill.processors import formulas
from backfill.processors.nba_raw import SCHEDULE, TEAM_BOXSCORE
from backfill.processors.registry import load_registry
from backfill.service.detect import detect, find_gaps

from tests.fixtures import real_shapes
from tests.fixtures.changes import candidates, cycle, edit_game
from tests.fixtures.changes import correct_turnovers as turnovers
from tests.unit.conftest import deliver_published, make_app
from tests.unit.fakes import RecordingQueue

DAY = date(2025, 1, 14)
GAME = "20250114_NYK_PHI"
WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)
OFFENSE, DEFENSE, PLAYERS, CONTEXT = ("team_offense_game_summary", "team_defense_game_summary",
                                      "player_game_summary", "upcoming_team_game_context")


def correct_turnovers(app: Backfill) -> None:
    """PHI's turnovers of 01-14 corrected, the game re-processed."""
    edit_game(app, TEAM_BOXSCORE, DAY, GAME, turnovers("PHI"))


def test_a_corrected_team_box_score_reaches_the_player_summaries_through_the_team_offense(
        filled_app: Backfill) -> None:
    correct_turnovers(filled_app)
    box = str(TEAM_BOXSCORE)
    assert candidates(filled_app) == {(OFFENSE, DAY, "stale", (GAME,), (box,)),
                                      (DEFENSE, DAY, "stale", (GAME,), (box,))}
    assert isinstance(filled_app.queue, RecordingQueue)
    published = filled_app.queue.published
    assert sorted(cycle(filled_app)) == [(DEFENSE, DAY, "stale"), (OFFENSE, DAY, "stale")]
    # The team offense changed the values of that game, so the worker published its players
    # (worked by the same cycle): nothing is left for the next detection.
    assert candidates(filled_app) == set()
    assert published == []
    players = [r for r in filled_app.warehouse.read_rows(Read(
        filled_app.registry.get(PLAYERS).target, DAY, DAY)) if r["team_abbr"] == "PHI"]
    team = next(r for r in filled_app.warehouse.read_rows(Read(TEAM_BOXSCORE, DAY, DAY))
                if r["team_abbr"] == "PHI")
    for row in players:
        expected = formulas.usage_rate(
            row["fg_attempted"], row["ft_attempted"], row["turnovers"], row["minutes_played"],
            240, team["fg_attempted"], team["ft_attempted"], team["turnovers"])
        assert row["usage_rate"] == expected


def test_a_reload_that_changes_nothing_is_nothing_and_so_is_a_recompute_to_equal_values(
        filled_app: Backfill) -> None:
    offense = filled_app.registry.get(OFFENSE).target
    before = filled_app.warehouse.read_rows(Read(offense, DAY, DAY))
    rows = filled_app.warehouse.read_rows(Read(TEAM_BOXSCORE, DAY, DAY))
    for row in rows:
        row["processed_at"] += timedelta(days=1)  # re-processed, nothing corrected
    filled_app.warehouse.write([Replace(TEAM_BOXSCORE, DAY, DAY, list(reversed(rows)),
                                        real_shapes.SCHEMAS[TEAM_BOXSCORE])])
    assert candidates(filled_app) == set()
    # A forced recompute that gives the same values makes nothing downstream stale.
    assert isinstance(filled_app.queue, RecordingQueue)
    filled_app.queue.published.append(Request(processor=OFFENSE, game_date=DAY, force=True))
    (result,) = deliver_published(filled_app)
    assert result.outcome.value == "succeeded"
    assert candidates(filled_app) == set()
    after = filled_app.warehouse.read_rows(Read(offense, DAY, DAY))
    assert sorted(r["row_hash"] for r in after) == sorted(r["row_hash"] for r in before)


def test_a_correction_back_to_the_old_value_is_nothing(filled_app: Backfill) -> None:
    correct_turnovers(filled_app)
    assert {c[0] for c in candidates(filled_app)} == {OFFENSE, DEFENSE}
    edit_game(filled_app, TEAM_BOXSCORE, DAY, GAME, turnovers("PHI", by=-5))
    assert candidates(filled_app) == set()


def test_a_game_added_to_an_earlier_date_makes_the_later_context_of_its_teams_stale(
        filled_app: Backfill) -> None:
    added, when = date(2025, 1, 12), datetime(2025, 1, 20, 9, tzinfo=UTC)
    rows = filled_app.warehouse.read_rows(Read(SCHEDULE, added, added))
    rows.append({**rows[0], "game_id": "0022400611", "game_code": "20250112/NYKGSW",
                 "home_team_tricode": "GSW", "away_team_tricode": "NYK", "game_status": 3,
                 "processed_at": when})
    filled_app.warehouse.write([Replace(SCHEDULE, added, added, rows,
                                        real_shapes.SCHEMAS[SCHEDULE])])
    found = candidates(filled_app)
    # 01-12's new game is missing; NYK (01-14) and GSW (01-14) are stale for it; the other
    # teams' games are untouched, and the box-score processors know nothing of the schedule.
    assert (CONTEXT, added, "missing", ("0022400611",), ()) in found
    assert (CONTEXT, DAY, "stale", ("0022400620", "0022400621"), (str(SCHEDULE),)) in found
    assert all(c[0] == CONTEXT for c in found) and len(found) == 2
    context = filled_app.registry.get(CONTEXT).target
    before = {(r["team_abbr"]): r for r in filled_app.warehouse.read_rows(Read(context, DAY,
                                                                               DAY))}
    assert before["NYK"]["days_rest"] == 3  # last game 01-10: 01-11, 01-12, 01-13 off
    cycle(filled_app)
    after = {(r["team_abbr"]): r for r in filled_app.warehouse.read_rows(Read(context, DAY, DAY))}
    assert after["NYK"]["days_rest"] == 1 and after["GSW"]["days_rest"] == 1
    assert after["NYK"]["games_in_last_7_days"] == before["NYK"]["games_in_last_7_days"] + 1
    assert candidates(filled_app) == set()


def reopened(app: Backfill) -> Backfill:
    """The same warehouse with processors of its own, free to be changed by the test."""
    path = Path(str(app.warehouse.url).removeprefix("duckdb://"))
    app.close()
    return make_app(path, registry=load_registry())


def test_a_version_bump_republishes_every_date_of_that_processor_capped_and_in_order(
        filled_app: Backfill) -> None:
    app = reopened(filled_app)
    app.registry.get(DEFENSE).version = "2"
    found = {r.name: r for r in find_gaps(app.warehouse, app.registry, app.ops, WINDOW)}
    outdated = found[DEFENSE].candidates
    assert [c.game_date for c in outdated] == sorted(d for d in {g.day for g in
                                                                 real_shapes.CHECKED})
    assert {(c.reason, c.has_version, c.needs_version) for c in outdated} == {
        (Reason.OUTDATED, "1", "2")}
    assert all(not found[name].candidates for name in (OFFENSE, PLAYERS, CONTEXT))
    report = detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW, max_messages=2)
    assert [(r.processor, r.game_date) for r in report.published] == [
        (DEFENSE, c.game_date) for c in outdated[:2]]
    assert report.deferred == len(outdated) - 2
    deliver_published(app)
    detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW)
    deliver_published(app)
    assert all(not r.candidates for r in find_gaps(app.warehouse, app.registry, app.ops,
                                                   WINDOW))
    app.registry.get(DEFENSE).version = None  # no version declared: never outdated
    assert all(not r.candidates for r in find_gaps(app.warehouse, app.registry, app.ops,
                                                   WINDOW))
    app.close()


def test_rows_written_before_fingerprints_are_outdated_once(filled_app: Backfill) -> None:
    filled_app.warehouse.close()
    import duckdb

    path = str(filled_app.warehouse.url).removeprefix("duckdb://")
    with duckdb.connect(path) as con:
        con.execute(f"UPDATE nba_analytics.{OFFENSE} SET inputs = NULL "  # noqa: S608
                    "WHERE game_date = $day", {"day": DAY})
    found = candidates(filled_app)
    assert {(c[0], c[1], c[2]) for c in found} == {(OFFENSE, DAY, "outdated")}
    assert cycle(filled_app) == [(OFFENSE, DAY, "outdated")]
    # Recomputed to the same values: nothing downstream, nothing the next time.
    assert candidates(filled_app) == set()
    rows = filled_app.warehouse.read_rows(Read(filled_app.registry.get(OFFENSE).target, DAY, DAY))
    assert all(r["inputs"] and r["row_hash"] and r["processor_version"] == "1" for r in rows)


def test_a_request_whose_date_was_refreshed_meanwhile_is_skipped(filled_app: Backfill) -> None:
    correct_turnovers(filled_app)
    detect(filled_app.warehouse, filled_app.registry, filled_app.ops, filled_app.queue, WINDOW)
    assert isinstance(filled_app.queue, RecordingQueue)
    again = list(filled_app.queue.published)
    deliver_published(filled_app)
    filled_app.queue.published += again  # delivered twice, as at-least-once delivery may
    assert {r.outcome.value for r in deliver_published(filled_app)} == {"skipped"}
