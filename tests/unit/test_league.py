"""The synthetic league: the original pipeline's Phase 2 shapes, deterministic, window-independent,
internally consistent, and realistic where a domain review found it was not."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from backfill.domain.tables import TableRef
from backfill.local.seed.league import (
    GAMEBOOK,
    PHASE2_SCHEMAS,
    SCHEDULE,
    TEAM_BOXSCORE,
    TEAMS,
    TYPE_CODES,
    Game,
    box_score,
    generate_phase2,
    rosters,
    season,
)
from backfill.local.seed.teams import CONFERENCE
from backfill.ports import Row
from backfill.processors import nba_raw

YEAR = 2024
SEASON = (date(YEAR, 10, 1), date(YEAR + 1, 6, 30))
OFFICIAL = re.compile(r"^00([1-6])(\d\d)(\d{5})$")
DATE_BASED = re.compile(r"^(\d{8})_([A-Z]{3})_([A-Z]{3})$")
MINUTES = re.compile(r"^(\d+):([0-5]\d)$")
TYPE_OF = {code: name for name, code in TYPE_CODES.items()}


def by_type(**columns: str) -> dict[str, str]:
    """Column -> type, from the names of each type's columns."""
    return {name: kind for kind, names in columns.items() for name in names.split()}


# Column -> type of the three tables in the public DDL (najicham/nba-stats-scraper,
# schemas/bigquery/raw/*.sql), for every column the league writes.
DDL: dict[TableRef, dict[str, str]] = {
    SCHEDULE: by_type(
        STRING="game_id game_code season season_nba_format game_status_text home_team_tricode "
               "home_team_name away_team_tricode away_team_name playoff_round day_of_week "
               "winning_team_tricode data_source",
        INT64="season_year game_status home_team_score away_team_score",
        DATE="game_date",
        BOOL="is_regular_season is_playoffs is_all_star is_emirates_cup is_christmas is_weekend "
             "neutral_site_flag",
        TIMESTAMP="processed_at"),
    TEAM_BOXSCORE: by_type(
        STRING="game_id nba_game_id team_abbr team_name team_city minutes",
        DATE="game_date",
        INT64="season_year fg_made fg_attempted three_pt_made three_pt_attempted ft_made "
              "ft_attempted offensive_rebounds defensive_rebounds total_rebounds assists steals "
              "blocks turnovers personal_fouls points plus_minus",
        BOOL="is_home",
        FLOAT64="fg_percentage three_pt_percentage ft_percentage",
        TIMESTAMP="processed_at"),
    GAMEBOOK: by_type(
        STRING="game_id game_code home_team_abbr away_team_abbr player_name player_name_original "
               "player_lookup team_abbr player_status dnp_reason minutes",
        DATE="game_date",
        INT64="season_year points field_goals_made field_goals_attempted three_pointers_made "
              "three_pointers_attempted free_throws_made free_throws_attempted offensive_rebounds "
              "defensive_rebounds total_rebounds assists steals blocks turnovers personal_fouls "
              "plus_minus",
        FLOAT64="minutes_decimal",
        TIMESTAMP="processed_at"),
}
NEEDED = {SCHEDULE: nba_raw.SCHEDULE_COLUMNS, TEAM_BOXSCORE: nba_raw.TEAM_BOXSCORE_COLUMNS,
          GAMEBOOK: nba_raw.GAMEBOOK_COLUMNS}
TEAM_STATS = ("fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted", "ft_made",
              "ft_attempted", "offensive_rebounds", "defensive_rebounds", "total_rebounds",
              "assists", "steals", "blocks", "turnovers", "personal_fouls", "points")
PLAYER_STATS = ("field_goals_made", "field_goals_attempted", "three_pointers_made",
                "three_pointers_attempted", "free_throws_made", "free_throws_attempted",
                "offensive_rebounds", "defensive_rebounds", "total_rebounds", "assists",
                "steals", "blocks", "turnovers", "personal_fouls", "points")


@pytest.fixture(scope="module")
def tables() -> dict[TableRef, list[Row]]:
    return generate_phase2(*SEASON)


