"""The formulas on hand-computed numbers and each built-in processor on tiny hand-built inputs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from backfill.domain.errors import DependencyNotReady, PermanentError
from backfill.local.seed.league import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE, generate_phase2
from backfill.processors import (
    BUILTIN_PROCESSORS,
    PlayerGameSummary,
    TeamDefenseGameSummary,
    TeamOffenseGameSummary,
    UpcomingTeamGameContext,
)
from backfill.processors import formulas as f
from backfill.processors.base import SOURCE_PROCESSED_AT, Processor, Row

DAY = date(2024, 11, 1)
GAME = "20241101_BKN_MIL"


def team_row(team: str, opponent: str, is_home: bool, **stats: Any) -> Row:
    row: Row = {"game_id": GAME, "game_date": DAY, "team_abbr": team, "opponent_team_abbr": opponent,
                "is_home": is_home, "minutes": "240:00", "fg_made": 40, "fg_attempted": 88,
                "three_pt_made": 10, "three_pt_attempted": 30, "ft_made": 20, "ft_attempted": 20,
                "offensive_rebounds": 10, "defensive_rebounds": 30, "total_rebounds": 40,
                "assists": 25, "steals": 8, "blocks": 5, "turnovers": 13, "personal_fouls": 18,
                "points": 110}
    return {**row, **stats}


BOXSCORE = [
    team_row("BKN", "MIL", False),
    team_row("MIL", "BKN", True, fg_made=42, fg_attempted=90, three_pt_made=12, ft_made=15,
             ft_attempted=18, offensive_rebounds=12, turnovers=11, steals=6, blocks=7, points=111),
]


def player_row(lookup: str, team: str, **stats: Any) -> Row:
    row: Row = {"game_id": GAME, "game_date": DAY, "team_abbr": team,
                "opponent_team_abbr": "MIL" if team == "BKN" else "BKN", "player_lookup": lookup,
                "player_name": lookup.title(), "player_status": "active", "dnp_reason": None,
                "minutes": "30:00", "points": 19, "fg_made": 7, "fg_attempted": 15,
                "three_pt_made": 2, "three_pt_attempted": 6, "ft_made": 3, "ft_attempted": 5,
                "offensive_rebounds": 1, "defensive_rebounds": 5, "total_rebounds": 6, "assists": 4,
                "steals": 1, "blocks": 0, "turnovers": 2, "personal_fouls": 3, "plus_minus": -4}
    return {**row, **stats}


def test_formulas_on_hand_computed_numbers() -> None:
    assert f.possessions(88, 20, 13, 10) == 99.8
    assert f.true_shooting_pct(110, 88, 20) == 0.5682  # 110 / (2 * 96.8)
    assert f.effective_fg_pct(40, 10, 88) == 0.5114  # 45 / 88
    assert f.usage_rate(15, 5, 2, 30.0, 240, 88, 20, 13) == 27.9781  # 100*19.2*48 / (30*109.8)
    assert f.rating(110, 99.8) == 110.2204
    assert f.pace(99.8, 100.2, 240) == 100.0
    assert f.pace(99.8, 100.2, 265) == 90.566  # overtime: 53 minutes of play
    assert f.safe_div(1, 0) is None
    assert f.true_shooting_pct(0, 0, 0) is None
    assert f.usage_rate(0, 0, 0, 0.0, 240, 88, 20, 13) is None


def test_minutes_and_overtime_parsing() -> None:
    assert f.parse_minutes("34:30") == 34.5
    assert f.parse_minutes("7:05") == 7.0833
    assert [f.overtime_periods(m) for m in ("240:00", "265:00", "290:00")] == [0, 1, 2]
    for bad in ("ab:cd", "34:60", "", None, 34):
        with pytest.raises(PermanentError, match="unparsable minutes"):
            f.parse_minutes(bad)
    with pytest.raises(PermanentError, match="250:00"):
        f.overtime_periods("250:00")


def test_every_schema_ends_with_source_processed_at_and_rows_fill_the_rest() -> None:
    assert [p.name for p in BUILTIN_PROCESSORS] == [
        "team_offense_game_summary", "team_defense_game_summary", "player_game_summary",
        "upcoming_team_game_context"]
    for processor in BUILTIN_PROCESSORS:
        assert processor.schema[-1].name == SOURCE_PROCESSED_AT
        assert processor.schema[-1].type == "TIMESTAMP"
        assert {"game_id", "game_date"} <= {c.name for c in processor.schema}


def test_team_offense_one_row_per_team() -> None:
    rows = TeamOffenseGameSummary().compute(DAY, BOXSCORE, {})
    assert [(r["team_abbr"], r["opponent_team_abbr"], r["is_home"]) for r in rows] == [
        ("BKN", "MIL", False), ("MIL", "BKN", True)]
    bkn = rows[0]
    assert list(bkn) == [c.name for c in TeamOffenseGameSummary.schema[:-1]]
    assert (bkn["points"], bkn["opponent_points"], bkn["win_flag"]) == (110, 111, False)
    assert (bkn["team_minutes"], bkn["overtime_periods"]) == (240, 0)
    assert bkn["possessions"] == 99.8
    assert bkn["offensive_rating"] == 110.2204
    # MIL: 90 + 0.44*18 + 11 - 12 = 96.92; pace = 48 * (99.8 + 96.92) / (2 * 48)
    assert bkn["pace"] == 98.36
    assert bkn["ts_pct"] == 0.5682
    assert rows[1]["win_flag"] is True


def test_team_offense_reads_overtime_from_minutes() -> None:
    overtime = [{**row, "minutes": "265:00"} for row in BOXSCORE]
    row = TeamOffenseGameSummary().compute(DAY, overtime, {})[0]
    assert (row["team_minutes"], row["overtime_periods"]) == (265, 1)


def test_team_defense_flips_the_opponents_offense() -> None:
    rows = TeamDefenseGameSummary().compute(DAY, BOXSCORE, {})
    bkn = next(r for r in rows if r["team_abbr"] == "BKN")
    assert list(bkn) == [c.name for c in TeamDefenseGameSummary.schema[:-1]]
    assert bkn["points_allowed"] == 111
    assert (bkn["opp_fg_made"], bkn["opp_fg_attempted"]) == (42, 90)
    assert (bkn["opp_three_pt_made"], bkn["opp_ft_made"], bkn["opp_ft_attempted"]) == (12, 15, 18)
    assert bkn["opp_turnovers"] == 11
    assert (bkn["steals"], bkn["blocks"], bkn["defensive_rebounds"]) == (8, 5, 30)
    assert bkn["opp_possessions"] == 96.92
    assert bkn["defensive_rating"] == 114.5274  # 100 * 111 / 96.92
    assert bkn["win_flag"] is False


def test_team_processors_refuse_a_half_loaded_game() -> None:
    for processor in (TeamOffenseGameSummary(), TeamDefenseGameSummary()):
        with pytest.raises(PermanentError, match=GAME):
            processor.compute(DAY, BOXSCORE[:1], {})


def test_team_processors_ignore_rows_of_other_dates() -> None:
    other = [{**row, "game_date": DAY - timedelta(days=1), "game_id": "x"} for row in BOXSCORE]
    assert len(TeamOffenseGameSummary().compute(DAY, BOXSCORE + other, {})) == 2


def upstream() -> dict[str, list[Row]]:
    return {"team_offense_game_summary": TeamOffenseGameSummary().compute(DAY, BOXSCORE, {})}


def test_player_summary_active_players_only_with_usage_from_team_row() -> None:
    gamebook = [player_row("jalenjones", "BKN"), player_row("mikalross", "MIL"),
                player_row("benched", "BKN", player_status="dnp", minutes=None, points=None,
                           dnp_reason="DNP - Coach's Decision")]
    rows = PlayerGameSummary().compute(DAY, gamebook, upstream())
    assert [r["player_lookup"] for r in rows] == ["jalenjones", "mikalross"]
    jalen = rows[0]
    assert list(jalen) == [c.name for c in PlayerGameSummary.schema[:-1]]
    assert (jalen["minutes_played"], jalen["points"], jalen["rebounds"]) == (30.0, 19, 6)
    assert jalen["ts_pct"] == 0.5523  # 19 / (2 * 17.2)
    assert jalen["efg_pct"] == 0.5333  # 8 / 15
    assert jalen["usage_rate"] == 27.9781  # BKN: 240 minutes, 88 FGA, 20 FTA, 13 TOV
    # MIL: 100 * 19.2 * 48 / (30 * (90 + 7.92 + 11))
    assert rows[1]["usage_rate"] == 28.2042


def test_player_summary_waits_for_the_team_row() -> None:
    missing_mil = {"team_offense_game_summary": upstream()["team_offense_game_summary"][:1]}
    with pytest.raises(DependencyNotReady, match=f"{GAME} team MIL"):
        PlayerGameSummary().compute(DAY, [player_row("mikalross", "MIL")], missing_mil)
    with pytest.raises(DependencyNotReady):
        PlayerGameSummary().compute(DAY, [player_row("mikalross", "MIL")], {})


def test_player_summary_bad_minutes_is_permanent_and_says_where() -> None:
    with pytest.raises(PermanentError) as caught:
        PlayerGameSummary().compute(DAY, [player_row("jalenjones", "BKN", minutes="ab:cd")],
                                    upstream())
    message = str(caught.value)
    assert "\n" not in message
    assert all(part in message for part in ("jalenjones", GAME, "'ab:cd'"))


def schedule_row(day: date, away: str, home: str) -> Row:
    return {"game_id": f"{day:%Y%m%d}_{away}_{home}", "game_date": day, "nba_game_id": "0022400001",
            "season_year": 2024, "game_type": "regular_season", "game_status": "Final",
            "home_team_abbr": home, "away_team_abbr": away}


def test_upcoming_context_rest_back_to_back_and_recent_load() -> None:
    schedule = [
        schedule_row(DAY - timedelta(days=12), "BKN", "TOR"),  # in the lookback, not the last 7 days
        schedule_row(DAY - timedelta(days=4), "MIL", "CHI"),
        schedule_row(DAY - timedelta(days=1), "DAL", "MIL"),
        schedule_row(DAY, "BKN", "MIL"),
        schedule_row(DAY, "LAL", "SAS"),
    ]
    rows = UpcomingTeamGameContext().compute(DAY, schedule, {})
    assert list(rows[0]) == [c.name for c in UpcomingTeamGameContext.schema[:-1]]
    context = {r["team_abbr"]: r for r in rows}
    assert set(context) == {"BKN", "MIL", "LAL", "SAS"}
    assert all(r["game_date"] == DAY for r in rows)
    assert (context["MIL"]["days_rest"], context["MIL"]["is_back_to_back"]) == (1, True)
    assert (context["MIL"]["games_in_last_7_days"], context["MIL"]["is_home"]) == (2, True)
    assert (context["BKN"]["days_rest"], context["BKN"]["is_back_to_back"]) == (12, False)
    assert context["BKN"]["games_in_last_7_days"] == 0
    assert context["BKN"]["opponent_team_abbr"] == "MIL"
    assert (context["LAL"]["days_rest"], context["LAL"]["is_back_to_back"]) == (None, False)
    # The next day, MIL's game of DAY is its previous one.
    tomorrow = UpcomingTeamGameContext().compute(
        DAY + timedelta(days=1), [*schedule, schedule_row(DAY + timedelta(days=1), "MIL", "BOS")], {})
    mil = next(r for r in tomorrow if r["team_abbr"] == "MIL")
    assert (mil["days_rest"], mil["is_back_to_back"], mil["games_in_last_7_days"]) == (1, True, 3)


@pytest.mark.parametrize("processor", [p() for p in BUILTIN_PROCESSORS], ids=lambda p: p.name)
def test_processors_are_deterministic_on_a_league_day(processor: Processor) -> None:
    day = date(2025, 1, 15)
    tables = generate_phase2(day - timedelta(days=14), day)
    source = tables[processor.source]
    deps = {"team_offense_game_summary": TeamOffenseGameSummary().compute(
        day, tables[TEAM_BOXSCORE], {})}
    first = processor.compute(day, source, deps)
    assert first == processor.compute(day, list(reversed(source)), deps)
    games = {r["game_id"] for r in tables[SCHEDULE] if r["game_date"] == day}
    assert games and {r["game_id"] for r in first} == games
    if processor.source == GAMEBOOK:
        active = [r for r in source if r["game_date"] == day and r["player_status"] == "active"]
        assert len(first) == len(active)
    else:
        assert len(first) == 2 * len(games)
