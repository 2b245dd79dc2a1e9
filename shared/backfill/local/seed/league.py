"""A deterministic synthetic NBA league, written as the original pipeline's Phase 2 tables.

`generate_phase2(start, end)` returns the rows of `nba_raw.nbac_schedule`,
`nba_raw.nbac_team_boxscore` and `nba_raw.nbac_gamebook_player_stats` for every game in
[start, end], with the public DDL's column names and types (a superset of what Backfill reads,
`backfill.processors.nba_raw`). Every season is built in full from generators seeded by its year,
and each game's box score from its date-based id, then filtered to the window: a game never
depends on the window asked for.

The schedule table is append-only, as the real one is: a game's status-1 "Scheduled" row was
processed when the season's schedule came out in August (or when a play-in or playoff matchup
was set), its status-3 "Final" row the morning after, with the box scores; a few games also
have a live (status 2) row, and a few a second Final row from a re-scrape. The one postponed
game has its original date's rows stuck at status 1 ("PPD" the last), and is played and final
on a later date under the same official id, so a game is (game_id, game_date).
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta

from backfill.domain.games import GAME_TYPES, TYPE_CODES
from backfill.domain.tables import Schema, TableRef, schema
from backfill.local.seed.box import BoxScore, Side, result_of, rosters, simulate
from backfill.local.seed.schedule import (
    Game,
    game_code,
    morning_after,
    schedule_release,
    season,
)
from backfill.local.seed.teams import NAMES, TEAMS
from backfill.ports import Row
from backfill.processors.nba_raw import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE

__all__ = ["GAMEBOOK", "GAME_TYPES", "PHASE2_SCHEMAS", "SCHEDULE", "TEAMS", "TEAM_BOXSCORE",
           "TYPE_CODES", "Game", "box_score", "generate_phase2", "rosters", "season"]

_SCHEDULE_COLUMNS = schema(
    game_id="STRING", game_code="STRING", season="STRING", season_nba_format="STRING",
    season_year="INT64", game_date="DATE", game_status="INT64", game_status_text="STRING",
    home_team_tricode="STRING", home_team_name="STRING", away_team_tricode="STRING",
    away_team_name="STRING", is_regular_season="BOOL", is_playoffs="BOOL", is_all_star="BOOL",
    is_emirates_cup="BOOL", playoff_round="STRING", is_christmas="BOOL", day_of_week="STRING",
    is_weekend="BOOL", neutral_site_flag="BOOL", home_team_score="INT64",
    away_team_score="INT64", winning_team_tricode="STRING", data_source="STRING",
    processed_at="TIMESTAMP")
_TEAM_BOXSCORE_COLUMNS = schema(
    game_id="STRING", nba_game_id="STRING", game_date="DATE", season_year="INT64",
    team_abbr="STRING", team_name="STRING", team_city="STRING", is_home="BOOL",
    minutes="STRING", fg_made="INT64", fg_attempted="INT64", fg_percentage="FLOAT64",
    three_pt_made="INT64", three_pt_attempted="INT64", three_pt_percentage="FLOAT64",
    ft_made="INT64", ft_attempted="INT64", ft_percentage="FLOAT64",
    offensive_rebounds="INT64", defensive_rebounds="INT64", total_rebounds="INT64",
    assists="INT64", steals="INT64", blocks="INT64", turnovers="INT64",
    personal_fouls="INT64", points="INT64", plus_minus="INT64", processed_at="TIMESTAMP")
_GAMEBOOK_COLUMNS = schema(
    game_id="STRING", game_code="STRING", game_date="DATE", season_year="INT64",
    home_team_abbr="STRING", away_team_abbr="STRING", player_name="STRING",
    player_name_original="STRING", player_lookup="STRING", team_abbr="STRING",
    player_status="STRING", dnp_reason="STRING", minutes="STRING", minutes_decimal="FLOAT64",
    points="INT64", field_goals_made="INT64", field_goals_attempted="INT64",
    three_pointers_made="INT64", three_pointers_attempted="INT64", free_throws_made="INT64",
    free_throws_attempted="INT64", offensive_rebounds="INT64", defensive_rebounds="INT64", total_rebounds="INT64",
    assists="INT64", steals="INT64", blocks="INT64", turnovers="INT64",
    personal_fouls="INT64", plus_minus="INT64", processed_at="TIMESTAMP")

PHASE2_SCHEMAS: dict[TableRef, Schema] = {
    SCHEDULE: _SCHEDULE_COLUMNS,
    TEAM_BOXSCORE: _TEAM_BOXSCORE_COLUMNS,
    GAMEBOOK: _GAMEBOOK_COLUMNS,
}
_SCHEDULE_NAMES = tuple(c.name for c in _SCHEDULE_COLUMNS)
_TEAM_NAMES = tuple(c.name for c in _TEAM_BOXSCORE_COLUMNS)
_GAMEBOOK_NAMES = tuple(c.name for c in _GAMEBOOK_COLUMNS)

# Status text as the original processor writes it; "PPD" is NBA.com's for a postponed game.
SCHEDULED, LIVE, FINAL = 1, 2, 3
_STATUS_TEXT = {SCHEDULED: "Scheduled", LIVE: "In Progress", FINAL: "Final"}
POSTPONED_TEXT = "PPD"
_ROUNDS = {"1": "first_round", "2": "conf_semifinals", "3": "conf_finals", "4": "nba_finals"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Share of games, in percent, with a status-2 row caught live, and with a re-scraped Final row.
LIVE_PERCENT, RESCRAPE_PERCENT = 3, 3


def generate_phase2(start: date, end: date) -> dict[TableRef, list[Row]]:
    """The Phase 2 rows of every game in [start, end], the same whatever window is asked for."""
    schedule: list[Row] = []
    gamebook: list[Row] = []
    team_boxscore: list[Row] = []
    for year in range(start.year - 1, end.year + 1):
        if end < date(year, 9, 1) or start > date(year + 1, 7, 31):
            continue  # the window misses this season (Oct to June) altogether
        for game in season(year):
            played = start <= game.day <= end
            if played or (game.postponed_from and start <= game.postponed_from <= end):
                schedule += [row for row in schedule_rows(game)
                             if start <= row["game_date"] <= end]
            if played:
                players, teams = box_score(game)
                gamebook += players
                team_boxscore += teams
    schedule.sort(key=lambda r: (r["game_date"], r["game_id"], r["processed_at"]))
    return {SCHEDULE: schedule, TEAM_BOXSCORE: team_boxscore, GAMEBOOK: gamebook}


# -- the schedule -----------------------------------------------------------------------------

def schedule_rows(game: Game) -> list[Row]:
    """A game's schedule rows, oldest first: as appended over time, never updated."""
    final = morning_after(game.day)
    rows = []
    if game.postponed_from is not None:
        original = game.postponed_from
        rows.append(_schedule_row(game, original, SCHEDULED, schedule_release(game.season)))
        called_off = datetime.combine(original, time(17), tzinfo=UTC)
        rows.append(_schedule_row(game, original, SCHEDULED, called_off, POSTPONED_TEXT))
    rows.append(_schedule_row(game, game.day, SCHEDULED, game.scheduled_at))
    luck = zlib.crc32(f"{game.nba_game_id}/{game.day}".encode())
    if luck % 100 < LIVE_PERCENT:  # caught mid-game
        rows.append(_schedule_row(game, game.day, LIVE, final - timedelta(hours=8)))
    rows.append(_schedule_row(game, game.day, FINAL, final))
    if luck // 100 % 100 < RESCRAPE_PERCENT:  # scraped and processed again later
        rows.append(_schedule_row(game, game.day, FINAL, final + timedelta(days=1, hours=6)))
    return rows