@pytest.fixture(scope="module")
def games() -> tuple[Game, ...]:
    return season(YEAR)


def seconds(text: str) -> int:
    match = MINUTES.match(text)
    assert match, text
    return int(match[1]) * 60 + int(match[2])


def by_game(rows: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["game_id"]].append(row)
    return grouped


def regular(games: tuple[Game, ...]) -> list[Game]:
    return [g for g in games if g.game_type == "regular_season"]


def possessions(row: Row) -> float:
    return (row["fg_attempted"] + 0.44 * row["ft_attempted"] - row["offensive_rebounds"]
            + row["turnovers"])


# -- determinism and windows ------------------------------------------------------------------

def test_the_same_window_is_identical_even_rebuilt_from_scratch() -> None:
    from backfill.local.seed import box, play, schedule
    window = (date(2024, 12, 20), date(2025, 1, 5))
    first = generate_phase2(*window)
    schedule.season.cache_clear()
    play.team_seasons.cache_clear()
    box._absences.cache_clear()
    assert generate_phase2(*window) == first
    assert first[SCHEDULE] and first[GAMEBOOK] and first[TEAM_BOXSCORE]


@pytest.mark.parametrize("window", [
    (date(2024, 10, 15), date(2024, 10, 25)),  # preseason into opening week
    (date(2024, 12, 16), date(2024, 12, 18)),  # the NBA Cup final
    (date(2025, 4, 10), date(2025, 4, 22)),    # regular season end, play-in, playoffs
    (date(2025, 6, 1), date(2025, 9, 30)),     # the Finals into the off-season
])
def test_a_sub_window_equals_the_season_filtered(tables: dict[TableRef, list[Row]],
                                                window: tuple[date, date]) -> None:
    start, end = window
    small = generate_phase2(start, end)
    for table, rows in tables.items():
        assert small[table] == [r for r in rows if start <= r["game_date"] <= end], table
    assert small[SCHEDULE] and small[GAMEBOOK]


def test_the_postponed_games_dates_each_stand_alone(tables: dict[TableRef, list[Row]],
                                                    games: tuple[Game, ...]) -> None:
    moved = next(g for g in games if g.postponed_from)
    for day in (moved.postponed_from, moved.day):
        assert day is not None
        small = generate_phase2(day, day)
        for table, rows in tables.items():
            assert small[table] == [r for r in rows if r["game_date"] == day]


def test_no_games_in_the_off_season() -> None:
    assert all(rows == [] for rows in generate_phase2(date(2024, 6, 25),
                                                      date(2024, 9, 30)).values())


def test_a_box_score_is_the_games_alone(tables: dict[TableRef, list[Row]],
                                        games: tuple[Game, ...]) -> None:
    game = regular(games)[500]
    players, teams = box_score(game)
    assert players == [r for r in tables[GAMEBOOK] if r["game_id"] == game.game_id]
    assert teams == [r for r in tables[TEAM_BOXSCORE] if r["game_id"] == game.game_id]


# -- the contract -----------------------------------------------------------------------------

def test_schemas_are_the_ddls_and_cover_what_backfill_needs() -> None:
    assert set(PHASE2_SCHEMAS) == {nba_raw.SCHEDULE, nba_raw.TEAM_BOXSCORE, nba_raw.GAMEBOOK}
    for table, columns in PHASE2_SCHEMAS.items():
        written = {c.name: c.type for c in columns}
        assert len(written) == len(columns)
        assert written == {name: DDL[table][name] for name in written}, table
        assert {c.name: c.type for c in NEEDED[table]}.items() <= written.items(), table


# Exact types: a bool is not an INT64, a datetime is not a DATE.
PYTHON_TYPES: dict[str, type] = {"STRING": str, "INT64": int, "FLOAT64": float, "BOOL": bool,
                                 "DATE": date, "TIMESTAMP": datetime}


