"""One bad game never sinks a date: per-game isolation, the quarantine, and its operators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from backfill.bootstrap import Backfill
from backfill.domain.request import Reason
from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.ports import Read, Replace, Row
from backfill.processors import formulas
from backfill.processors.nba_raw import GAMEBOOK, TEAM_BOXSCORE
from backfill.service import quarantine
from backfill.service.dead_letters import Replaying, peek, replay
from backfill.service.detect import detect, find_gaps
from backfill.service.work import WorkResult

from tests.fixtures import real_shapes
from tests.fixtures.changes import edit_game, set_value
from tests.fixtures.changes import run_date as run_on
from tests.unit.conftest import deliver_published
from tests.unit.fakes import RecordingQueue

DAY = date(2025, 1, 14)
BAD, GOOD = "20250114_NYK_PHI", "20250114_GSW_LAC"
WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)
PLAYERS, OFFENSE = "player_game_summary", "team_offense_game_summary"


def edit(app: Backfill, table: TableRef, change: Callable[[list[Row]], object],
         reprocess: bool = True) -> None:
    edit_game(app, table, DAY, BAD, change, reprocess)


def run_date(app: Backfill, processor: str) -> tuple[list[Row], WorkResult]:
    return run_on(app, processor, DAY)


BAD_ROWS = {
    "corrupt minutes": (GAMEBOOK, set_value("phione", minutes="3O:12"), "phione", "'3O:12'"),
    "dnp on an active row": (GAMEBOOK, set_value("phitwo", minutes="DNP"), "phitwo", "'DNP'"),
    "null stat on an active row": (GAMEBOOK, set_value("nykone", field_goals_made=None),
                                   "nykone", "field_goals_made is NULL"),
    "null team on an active row": (GAMEBOOK, set_value("nykthree", team_abbr=None),
                                   "nykthree", "None"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_refuses_its_game_only_and_the_game_is_held_until_its_rows_change(
        filled_app: Backfill, case: str) -> None:
    table, change, who, value = BAD_ROWS[case]
    before = {r["game_id"]: r for r in run_date(filled_app, PLAYERS)[0]}
    edit(filled_app, table, change)
    rows, result = run_date(filled_app, PLAYERS)
    assert result.outcome.value == "partial"  # type: ignore[attr-defined]
    assert result.games_written == 1 and set(result.refused) == {BAD}  # type: ignore[attr-defined]
    reason = result.refused[BAD]  # type: ignore[attr-defined]
    assert who in reason and value in reason
    # The good game is written, correct and complete; the bad game's old rows are kept.
    assert {r["game_id"] for r in rows} == {GOOD, BAD}
    assert len([r for r in rows if r["game_id"] == GOOD]) == 10
    assert all(r["inputs"] == before[BAD]["inputs"]
               for r in rows if r["game_id"] == BAD)
    # Held, said once in the dead-letter queue, with the games and why.
    held = quarantine.held(filled_app.warehouse, filled_app.ops, WINDOW, PLAYERS)
    assert [(e.game_id, e.reason) for e in held] == [(BAD, reason)]
    assert isinstance(filled_app.queue, RecordingQueue)
    (body, attributes) = filled_app.queue.dead_letters[-1]
    assert attributes["refused_games"] == BAD and value in attributes["error_message"]
    # The next detections report it as quarantined and publish nothing for it.
    for _ in range(2):
        report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops,
                        filled_app.queue, WINDOW)
        assert not report.published
        (players,) = [p for p in report.processors if p.name == PLAYERS]
        assert [(q.game_date, q.game_ids, q.reason) for q in players.gaps.quarantined] == [
            (DAY, (BAD,), reason)]
    assert len(filled_app.queue.dead_letters) == 1


def test_a_corrected_row_processed_later_is_published_filled_and_leaves_the_quarantine(
        filled_app: Backfill) -> None:
    edit(filled_app, GAMEBOOK, set_value("phione", minutes="3O:12"))
    run_date(filled_app, PLAYERS)
    edit(filled_app, GAMEBOOK, set_value("phione", minutes="30:12"))
    report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops,
                    filled_app.queue, WINDOW)
    assert [(r.processor, r.game_date, r.reason) for r in report.published] == [
        (PLAYERS, DAY, Reason.STALE)]
    (result,) = deliver_published(filled_app)
    assert result.outcome.value == "succeeded"
    assert not quarantine.held(filled_app.warehouse, filled_app.ops, WINDOW)
    rows = filled_app.warehouse.read_rows(Read(filled_app.registry.get(PLAYERS).target, DAY, DAY))
    assert next(r for r in rows if r["player_lookup"] == "phione")["minutes_played"] == 30.2


def test_release_publishes_the_date_again_now_and_a_fixed_processor_fills_it(
        filled_app: Backfill) -> None:
    edit(filled_app, GAMEBOOK, set_value("phione", minutes="3O:12"), reprocess=False)
    edit(filled_app, GAMEBOOK, lambda game: None)  # re-processed, still bad
    run_date(filled_app, PLAYERS)
    released = quarantine.release(filled_app.warehouse, filled_app.queue, filled_app.ops,
                                  PLAYERS, DAY, BAD, by="tester")
    assert [e.game_id for e in released.games] == [BAD]
    assert released.request.game_ids == (BAD,) and released.request.reason is Reason.MANUAL
    assert not quarantine.held(filled_app.warehouse, filled_app.ops, WINDOW)
    (result,) = deliver_published(filled_app)
    # The code is not fixed: refused again, held again, one more dead letter (not one a day).
    assert result.outcome.value == "partial" and set(result.refused) == {BAD}
    assert [e.game_id for e in quarantine.held(filled_app.warehouse, filled_app.ops, WINDOW)] \
        == [BAD]
    with pytest.raises(Exception, match="nothing of game 20250114_GSW_LAC"):
        quarantine.release(filled_app.warehouse, filled_app.queue, filled_app.ops, PLAYERS,
                           DAY, GOOD, by="tester")


def test_replaying_its_dead_letter_releases_the_games_it_names(filled_app: Backfill) -> None:
    edit(filled_app, GAMEBOOK, set_value("phione", minutes="3O:12"))
    run_date(filled_app, PLAYERS)
    assert isinstance(filled_app.queue, RecordingQueue)
    inbox = filled_app.queue.inbox()
    (letter,) = peek(inbox, DAY)
    assert set(letter.why.refused) == {BAD}
    edit(filled_app, GAMEBOOK, set_value("phione", minutes="30:12"), reprocess=False)
    report = replay(inbox, Replaying(filled_app.queue, filled_app.warehouse,
                                     filled_app.registry, filled_app.ops, "tester"), DAY,
                    lambda _: True)
    assert report.count(report.outcomes[letter.message_id][0]) == 1
    assert not inbox.messages
    (result,) = deliver_published(filled_app)
    assert result.outcome.value == "succeeded"


def test_a_game_held_by_the_team_offense_waits_without_holding_the_players_other_games(
        filled_app: Backfill) -> None:
    target = filled_app.registry.get(PLAYERS).target
    filled_app.warehouse.write([Replace(target, DAY, DAY, [],
                                        filled_app.registry.get(PLAYERS).table_schema())])
    offense = filled_app.registry.get(OFFENSE).target
    filled_app.warehouse.write([Replace(offense, DAY, DAY, [r for r in filled_app.warehouse.read_rows(
        Read(offense, DAY, DAY)) if r["game_id"] != BAD], filled_app.registry.get(
        OFFENSE).table_schema())])
    edit(filled_app, TEAM_BOXSCORE, lambda game: game[0].update(points=None))
    run_date(filled_app, OFFENSE)
    assert [e.game_id for e in quarantine.held(filled_app.warehouse, filled_app.ops,
                                               WINDOW, OFFENSE)] == [BAD]
    rows, result = run_date(filled_app, PLAYERS)
    assert result.outcome.value == "partial" and not result.refused  # type: ignore[attr-defined]
    assert "holds it in quarantine" in result.waiting[BAD]  # type: ignore[attr-defined]
    assert {r["game_id"] for r in rows} == {GOOD}
    (players,) = find_gaps(filled_app.warehouse, filled_app.registry, filled_app.ops, WINDOW,
                           [PLAYERS])
    assert not players.candidates
    assert [w.game_ids for w in players.gaps.waiting] == [(BAD,)]


@pytest.mark.parametrize(("tolerant", "strict"), [
    ("36", "36:00"), ("36.5", "36:30"), ("PT24M30.00S", "24:30"), (" 12:30 ", "12:30"),
    ("5:07", "05:07"), ("PT00M45.00S", "0:45")])
def test_tolerant_minutes_give_the_same_numbers_as_their_clock_spelling(tolerant: str,
                                                                       strict: str) -> None:
    assert formulas.parse_minutes(tolerant) == formulas.parse_minutes(strict)


@pytest.mark.parametrize("not_played", ["-", "DNP", "", None, " dnp "])
def test_not_played_is_zero_minutes_for_a_bench_row_and_bad_data_for_an_active_one(
        not_played: object) -> None:
    assert formulas.parse_minutes(not_played, played=False) == 0.0
    with pytest.raises(formulas.BadData):
        formulas.parse_minutes(not_played)


@pytest.mark.parametrize(("minutes", "periods", "exact"), [
    (240.0, 0, True), (265.0, 1, True), (290.0, 2, True), (315.0, 3, True),
    (formulas.parse_minutes("265:32"), 1, False), (250.0, 0, False), (239.5, 0, False)])
def test_overtime_periods_are_floored_and_odd_totals_are_flagged(minutes: float, periods: int,
                                                                 exact: bool) -> None:
    assert formulas.overtime_periods(minutes) == periods
    assert formulas.exact_game_length(minutes) is exact


def test_team_minutes_of_an_odd_length_are_written_with_a_data_quality_flag(
        filled_app: Backfill) -> None:
    edit(filled_app, TEAM_BOXSCORE, lambda game: [r.update(minutes="265:32") for r in game])
    rows, result = run_date(filled_app, OFFENSE)
    assert result.outcome.value == "succeeded"  # type: ignore[attr-defined]
    flagged = [r for r in rows if r["game_id"] == BAD]
    assert {r["overtime_periods"] for r in flagged} == {1}
    assert all("265:32" in r["data_quality_flag"] for r in flagged)
    assert all(r["data_quality_flag"] is None for r in rows if r["game_id"] == GOOD)