def _schedule_row(game: Game, day: date, status: int, processed_at: datetime,
                  text: str | None = None) -> Row:
    kind = game.game_type
    final = status == FINAL
    score = _final_score(game) if final else None
    weekday = _DAYS[day.weekday()]
    return dict(zip(_SCHEDULE_NAMES, (
        game.nba_game_id, game_code(day, game.away, game.home), str(game.season),
        f"{game.season}-{(game.season + 1) % 100:02d}", game.season, day, status,
        text or _STATUS_TEXT[status], game.home, NAMES[game.home][1], game.away,
        NAMES[game.away][1],
        kind == "regular_season",
        kind in ("playoffs", "play_in"),  # NBA.com labels play-in games as postseason
        kind == "all_star", kind == "nba_cup_final",
        _ROUNDS[game.number[2]] if kind == "playoffs" else "play_in" if kind == "play_in"
        else None,
        day.month == 12 and day.day == 25, weekday, weekday in ("fri", "sat", "sun"),
        kind in ("all_star", "nba_cup_final"),
        score[1] if score else None, score[0] if score else None,
        game.winner if final else None, "api_stats", processed_at), strict=True))


def _final_score(game: Game) -> tuple[int, int]:
    """(away, home) points, as the box score has them."""
    result = result_of(game)
    return result.away.points, result.home.points