def test_rows_have_exactly_the_schemas_columns_with_their_types(
        tables: dict[TableRef, list[Row]]) -> None:
    # Whole columns at a time: a season is tens of thousands of rows.
    for table, rows in tables.items():
        columns = PHASE2_SCHEMAS[table]
        assert rows
        assert {tuple(row) for row in rows} == {tuple(c.name for c in columns)}, table
        for column in columns:
            kinds = {type(row[column.name]) for row in rows} - {type(None)}
            assert kinds <= {PYTHON_TYPES[column.type]}, (table, column, kinds)
        assert {row["processed_at"].tzinfo for row in rows} == {UTC}, table
        assert all(row["game_date"] is not None and row["game_id"] for row in rows), table


def test_official_ids_and_game_codes_decode_to_type_season_date_and_teams(
        tables: dict[TableRef, list[Row]]) -> None:
    for row in tables[SCHEDULE]:
        match = OFFICIAL.match(row["game_id"])
        assert match, row["game_id"]
        kind = TYPE_OF[match[1]]
        assert match[2] == f"{YEAR % 100:02d}" and row["season_year"] == YEAR
        assert (row["season"], row["season_nba_format"]) == (str(YEAR), f"{YEAR}-{YEAR % 100 + 1}")
        assert row["game_code"] == (f"{row['game_date']:%Y%m%d}/{row['away_team_tricode']}"
                                    f"{row['home_team_tricode']}")
        assert row["is_regular_season"] == (kind == "regular_season")
        assert row["is_playoffs"] == (kind in ("playoffs", "play_in"))
        assert row["is_all_star"] == (kind == "all_star")
        assert row["is_emirates_cup"] == (kind == "nba_cup_final")
        assert row["neutral_site_flag"] == (kind in ("all_star", "nba_cup_final"))
        assert row["day_of_week"] == f"{row['game_date']:%a}".lower()
        assert row["is_weekend"] == (row["game_date"].weekday() >= 4)
        if kind in ("playoffs", "play_in"):
            assert row["playoff_round"] in ("play_in", "first_round", "conf_semifinals",
                                            "conf_finals", "nba_finals")
        else:
            assert row["playoff_round"] is None
    official = {(r["game_date"], r["away_team_tricode"], r["home_team_tricode"]): r["game_id"]
                for r in tables[SCHEDULE]}
    for table in (TEAM_BOXSCORE, GAMEBOOK):
        for row in tables[table]:
            day, away, home = DATE_BASED.match(row["game_id"]).groups()  # type: ignore[union-attr]
            assert day == f"{row['game_date']:%Y%m%d}"
            assert (row["game_date"], away, home) in official
            if table == TEAM_BOXSCORE:
                assert row["nba_game_id"] == official[(row["game_date"], away, home)]
                assert row["is_home"] == (row["team_abbr"] == home)
            else:
                assert (row["away_team_abbr"], row["home_team_abbr"]) == (away, home)
                assert row["game_code"] == f"{day}/{away}{home}"


def test_official_numbers_follow_the_nba(tables: dict[TableRef, list[Row]],
                                         games: tuple[Game, ...]) -> None:
    numbers: dict[str, list[int]] = defaultdict(list)
    for g in games:
        if g.game_type not in ("playoffs", "play_in"):
            numbers[g.game_type].append(int(g.nba_game_id[5:]))
    for kind, seen in numbers.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), kind
    # Regular-season numbers run in the original schedule's date order.
    ordered = sorted(regular(games), key=lambda g: g.nba_game_id)
    originals = [g.postponed_from or g.day for g in ordered]
    assert originals == sorted(originals)
    assert {g.nba_game_id for g in games if g.game_type == "play_in"} == {
        "0052400101", "0052400111", "0052400121", "0052400131", "0052400201", "0052400211"}
    series: dict[str, list[Game]] = defaultdict(list)
    for g in games:
        if g.game_type == "playoffs":
            rnd, index, number = (int(c) for c in g.nba_game_id[7:])
            assert g.nba_game_id[:7] == "0042400" and 1 <= rnd <= 4 and 1 <= number <= 7
            assert index < 8 >> (rnd - 1)
            series[g.nba_game_id[:9]].append(g)
    assert len(series) == 15
    for played in series.values():
        assert [int(g.nba_game_id[9]) for g in played] == list(range(1, len(played) + 1))
        assert 4 <= len(played) <= 7
        assert max(Counter(g.winner for g in played).values()) == 4
        assert len({frozenset((g.away, g.home)) for g in played}) == 1


