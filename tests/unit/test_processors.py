"""The formulas on the original pipeline's own unit-test values, and each built-in processor on
tiny hand-built inputs through the per-game API (`compute_game(GameInput)`, `Processor.produce`),
including both teams of a real NBA box score and the upcoming context's conventions.

Sources: the original repository najicham/nba-stats-scraper, its tests under
tests/processors/analytics/ (team_offense_game_summary/test_unit.py,
player_game_summary/test_usage_rate_calculation.py, upcoming_team_game_context/test_unit.py),
and its NBA.com sample tests/samples/nbac_team_boxscore (game 0022400561, NYK at PHI on
2025-01-15, one overtime: 265:00), whose team and player figures are copied below.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from backfill.domain.errors import BadData
from backfill.domain.fingerprint import (
    INPUTS,
    PROCESSOR_VERSION,
    READ_FINGERPRINT,
    ROW_HASH,
    Inputs,
)
from backfill.domain.games import game_key
from backfill.domain.schedule import Schedule
from backfill.domain.window import Window
from backfill.local.seed.league import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE, generate_phase2
from backfill.local.seeding import seeded_window
from backfill.processors import formulas as f
from backfill.processors.base import GameInput, Processor, Produced, Row
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.registry import BUILTIN_PROCESSORS, load_registry
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

DAY = date(2025, 1, 15)
GAME = "20250115_NYK_PHI"
KEY = game_key(DAY, GAME)
PROCESSED = datetime(2025, 1, 16, 9, tzinfo=UTC)
OFFENSE = "team_offense_game_summary"

# -- the formulas --------------------------------------------------------------------------------


@pytest.mark.parametrize(("fga", "fta", "tov", "oreb", "expected"), [
    (85, 25, 15, 10, 101.0), (80, 20, 12, 0, 100.8), (75, 40, 10, 8, 94.6),
    (90, 15, 5, 12, 89.6), (10, 5, 2, 50, -35.8)])
def test_possessions_are_the_originals_single_team_estimate(fga: int, fta: int, tov: int,
                                                             oreb: int, expected: float) -> None:
    assert f.single_team_possessions(fga, fta, tov, oreb) == expected


@pytest.mark.parametrize(("points", "fga", "fta", "expected"), [
    (110, 85, 20, 0.5864), (120, 80, 15, 0.6928), (85, 90, 25, 0.4208), (100, 85, 0, 0.5882),
    (15, 0, 15, 1.1364), (100, 50, 0, 1.0), (0, 0, 0, None)])
def test_true_shooting_on_the_originals_vectors(points: int, fga: int, fta: int,
                                                expected: float | None) -> None:
    assert f.true_shooting_pct(points, fga, fta) == expected


def test_effective_fg_rating_and_pace() -> None:
    assert f.effective_fg_pct(10, 3, 20) == 0.575 and f.effective_fg_pct(0, 0, 0) is None
    assert f.rating(110, 100.0) == 110.0 and f.rating(110, 0) is None
    # Basketball-Reference's pace: 48 * (Tm Poss + Opp Poss) / (2 * (Tm MP / 5)).
    assert (f.pace(100, 98, 240), f.pace(110, 108, 265), f.pace(110, 108, 290)) == \
        (99.0, 98.717, 90.2069)
    assert f.pace(100, 98, 0) is None


@pytest.mark.parametrize(("player", "minutes", "team", "expected"), [
    ((20, 8, 3), 36.0, (90, 25, 15), 30.4828),   # the original's 30.5%
    ((18, 5, 2), 30.0, (85, 20, 12), 33.5728),   # 33.6%
    ((15, 10, 2), 12.0, (50, 15, 8), 132.5077),  # 132.5%: kept, not capped at 100
])
def test_usage_rate_on_the_originals_vectors_with_240_team_minutes(
        player: tuple[int, int, int], minutes: float, team: tuple[int, int, int],
        expected: float) -> None:
    assert f.usage_rate(*player, minutes, 240, *team) == expected


def test_usage_rate_scales_by_the_teams_actual_minutes_and_has_no_value_without_plays() -> None:
    # One overtime: TmMP 265, where the original's constant 48 would under-state it by 9.4%.
    assert f.usage_rate(20, 8, 3, 36.0, 265, 90, 25, 15) == 33.658
    assert f.usage_rate(0, 0, 0, 0.0, 240, 90, 25, 15) is None
    assert f.usage_rate(5, 0, 0, 10.0, 240, 0, 0, 0) is None


@pytest.mark.parametrize(("text", "minutes"), [
    ("40:11", 40.1833), ("35:00", 35.0), ("48:00", 48.0), ("36:00", 36.0), ("45:58", 45.9667),
    ("32:14", 32.2333), ("15:30", 15.5), ("0:45", 0.75), ("265:00", 265.0),
    ("36", 36.0), ("36.5", 36.5), ("PT24M30.00S", 24.5), (" 12:30 ", 12.5)])
def test_minutes_in_every_spelling_the_sources_use(text: str, minutes: float) -> None:
    assert f.parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["-", "DNP", "", None, " dnp "])
def test_not_played_is_zero_minutes_off_the_floor_and_bad_data_on_it(text: str | None) -> None:
    assert f.parse_minutes(text, played=False) == 0.0
    with pytest.raises(BadData, match="expected a time played"):
        f.parse_minutes(text)


@pytest.mark.parametrize("text", ["3O:12", "34:60", "ab:cd", "invalid", 34])
def test_unreadable_minutes_are_bad_data_naming_the_value(text: object) -> None:
    with pytest.raises(BadData, match="unreadable minutes"):
        f.parse_minutes(text)


@pytest.mark.parametrize(("minutes", "periods", "exact"), [
    ("240:00", 0, True), ("265:00", 1, True), ("290:00", 2, True), ("315:00", 3, True),
    ("250:00", 0, False), ("265:32", 1, False), ("239:00", 0, False)])
def test_overtime_periods_from_team_minutes(minutes: str, periods: int, exact: bool) -> None:
    total = f.parse_minutes(minutes)
    assert (f.overtime_periods(total), f.exact_game_length(total)) == (periods, exact)


# -- a real box score: NYK at PHI, 2025-01-15, 265:00 ------------------------------------------

def team_row(team: str, is_home: bool, game_id: str = GAME, day: date = DAY,
             **stats: Any) -> Row:
    figures = {  # the sample's TeamStats: MIN FGM FGA FG3M FG3A FTM FTA OREB DREB AST STL BLK TO PTS
        "NYK": ("265:00", 46, 86, 16, 37, 17, 24, 15, 30, 28, 10, 3, 13, 125),
        "PHI": ("265:00", 46, 92, 13, 35, 14, 14, 11, 24, 27, 8, 2, 12, 119),
    }.get(team, ("240:00", 40, 88, 10, 30, 20, 20, 10, 30, 25, 8, 5, 13, 110))
    names = ("minutes", "fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted",
             "ft_made", "ft_attempted", "offensive_rebounds", "defensive_rebounds", "assists",
             "steals", "blocks", "turnovers", "points")
    return {"game_id": game_id, "game_date": day, "team_abbr": team, "is_home": is_home,
            **dict(zip(names, figures, strict=True)), "processed_at": PROCESSED, **stats}


BOX = [team_row("NYK", False), team_row("PHI", True)]


def game(rows: list[Row], upstream: dict[str, list[Row]] | None = None,
         history: Iterable[Row] = ()) -> GameInput:
    return GameInput(game_key(DAY, rows[0]["game_id"]), DAY, rows, list(history),
                     upstream or {})


def by_team(rows: list[Row]) -> dict[str, Row]:
    return {r["team_abbr"]: r for r in rows}


def test_team_offense_of_both_teams_of_the_real_overtime_game() -> None:
    rows = TeamOffenseGameSummary().compute_game(game(BOX))
    assert [r["team_abbr"] for r in rows] == ["NYK", "PHI"]
    assert all(list(r) == [c.name for c in TeamOffenseGameSummary.schema] for r in rows)
    nyk, phi = by_team(rows)["NYK"], by_team(rows)["PHI"]
    assert (nyk["possessions"], phi["possessions"]) == (94.56, 99.16)
    assert (nyk["offensive_rating"], phi["offensive_rating"]) == (132.1912, 120.0081)
    assert nyk["pace"] == phi["pace"] == 87.7223  # both teams' possessions over 53 minutes
    assert (nyk["ts_pct"], phi["ts_pct"]) == (0.6473, 0.6062)
    assert (nyk["team_minutes"], nyk["overtime_periods"], nyk["data_quality_flag"]) == \
        (265, 1, None)
    assert (nyk["points"], nyk["opponent_points"], nyk["win_flag"], phi["win_flag"]) == \
        (125, 119, True, False)
    assert (nyk["game_id"], nyk["is_home"], nyk["opponent_team_abbr"]) == (GAME, False, "PHI")


def test_team_defense_is_the_opponents_offense_seen_as_allowed() -> None:
    nyk = by_team(TeamDefenseGameSummary().compute_game(game(BOX)))["NYK"]
    assert list(nyk) == [c.name for c in TeamDefenseGameSummary.schema]
    assert (nyk["points_allowed"], nyk["opp_fg_made"], nyk["opp_fg_attempted"]) == (119, 46, 92)
    assert (nyk["opp_three_pt_made"], nyk["opp_three_pt_attempted"]) == (13, 35)
    assert (nyk["opp_ft_made"], nyk["opp_ft_attempted"], nyk["opp_turnovers"]) == (14, 14, 12)
    assert (nyk["defensive_rebounds"], nyk["steals"], nyk["blocks"]) == (30, 10, 3)
    assert (nyk["opp_possessions"], nyk["defensive_rating"], nyk["win_flag"]) == \
        (99.16, 120.0081, True)


def test_an_odd_team_length_is_written_with_a_data_quality_flag() -> None:
    odd = [team_row("NYK", False, minutes="265:32"), team_row("PHI", True, minutes="265:32")]
    nyk = by_team(TeamOffenseGameSummary().compute_game(game(odd)))["NYK"]
    assert (nyk["overtime_periods"], nyk["team_minutes"]) == (1, 266)
    assert "'265:32' are not 240:00 plus 25:00 per overtime" in nyk["data_quality_flag"]


def produce(processor: Processor, rows: list[Row], upstream: dict[str, list[Row]] | None = None,
            schedule: Schedule | None = None, day: date = DAY) -> Produced:
    return processor.produce(day, rows, upstream or {}, schedule or Schedule())


def test_a_team_game_is_one_game_whatever_its_ids_and_bad_games_are_refused_alone() -> None:
    other = "20250115_GSW_LAC"
    mixed = [team_row("NYK", False, game_id="20250115_PHI_NYK"), team_row("PHI", True)]
    half = [team_row("GSW", False, game_id=other)]  # the home row never loaded
    yesterday = [team_row("BOS", False, "20250114_BOS_MIA", DAY - timedelta(days=1)),
                 team_row("MIA", True, "20250114_BOS_MIA", DAY - timedelta(days=1))]
    produced = produce(TeamOffenseGameSummary(), mixed + half + yesterday)
    assert {r["game_id"] for r in produced.rows} == {GAME}  # rebuilt from is_home, once
    assert len(produced.rows) == 2 and list(produced.written.values()) == [GAME]
    ((refused_id, why),) = produced.refused.values()
    assert (refused_id, why) == (other, "nba_raw.nbac_team_boxscore has no rows of team LAC")
    # Two rows of one game that are not one away and one home row: refused when computed.
    ((_, why),) = produce(TeamOffenseGameSummary(), [team_row("NYK", False),
                                                     team_row("PHI", False)]).refused.values()
    assert "expected one away and one home team" in why
    null = [team_row("NYK", False, turnovers=None), team_row("PHI", True)]
    ((_, why),) = produce(TeamDefenseGameSummary(), null).refused.values()
    assert why == "team NYK: turnovers is NULL, expected a whole number"


def test_every_row_written_records_what_it_was_computed_from_and_its_version() -> None:
    read = [{**row, READ_FINGERPRINT: "f0"} for row in BOX]  # as the warehouse hands them
    produced = produce(TeamOffenseGameSummary(), read)
    assert {INPUTS, PROCESSOR_VERSION} <= set(produced.rows[0])  # the row hash: by the write
    assert {r[INPUTS] for r in produced.rows} == {
        Inputs("1", {"nba_raw.nbac_team_boxscore": "f0"}).to_text()}  # type: ignore[dict-item]
    assert {r[PROCESSOR_VERSION] for r in produced.rows} == {"1"}
    assert produced.inputs[KEY] == Inputs.from_text(produced.rows[0][INPUTS])
    again = produce(TeamOffenseGameSummary(), list(reversed(read)))
    assert again.rows == produced.rows


# -- player game summary -------------------------------------------------------------------

def player_row(lookup: str, team: str, minutes: str | None, fgm: int | None, fga: int | None,
               tpm: int | None, tpa: int | None, ftm: int | None, fta: int | None,
               reb: int | None, ast: int | None, tov: int | None, pts: int | None,
               status: str = "active", game_id: str = GAME, **more: Any) -> Row:
    return {"game_id": game_id, "game_date": DAY, "team_abbr": team, "player_lookup": lookup,
            "player_name": lookup.title(), "player_status": status, "minutes": minutes,
            "points": pts, "field_goals_made": fgm, "field_goals_attempted": fga,
            "three_pointers_made": tpm, "three_pointers_attempted": tpa,
            "free_throws_made": ftm, "free_throws_attempted": fta, "total_rebounds": reb,
            "assists": ast, "turnovers": tov, "plus_minus": 7 if status == "active" else None,
            "processed_at": PROCESSED, **more}


# The sample's PlayerStats lines of Jalen Brunson, a bench player who did not play, and one
# whose minutes did not parse.
BRUNSON = player_row("jalenbrunson", "NYK", "45:28", 14, 22, 3, 6, 7, 9, 5, 4, 5, 38)
BENCH = player_row("arielhukporti", "NYK", None, *[None] * 10, status="dnp")
INACTIVE = player_row("andredrummond", "PHI", "-", *[None] * 10, status="inactive")
# Every team of a game has active players (a gamebook without them is refused: domain/sanity.py).
EMBIID = player_row("joelembiid", "PHI", "38:00", 10, 20, 1, 3, 8, 9, 12, 3, 4, 29)


def offense() -> dict[str, list[Row]]:
    return {OFFENSE: TeamOffenseGameSummary().compute_game(game(BOX))}


def test_player_summary_active_players_only_with_usage_from_their_teams_overtime_row() -> None:
    rows = PlayerGameSummary().compute_game(game([BRUNSON, BENCH, INACTIVE], offense()))
    (brunson,) = rows
    assert set(brunson) == {c.name for c in PlayerGameSummary.schema}
    assert (brunson["minutes_played"], brunson["points"], brunson["rebounds"],
            brunson["assists"], brunson["plus_minus"]) == (45.4667, 38, 5, 4, 7)
    assert (brunson["ts_pct"], brunson["efg_pct"]) == (0.7319, 0.7045)
    # NYK's 265 minutes, 86 FGA, 24 FTA, 13 TOV: 32.94, as the review recomputed.
    assert brunson["usage_rate"] == 32.9406
    assert (brunson["game_id"], brunson["opponent_team_abbr"]) == (GAME, "PHI")


def test_player_usage_through_the_processor_on_the_originals_first_vector() -> None:
    box = [team_row("LAL", False, "20250115_LAL_GSW", fg_attempted=90, ft_attempted=25,
                    turnovers=15),
           team_row("GSW", True, "20250115_LAL_GSW")]
    line = player_row("testplayer", "LAL", "36:00", 8, 20, 1, 5, 6, 8, 4, 3, 3, 23,
                      game_id="20250115_LAL_GSW")
    teams = {OFFENSE: TeamOffenseGameSummary().compute_game(game(box))}
    (row,) = PlayerGameSummary().compute_game(game([line], teams))
    assert row["usage_rate"] == 30.4828


def test_players_join_their_team_row_by_date_and_team_whatever_the_id_spelling() -> None:
    flipped_lines = [{**player, "game_id": "20250115_PHI_NYK"} for player in (BRUNSON, EMBIID)]
    produced = produce(PlayerGameSummary(), flipped_lines, offense())
    assert [(r["game_id"], r["usage_rate"]) for r in produced.rows
            if r["player_lookup"] == "jalenbrunson"] == [(GAME, 32.9406)]


def test_a_bad_player_row_refuses_its_game_naming_the_player_and_the_value() -> None:
    other = "20250115_GSW_LAC"
    upstream = {OFFENSE: offense()[OFFENSE] + TeamOffenseGameSummary().compute_game(game(
        [team_row("GSW", False, other), team_row("LAC", True, other)]))}
    good = [player_row("stephcurry", "GSW", "34:00", 9, 20, 5, 11, 3, 3, 4, 6, 2, 26,
                       game_id=other),
            player_row("jamesharden", "LAC", "36:00", 7, 17, 2, 8, 6, 7, 6, 9, 4, 22,
                       game_id=other)]
    cases = {"3O:12": {**BRUNSON, "minutes": "3O:12"}, "-": {**BRUNSON, "minutes": "-"},
             "NULL points": {**BRUNSON, "points": None}}
    for name, bad in cases.items():
        produced = produce(PlayerGameSummary(), [bad, BENCH, EMBIID, *good], upstream)
        assert sorted(r["player_lookup"] for r in produced.rows) == ["jamesharden", "stephcurry"], name
        ((game_id, why),) = produced.refused.values()
        assert game_id == GAME and "jalenbrunson" in why, (name, why)
    # A row without its team leaves that team without players: the game is refused for it.
    produced = produce(PlayerGameSummary(), [{**BRUNSON, "team_abbr": None}, EMBIID], upstream)
    assert produced.refused == {KEY: (GAME, f"{GAMEBOOK} has no player_status active rows of "
                                            "team NYK")}
    ((_, why),) = produce(PlayerGameSummary(), [cases["3O:12"], EMBIID],
                          upstream).refused.values()
    assert why == "player jalenbrunson: unreadable minutes '3O:12', expected MM:SS"


def test_a_player_game_without_its_team_rows_waits_while_the_others_are_written() -> None:
    other = "20250115_GSW_LAC"
    good = [player_row(lookup, team, "34:00", 9, 20, 5, 11, 3, 3, 4, 6, 2, 26, game_id=other)
            for lookup, team in (("stephcurry", "GSW"), ("jamesharden", "LAC"))]
    teams = {OFFENSE: TeamOffenseGameSummary().compute_game(game(
        [team_row("GSW", False, other), team_row("LAC", True, other)]))}
    produced = produce(PlayerGameSummary(), [BRUNSON, EMBIID, *good], teams)
    assert {r["game_id"] for r in produced.rows} == {other}
    assert produced.waiting == {KEY: (GAME, f"{OFFENSE} has no rows of this game")}
    held = PlayerGameSummary().produce(DAY, [BRUNSON, EMBIID], {OFFENSE: []}, Schedule(),
                                       {KEY: "team PHI: points is NULL"})
    assert held.waiting == {KEY: (GAME, "team PHI: points is NULL")}


class ComputesNothing(TeamOffenseGameSummary):
    """A processor whose computation of one game gives no rows."""

    def compute_game(self, game: GameInput) -> list[Row]:
        return [] if game.key == KEY else super().compute_game(game)


def test_a_game_computed_to_no_rows_is_refused_so_its_old_rows_are_kept() -> None:
    other = "20250115_GSW_LAC"
    produced = produce(ComputesNothing(), [*BOX, team_row("GSW", False, other),
                                           team_row("LAC", True, other)])
    assert {r["game_id"] for r in produced.rows} == {other}
    assert produced.refused == {KEY: (GAME, "computed no rows from its 2 rows of "
                                            "nba_raw.nbac_team_boxscore")}


def test_a_box_score_under_its_official_id_is_computed_as_its_scheduled_game() -> None:
    v1 = [{**row, "game_id": "0022400100"} for row in BOX]
    schedule = Schedule.from_rows([{"game_id": "0022400100", "game_date": DAY, "game_status": 3,
                                    "away_team_tricode": "NYK", "home_team_tricode": "PHI",
                                    "processed_at": PROCESSED}])
    produced = produce(TeamOffenseGameSummary(), v1, schedule=schedule)
    assert {r["game_id"] for r in produced.rows} == {GAME}
    assert produced.written == {KEY: GAME}


# -- upcoming team game context -----------------------------------------------------------

def schedule_row(day: date, away: str, home: str, official: str = "0022400100",
                 status: int = 3) -> Row:
    return {"game_id": official, "game_date": day, "game_status": status,
            "home_team_tricode": home, "away_team_tricode": away,
            "processed_at": datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)}


def context(rows: list[Row], day: date) -> dict[str, Row]:
    produced = UpcomingTeamGameContext().produce(day, rows, {}, Schedule.from_rows(rows))
    return by_team(produced.rows)


# The original's fatigue fixture: LAL hosts MIA on 1/12, plays at BOS on 1/14, hosts GSW on
# 1/15, and hosts BOS on 1/16, the day after.
LAL = [schedule_row(date(2025, 1, 12), "MIA", "LAL", "0022400102"),
       schedule_row(date(2025, 1, 14), "LAL", "BOS", "0022400101"),
       schedule_row(date(2025, 1, 15), "GSW", "LAL", "0022400100"),
       schedule_row(date(2025, 1, 16), "BOS", "LAL", "0022400103")]


def test_rest_is_days_between_minus_one_and_a_back_to_back_has_none() -> None:
    b2b = context(LAL, date(2025, 1, 16))["LAL"]
    assert (b2b["days_rest"], b2b["is_back_to_back"], b2b["days_since_last_game"]) == \
        (0, True, 1)
    normal = context(LAL, date(2025, 1, 14))["LAL"]
    assert (normal["days_rest"], normal["is_back_to_back"], normal["days_since_last_game"]) == \
        (1, False, 2)
    first = context(LAL, date(2025, 1, 12))["MIA"]
    assert (first["days_rest"], first["is_back_to_back"], first["games_in_last_7_days"]) == \
        (None, False, 0)
    row = context(LAL, date(2025, 1, 15))
    assert row["LAL"]["games_in_last_7_days"] == 2 and row["GSW"]["days_rest"] is None
    assert (row["LAL"]["is_home"], row["LAL"]["opponent_team_abbr"], row["GSW"]["is_home"]) == \
        (True, "GSW", False)
    assert (row["LAL"]["game_id"], row["LAL"]["nba_game_id"], row["LAL"]["game_type"]) == \
        ("20250115_GSW_LAL", "0022400100", "regular_season")
    # Every column but the row hash, which the warehouse writes.
    assert list(row["LAL"]) == [c.name for c in UpcomingTeamGameContext().table_schema()
                                if c.name != ROW_HASH]


def test_the_last_seven_days_are_those_after_the_date_minus_seven() -> None:
    day = date(2025, 1, 15)
    rows = [schedule_row(day - timedelta(days=7), "LAL", "DEN", "0022400090"),
            schedule_row(day - timedelta(days=6), "LAL", "UTA", "0022400091"), LAL[2]]
    lal = context(rows, day)["LAL"]
    assert (lal["games_in_last_7_days"], lal["days_since_last_game"]) == (1, 6)


def test_only_final_competitive_games_count_never_preseason_all_star_or_postponed() -> None:
    day = date(2025, 1, 15)
    earlier = [schedule_row(day - timedelta(days=1), "LAL", "PHX", "0012400001"),  # preseason
               schedule_row(day - timedelta(days=2), "LAL", "WST", "0032400001"),  # All-Star
               schedule_row(day - timedelta(days=3), "LAL", "SAC", "0022400050",
                            status=1)]  # postponed: never played on that date
    lal = context([*earlier, LAL[2]], day)["LAL"]
    assert (lal["days_rest"], lal["games_in_last_7_days"]) == (None, 0)
    counted = [schedule_row(day - timedelta(days=1), "LAL", "PHX", "0042400131"),  # playoffs
               schedule_row(day - timedelta(days=3), "LAL", "SAC", "0052400101"),  # play-in
               schedule_row(day - timedelta(days=5), "LAL", "OKC", "0062400001")]  # Cup final
    lal = context([*counted, LAL[2]], day)["LAL"]
    assert (lal["days_rest"], lal["is_back_to_back"], lal["games_in_last_7_days"]) == \
        (0, True, 3)


def test_the_first_dates_of_a_seed_read_the_schedules_lookback() -> None:
    """Seeding widens its window by the context's 14 days, so the first date is computed as a
    run over the whole season computes it (not as a team's first game)."""
    window = Window(date(2024, 11, 1), date(2024, 11, 3))
    widened = seeded_window(load_registry(None), window)
    assert widened.start == window.start - timedelta(days=14)
    season = generate_phase2(date(2024, 10, 1), window.end)[SCHEDULE]
    seeded = generate_phase2(widened.start, widened.end)[SCHEDULE]
    alone = generate_phase2(window.start, window.end)[SCHEDULE]
    whole, first, naive = (context(rows, window.start) for rows in (season, seeded, alone))
    assert first == whole and first
    assert any(r["days_rest"] is not None for r in first.values())
    assert all(r["days_rest"] is None for r in naive.values())


# -- every built-in on a league day --------------------------------------------------------

@pytest.mark.parametrize("processor", [cls() for cls in BUILTIN_PROCESSORS],
                         ids=lambda p: p.name)
def test_processors_are_deterministic_and_complete_on_a_league_day(processor: Processor) -> None:
    day = date(2025, 1, 15)
    tables = generate_phase2(day - timedelta(days=14), day)
    types = Schedule.from_rows(tables[SCHEDULE])
    source = tables[SCHEDULE] if processor.source_is_schedule else tables[processor.source]
    teams = {OFFENSE: TeamOffenseGameSummary().produce(day, tables[TEAM_BOXSCORE], {},
                                                       types).rows}
    upstream = {name: teams[name] for name in processor.depends_on}
    first = processor.produce(day, source, upstream, types)
    assert not first.refused and not first.waiting
    assert first.rows == processor.produce(day, list(reversed(source)), upstream, types).rows
    games = {g.date_based_id for g in Schedule.from_rows(tables[SCHEDULE]).between(day, day)
             if g.game_type in processor.game_types}
    assert games and {r["game_id"] for r in first.rows} == games
    if processor.source == GAMEBOOK:
        active = [r for r in source if r["game_date"] == day and r["player_status"] == "active"]
        assert len(first.rows) == len(active)
    else:
        assert len(first.rows) == 2 * len(games)
    assert all(set(r) | {ROW_HASH} == {c.name for c in processor.table_schema()}
               for r in first.rows)