# -- box scores -------------------------------------------------------------------------------

# The gamebook columns that vary by player; the others are the game's and the team's.
_PLAYER_KEYS = ("player_name", "player_name_original", "player_lookup", "player_status",
                "dnp_reason", "minutes", "minutes_decimal", "points", "field_goals_made",
                "field_goals_attempted", "three_pointers_made", "three_pointers_attempted",
                "free_throws_made", "free_throws_attempted", "offensive_rebounds",
                "defensive_rebounds", "total_rebounds", "assists", "steals", "blocks",
                "turnovers", "personal_fouls", "plus_minus")
_ABSENT_KEYS = _PLAYER_KEYS[:6]


def box_score(game: Game) -> tuple[list[Row], list[Row]]:
    """The gamebook rows and the two team rows (away, home) of a game, seeded by its id alone."""
    box = simulate(game)
    processed_at = morning_after(game.day)
    # How a scrape writes the minutes of players who did not play: NULL, "-" or "DNP".
    no_minutes = (None, "-", "DNP")[zlib.crc32(game.game_id.encode()) % 3]
    margin = box.home.points - box.away.points
    head = dict.fromkeys(_GAMEBOOK_NAMES)
    head.update(game_id=game.game_id, game_code=game_code(game.day, game.away, game.home),
                game_date=game.day, season_year=game.season, home_team_abbr=game.home,
                away_team_abbr=game.away, processed_at=processed_at)
    players: list[Row] = []
    teams: list[Row] = []
    for side, plus_minus in ((box.away, -margin), (box.home, margin)):
        head["team_abbr"] = side.team
        for p, secs, fgm, fga, fg3m, fg3a, ftm, fta, oreb, dreb, ast, stl, blk, tov, pf, pm in zip(
                side.players, side.seconds, side.fgm, side.fga, side.fg3m, side.fg3a, side.ftm,
                side.fta, side.oreb, side.dreb, side.ast, side.stl, side.blk, side.tov, side.pf,
                side.plus_minus, strict=True):
            row = head.copy()
            row.update(zip(_PLAYER_KEYS, (
                p.name, p.name, p.lookup, "active", None, f"{secs // 60}:{secs % 60:02d}",
                secs // 60 + secs % 60 / 60, 2 * fgm + fg3m + ftm, fgm, fga, fg3m, fg3a, ftm,
                fta, oreb, dreb, oreb + dreb, ast, stl, blk, tov, pf, pm), strict=True))
            players.append(row)
        for player, status, reason in side.absent:
            row = head.copy()
            row.update(zip(_ABSENT_KEYS, (player.name, player.name, player.lookup, status,
                                          reason, no_minutes), strict=True))
            players.append(row)
        teams.append(_team_row(game, box, side, plus_minus, processed_at))
    return players, teams


def _pct(made: int, attempted: int) -> float | None:
    return round(made / attempted, 3) if attempted else None


def _team_row(game: Game, box: BoxScore, side: Side, plus_minus: int,
              processed_at: datetime) -> Row:
    t = side.totals
    oreb, dreb = sum(side.oreb), sum(side.dreb)
    city, name = NAMES[side.team]
    return dict(zip(_TEAM_NAMES, (
        game.game_id, game.nba_game_id, game.day, game.season, side.team, name, city,
        side.team == game.home, f"{box.team_seconds // 60}:00", t.fgm, t.fga,
        _pct(t.fgm, t.fga), t.fg3m, t.fg3a, _pct(t.fg3m, t.fg3a), t.ftm, t.fta,
        _pct(t.ftm, t.fta), oreb, dreb, oreb + dreb, sum(side.ast), sum(side.stl),
        sum(side.blk), sum(side.tov), sum(side.pf), t.points, plus_minus, processed_at),
        strict=True))