def test_a_season_has_every_phase_in_order(games: tuple[Game, ...]) -> None:
    kinds = Counter(g.game_type for g in games)
    assert set(kinds) == set(TYPE_CODES) and "nba_cup_final" in TYPE_CODES
    assert (kinds["regular_season"], kinds["all_star"], kinds["play_in"],
            kinds["nba_cup_final"]) == (1230, 1, 6, 1)
    assert 60 <= kinds["playoffs"] <= 105 and 60 <= kinds["preseason"] <= 75
    first = {k: min(g.day for g in games if g.game_type == k) for k in kinds}
    last = {k: max(g.day for g in games if g.game_type == k) for k in kinds}
    assert date(YEAR, 10, 1) <= first["preseason"] and last["preseason"] < first["regular_season"]
    assert last["preseason"].month == 10
    assert date(YEAR, 10, 20) <= first["regular_season"] <= date(YEAR, 10, 27)
    assert first["nba_cup_final"].month == 12 and first["all_star"].month == 2
    assert last["regular_season"] < first["play_in"] <= last["play_in"] < first["playoffs"]
    assert last["regular_season"].month == 4 and last["playoffs"] <= date(YEAR + 1, 6, 24)
    star = next(g for g in games if g.game_type == "all_star")
    assert (star.away, star.home) == ("WST", "EST")


# -- the append-only schedule -----------------------------------------------------------------

def test_the_schedule_is_append_only(tables: dict[TableRef, list[Row]]) -> None:
    played = {(r["nba_game_id"], r["game_date"]) for r in tables[TEAM_BOXSCORE]}
    rows: dict[tuple[str, date], list[Row]] = defaultdict(list)
    for row in tables[SCHEDULE]:
        rows[(row["game_id"], row["game_date"])].append(row)
    assert played <= set(rows) and len(rows) == len(played) + 1  # + the postponed date
    live = rescraped = 0
    for key in played:
        history = sorted(rows[key], key=lambda r: r["processed_at"])
        statuses = [r["game_status"] for r in history]
        day = key[1]
        assert statuses.count(1) == 1 and statuses[0] == 1, key
        assert history[0]["processed_at"] < datetime.combine(day, time(12), tzinfo=UTC)
        assert statuses[-1] == 3 and statuses == sorted(statuses), key
        live += 2 in statuses
        finals = [r for r in history if r["game_status"] == 3]
        rescraped += len(finals) > 1
        assert finals[0]["processed_at"] == datetime.combine(day + timedelta(days=1), time(9),
                                                             tzinfo=UTC)
        assert all({**r, "processed_at": None} == {**finals[0], "processed_at": None}
                   for r in finals)
        for row in history:
            text = {1: "Scheduled", 2: "In Progress", 3: "Final"}[row["game_status"]]
            assert row["game_status_text"] == text
            scores = (row["away_team_score"], row["home_team_score"], row["winning_team_tricode"])
            if row["game_status"] != 3:
                assert scores == (None, None, None)
        away, home, winner = (finals[0]["away_team_score"], finals[0]["home_team_score"],
                              finals[0]["winning_team_tricode"])
        assert away != home
        assert winner == (finals[0]["home_team_tricode"] if home > away
                          else finals[0]["away_team_tricode"])
    assert 0.01 * len(played) <= live <= 0.06 * len(played)
    assert 0.01 * len(played) <= rescraped <= 0.06 * len(played)


def test_schedule_rows_came_out_in_august_or_when_the_matchup_was_set(
        tables: dict[TableRef, list[Row]], games: tuple[Game, ...]) -> None:
    release = datetime(YEAR, 8, 15, 19, tzinfo=UTC)
    known_in_august = {(g.nba_game_id, g.postponed_from or g.day) for g in games
                       if g.game_type in ("preseason", "regular_season", "all_star")}
    scheduled = [r for r in tables[SCHEDULE] if r["game_status_text"] == "Scheduled"]
    assert len(scheduled) == len(games) + 1  # the postponed game: its original date and its new
    for row in scheduled:
        if (row["game_id"], row["game_date"]) in known_in_august:
            assert row["processed_at"] == release, row
        else:  # set later: play-in, playoffs, the Cup final, the postponed game's new date
            assert release < row["processed_at"] < datetime.combine(
                row["game_date"], time(12), tzinfo=UTC), row


