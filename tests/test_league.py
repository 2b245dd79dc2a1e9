"""The synthetic league: deterministic, window-independent, internally consistent, realistic ids."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, date

import pytest
from backfill.domain.tables import TableRef
from backfill.local.seed import PHASE2_SCHEMAS, TEAMS, generate_phase2
from backfill.local.seed.league import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE, TYPE_CODES, rosters
from backfill.processors.base import Row
from backfill.processors.formulas import parse_minutes

SEASON_2024 = (date(2024, 10, 1), date(2025, 6, 30))
GAME_ID = re.compile(r"^(\d{8})_([A-Z]{3})_([A-Z]{3})$")
NBA_GAME_ID = re.compile(r"^00[1-5]\d{2}\d{5}$")
STATS = ("fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted", "ft_made",
         "ft_attempted", "offensive_rebounds", "defensive_rebounds", "total_rebounds", "assists",
         "steals", "blocks", "turnovers", "personal_fouls", "points")


@pytest.fixture(scope="module")
def season() -> dict[TableRef, list[Row]]:
    return generate_phase2(*SEASON_2024)


def by_game(rows: list[Row]) -> dict[str, list[Row]]:
    games: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        games[row["game_id"]].append(row)
    return games


def test_same_window_twice_is_identical() -> None:
    window = (date(2024, 12, 20), date(2025, 1, 5))
    assert generate_phase2(*window) == generate_phase2(*window)


def test_a_sub_window_equals_the_bigger_window_filtered(season: dict[TableRef, list[Row]]) -> None:
    start, end = date(2025, 4, 10), date(2025, 4, 22)  # regular season end, play-in, playoffs
    small = generate_phase2(start, end)
    for table, rows in season.items():
        assert small[table] == [r for r in rows if start <= r["game_date"] <= end]
    assert small[SCHEDULE]


def test_rows_match_the_declared_schemas(season: dict[TableRef, list[Row]]) -> None:
    assert set(season) == set(PHASE2_SCHEMAS) == {SCHEDULE, GAMEBOOK, TEAM_BOXSCORE}
    for table, rows in season.items():
        columns = [c.name for c in PHASE2_SCHEMAS[table]]
        assert all(list(row) == columns for row in rows), table
        assert all(type(row["game_date"]) is date for row in rows)
        assert all(row["processed_at"].tzinfo is UTC for row in rows)


def test_season_phases_and_official_ids(season: dict[TableRef, list[Row]]) -> None:
    schedule = season[SCHEDULE]
    types = Counter(r["game_type"] for r in schedule)
    assert set(types) == set(TYPE_CODES)
    assert types["regular_season"] == 1230 and types["all_star"] == 1 and types["play_in"] == 6
    assert 60 <= types["playoffs"] <= 105
    assert len({r["nba_game_id"] for r in schedule}) == len(schedule)
    for row in schedule:
        assert NBA_GAME_ID.match(row["nba_game_id"]), row
        assert row["nba_game_id"][2] == TYPE_CODES[row["game_type"]]
        assert row["nba_game_id"][3:5] == "24" and row["season_year"] == 2024
        assert row["game_status"] == "Final"
        day, away, home = GAME_ID.match(row["game_id"]).groups()  # type: ignore[union-attr]
        assert (day, away, home) == (f"{row['game_date']:%Y%m%d}", row["away_team_abbr"],
                                     row["home_team_abbr"])
    star = next(r for r in schedule if r["game_type"] == "all_star")
    assert (star["away_team_abbr"], star["home_team_abbr"]) == ("WST", "EST")
    assert star["game_date"].month == 2
    first = {t: min(r["game_date"] for r in schedule if r["game_type"] == t) for t in types}
    assert (first["preseason"] < first["regular_season"] < first["all_star"] < first["play_in"]
            < first["playoffs"])
    assert max(r["game_date"] for r in schedule) <= date(2025, 6, 25)


def test_regular_season_is_balanced_and_nobody_plays_twice_a_day(
        season: dict[TableRef, list[Row]]) -> None:
    schedule = season[SCHEDULE]
    played = Counter(t for r in schedule if r["game_type"] == "regular_season"
                     for t in (r["home_team_abbr"], r["away_team_abbr"]))
    assert set(played) == set(TEAMS) and set(played.values()) == {82}
    per_day = Counter(r["game_date"] for r in schedule if r["game_type"] == "regular_season")
    assert 4 <= min(per_day.values()) and max(per_day.values()) <= 15
    teams_on: dict[date, list[str]] = defaultdict(list)
    for row in schedule:
        teams_on[row["game_date"]] += [row["home_team_abbr"], row["away_team_abbr"]]
    assert all(len(teams) == len(set(teams)) for teams in teams_on.values())


def test_no_games_in_the_off_season() -> None:
    off = generate_phase2(date(2024, 6, 25), date(2024, 9, 30))
    assert all(rows == [] for rows in off.values())


def test_team_rows_sum_the_gamebook(season: dict[TableRef, list[Row]]) -> None:
    players = by_game(season[GAMEBOOK])
    teams = by_game(season[TEAM_BOXSCORE])
    assert set(players) == set(teams) == {r["game_id"] for r in season[SCHEDULE]}
    for game_id, pair in teams.items():
        assert len(pair) == 2 and {r["is_home"] for r in pair} == {True, False}
        assert 26 <= len(players[game_id]) <= 35
        assert pair[0]["points"] != pair[1]["points"]  # overtime until someone wins
        for team in pair:
            active = [p for p in players[game_id]
                      if p["team_abbr"] == team["team_abbr"] and p["player_status"] == "active"]
            listed = [p for p in players[game_id] if p["team_abbr"] == team["team_abbr"]]
            assert 13 <= len(listed) <= 17
            assert {k: sum(p[k] for p in active) for k in STATS} == {k: team[k] for k in STATS}
            assert sum(parse_minutes(p["minutes"]) for p in active) == pytest.approx(
                parse_minutes(team["minutes"]), abs=0.01)
            assert team["minutes"] in ("240:00", "265:00", "290:00", "315:00", "340:00")
            opponent_points = sum(t["points"] for t in pair) - team["points"]
            assert sum(p["plus_minus"] for p in active) == 5 * (team["points"] - opponent_points)


def test_player_lines_are_consistent(season: dict[TableRef, list[Row]]) -> None:
    for p in season[GAMEBOOK]:
        if p["player_status"] == "active":
            assert p["dnp_reason"] is None and re.match(r"^\d{1,2}:[0-5]\d$", p["minutes"])
            assert p["points"] == 2 * p["fg_made"] + p["three_pt_made"] + p["ft_made"]
            assert p["three_pt_made"] <= p["fg_made"] <= p["fg_attempted"]
            assert p["three_pt_made"] <= p["three_pt_attempted"] <= p["fg_attempted"]
            assert p["ft_made"] <= p["ft_attempted"]
            assert p["total_rebounds"] == p["offensive_rebounds"] + p["defensive_rebounds"]
        else:
            assert p["player_status"] in ("dnp", "inactive")
            assert p["dnp_reason"] and p["minutes"] is None and p["points"] is None


def test_overtime_is_occasional(season: dict[TableRef, list[Row]]) -> None:
    share = sum(r["minutes"] != "240:00" for r in season[TEAM_BOXSCORE]) / len(season[TEAM_BOXSCORE])
    assert 0.02 < share < 0.12


def test_rosters_are_stable_with_unique_lookups() -> None:
    lookups = [p.lookup for team in rosters().values() for p in team]
    assert len(lookups) == len(set(lookups)) == 17 * 30
    assert all(re.match(r"^[a-z]+$", lookup) for lookup in lookups)
    assert TEAMS == tuple(sorted(rosters()))