def test_one_game_is_postponed_and_made_up_under_the_same_id(
        tables: dict[TableRef, list[Row]], games: tuple[Game, ...]) -> None:
    dates: dict[str, set[date]] = defaultdict(set)
    for row in tables[SCHEDULE]:
        dates[row["game_id"]].add(row["game_date"])
    moved = [gid for gid, days in dates.items() if len(days) > 1]
    assert len(moved) == 1 and moved[0].startswith("00224")
    original, makeup = sorted(dates[moved[0]])
    assert makeup - original >= timedelta(days=7)
    before = sorted((r for r in tables[SCHEDULE]
                     if r["game_id"] == moved[0] and r["game_date"] == original),
                    key=lambda r: r["processed_at"])
    assert [r["game_status"] for r in before] == [1, 1]
    assert before[-1]["game_status_text"] == "PPD"
    after = [r for r in tables[SCHEDULE] if r["game_id"] == moved[0] and r["game_date"] == makeup]
    assert max(after, key=lambda r: r["processed_at"])["game_status"] == 3
    assert min(r["processed_at"] for r in after) > before[-1]["processed_at"]
    teams = {before[0]["away_team_tricode"], before[0]["home_team_tricode"]}
    assert teams == {after[0]["away_team_tricode"], after[0]["home_team_tricode"]}
    # Box scores only where it was played; neither team played on the original date.
    assert not [r for r in tables[TEAM_BOXSCORE]
                if r["game_date"] == original and r["team_abbr"] in teams]
    assert {r["team_abbr"] for r in tables[TEAM_BOXSCORE]
            if r["nba_game_id"] == moved[0]} == teams
    game = next(g for g in games if g.postponed_from)
    assert (game.postponed_from, game.day, game.nba_game_id) == (original, makeup, moved[0])


def test_one_nba_cup_final_in_mid_december(tables: dict[TableRef, list[Row]],
                                           games: tuple[Game, ...]) -> None:
    finals = [g for g in games if g.game_type == "nba_cup_final"]
    assert len(finals) == 1
    cup = finals[0]
    assert (cup.nba_game_id, cup.day) == ("0062400001", date(2024, 12, 17))
    assert {CONFERENCE[cup.away], CONFERENCE[cup.home]} == {"East", "West"}
    for g in games:
        if g is not cup and abs((g.day - cup.day).days) <= 1:
            assert not {g.away, g.home} & {cup.away, cup.home}, g
        assert g is cup or g.day != cup.day  # the Cup final has the night to itself
    rows = [r for r in tables[SCHEDULE] if r["game_id"] == "0062400001"]
    assert rows and all(r["is_emirates_cup"] and not r["is_regular_season"] for r in rows)
    assert len([r for r in tables[TEAM_BOXSCORE] if r["nba_game_id"] == "0062400001"]) == 2


# -- box scores and gamebooks -----------------------------------------------------------------

def test_team_rows_are_the_sum_of_their_players(tables: dict[TableRef, list[Row]]) -> None:
    players = by_game(tables[GAMEBOOK])
    teams = by_game(tables[TEAM_BOXSCORE])
    assert set(players) == set(teams)
    for game_id, pair in teams.items():
        assert len(pair) == 2 and sorted(r["is_home"] for r in pair) == [False, True]
        assert pair[0]["points"] != pair[1]["points"]
        assert pair[0]["plus_minus"] == -pair[1]["plus_minus"]
        length = seconds(pair[0]["minutes"])
        assert pair[1]["minutes"] == pair[0]["minutes"]
        assert length >= 240 * 60 and (length - 240 * 60) % (25 * 60) == 0
        for team, other in (pair, pair[::-1]):
            assert team["plus_minus"] == team["points"] - other["points"]
            mine = [p for p in players[game_id] if p["team_abbr"] == team["team_abbr"]]
            active = [p for p in mine if p["player_status"] == "active"]
            assert 8 <= len(active) <= 13 and 12 <= len(mine) <= 17
            for team_stat, player_stat in zip(TEAM_STATS, PLAYER_STATS, strict=True):
                assert team[team_stat] == sum(p[player_stat] for p in active), team_stat
            assert sum(seconds(p["minutes"]) for p in active) == length
            assert max(seconds(p["minutes"]) for p in active) <= length // 5
            assert sum(p["plus_minus"] for p in active) == 5 * team["plus_minus"]
            assert team["points"] == 2 * team["fg_made"] + team["three_pt_made"] + team["ft_made"]
            assert team["total_rebounds"] == team["offensive_rebounds"] + team["defensive_rebounds"]
            assert team["fg_percentage"] == round(team["fg_made"] / team["fg_attempted"], 3)


def test_every_player_line_is_possible(tables: dict[TableRef, list[Row]]) -> None:
    seen_minutes: set[Any] = set()
    for p in tables[GAMEBOOK]:
        if p["player_status"] == "active":
            assert p["dnp_reason"] is None and re.fullmatch(r"\d{1,2}:[0-5]\d", p["minutes"])
            assert p["minutes_decimal"] == pytest.approx(seconds(p["minutes"]) / 60)
            assert p["points"] == (2 * p["field_goals_made"] + p["three_pointers_made"]
                                   + p["free_throws_made"])
            assert p["three_pointers_made"] <= p["field_goals_made"] <= p["field_goals_attempted"]
            assert (p["three_pointers_made"] <= p["three_pointers_attempted"]
                    <= p["field_goals_attempted"])
            assert p["free_throws_made"] <= p["free_throws_attempted"]
            assert p["total_rebounds"] == p["offensive_rebounds"] + p["defensive_rebounds"]
            assert 0 <= p["personal_fouls"] <= 6
            assert min(p[s] for s in PLAYER_STATS) >= 0
        else:
            assert p["player_status"] in ("dnp", "inactive") and p["dnp_reason"]
            assert p["minutes"] in (None, "-", "DNP") and p["minutes_decimal"] is None
            assert all(p[s] is None for s in (*PLAYER_STATS, "plus_minus"))
            seen_minutes.add(p["minutes"])
    assert seen_minutes == {None, "-", "DNP"}
    reasons = Counter(p["dnp_reason"] for p in tables[GAMEBOOK] if p["player_status"] == "dnp")
    assert reasons.most_common(1)[0][0] == "DNP - Coach's Decision"


def test_players_are_stable_with_unique_lookups(tables: dict[TableRef, list[Row]]) -> None:
    lookups = [p.lookup for team in rosters().values() for p in team]
    assert len(lookups) == len(set(lookups)) == 17 * 30
    assert all(re.fullmatch(r"[a-z]+", lookup) for lookup in lookups)
    assert TEAMS == tuple(sorted(rosters()))
    names: dict[str, set[str]] = defaultdict(set)
    teams: dict[str, set[str]] = defaultdict(set)
    for p in tables[GAMEBOOK]:
        names[p["player_lookup"]].add(p["player_name"])
        if p["team_abbr"] in TEAMS:
            teams[p["player_lookup"]].add(p["team_abbr"])
    assert all(len(n) == 1 for n in names.values())
    assert all(len(t) == 1 for t in teams.values())


def test_an_injured_player_misses_games_in_a_row(tables: dict[TableRef, list[Row]]) -> None:
    spells: dict[str, list[date]] = defaultdict(list)
    for p in tables[GAMEBOOK]:
        if p["player_status"] == "inactive" and p["dnp_reason"].startswith("Injury/Illness"):
            spells[p["player_lookup"]].append(p["game_date"])
    streaks = [sum(1 for a, b in zip(d, d[1:], strict=False) if (b - a).days <= 3)
               for d in map(sorted, spells.values())]
    assert statistics.mean(streaks) > 3


# -- realism: fixes from the domain review ----------------------------------------------------

def test_steals_never_exceed_the_opponents_turnovers(tables: dict[TableRef, list[Row]]) -> None:
    for pair in by_game(tables[TEAM_BOXSCORE]).values():
        for team, other in (pair, pair[::-1]):
            assert team["steals"] <= other["turnovers"], team["game_id"]


def test_rebounds_never_exceed_the_misses(tables: dict[TableRef, list[Row]]) -> None:
    for pair in by_game(tables[TEAM_BOXSCORE]).values():
        for team, other in (pair, pair[::-1]):
            misses = (team["fg_attempted"] - team["fg_made"] + team["ft_attempted"]
                      - team["ft_made"])
            assert team["offensive_rebounds"] + other["defensive_rebounds"] <= misses


def test_both_teams_have_about_the_same_possessions(tables: dict[TableRef, list[Row]]) -> None:
    gaps = [abs(possessions(a) - possessions(b))
            for a, b in by_game(tables[TEAM_BOXSCORE]).values()]
    assert statistics.mean(gaps) < 5 and max(gaps) < 15


def test_the_regular_season_calendar_is_the_nbas(games: tuple[Game, ...]) -> None:
    days: dict[str, list[date]] = defaultdict(list)
    for g in games:  # every kind of game: nobody ever plays twice a day or three in three
        for team in (g.away, g.home):
            if team in TEAMS:
                days[team].append(g.day)
    for team, played in days.items():
        unique = set(played)
        assert len(unique) == len(played), team
        assert not [d for d in unique if d + timedelta(1) in unique and d + timedelta(2) in unique]
    season_games = regular(games)
    counts = Counter(t for g in season_games for t in (g.away, g.home))
    homes = Counter(g.home for g in season_games)
    assert set(counts.values()) == {82} and set(counts) == set(TEAMS)
    assert all(40 <= homes[t] <= 42 for t in TEAMS)
    for team in TEAMS:
        game_days = {g.day for g in season_games if team in (g.away, g.home)}
        back_to_backs = sum(1 for d in game_days if d + timedelta(1) in game_days)
        assert 13 <= back_to_backs <= 16, (team, back_to_backs)
    per_day = Counter(g.day for g in season_games)
    assert max(per_day.values()) <= 15 and per_day[date(YEAR, 12, 25)] == 5


def test_league_averages_are_near_the_recent_nba(tables: dict[TableRef, list[Row]],
                                                 games: tuple[Game, ...]) -> None:
    ids = {g.game_id for g in regular(games)}
    teams = [r for r in tables[TEAM_BOXSCORE] if r["game_id"] in ids]
    pace = statistics.mean(possessions(r) * 240 / (seconds(r["minutes"]) / 60) for r in teams)
    points = sum(r["points"] for r in teams)
    rating = 100 * points / sum(possessions(r) for r in teams)
    true_shooting = points / (2 * sum(r["fg_attempted"] + 0.44 * r["ft_attempted"]
                                      for r in teams))
    threes = statistics.mean(r["three_pt_attempted"] for r in teams)
    assert 97 <= pace <= 101 and 111 <= rating <= 117
    assert 0.56 <= true_shooting <= 0.60 and 33 <= threes <= 38
    overtime = sum(r["minutes"] != "240:00" for r in teams) / len(teams)
    home_wins = statistics.mean(r["plus_minus"] > 0 for r in teams if r["is_home"])
    assert 0.03 <= overtime <= 0.09 and 0.51 <= home_wins <= 0.60
    team = {(r["game_id"], r["team_abbr"]): r for r in teams}
    usage = []
    for p in tables[GAMEBOOK]:
        t = team.get((p["game_id"], p["team_abbr"]))
        if t is None or p["player_status"] != "active" or p["minutes_decimal"] < 10:
            continue
        plays = t["fg_attempted"] + 0.44 * t["ft_attempted"] + t["turnovers"]
        mine = (p["field_goals_attempted"] + 0.44 * p["free_throws_attempted"]
                + p["turnovers"])
        usage.append(100 * mine * (seconds(t["minutes"]) / 60 / 5) / (p["minutes_decimal"] * plays))
    assert 18 <= statistics.mean(usage) <= 22
