"""Team offense per game, from the two team box-score rows of each game."""

from __future__ import annotations

from abc import abstractmethod

from backfill.domain.errors import BadData
from backfill.domain.games import date_based_id
from backfill.domain.tables import TableRef, schema
from backfill.processors import formulas
from backfill.processors.base import GameInput, Processor, Row
from backfill.processors.nba_raw import TEAM_BOXSCORE, TEAM_BOXSCORE_COLUMNS


def home_and_away(game: GameInput) -> tuple[Row, Row]:
    """The game's away and home rows, whatever its id says: a game is refused unless it has
    exactly one home row and one away row of two different teams."""
    home = [r for r in game.rows if r.get("is_home") is True]
    away = [r for r in game.rows if r.get("is_home") is False]
    if len(home) != 1 or len(away) != 1 or home[0]["team_abbr"] == away[0]["team_abbr"]:
        teams = sorted(f"{r.get('team_abbr')}({'home' if r.get('is_home') else 'away'})"
                       for r in game.rows)
        raise BadData(f"team rows {teams} in {TEAM_BOXSCORE}, expected one away and one home "
                      "team")
    for row in (away[0], home[0]):
        if not isinstance(row.get("team_abbr"), str):
            raise BadData(f"a team row has team_abbr {row.get('team_abbr')!r}")
    return away[0], home[0]


def team_possessions(row: Row, who: str) -> float:
    """A team box-score row's estimated possessions (the original's single-team estimate)."""
    return formulas.single_team_possessions(
        formulas.stat(row, "fg_attempted", who), formulas.stat(row, "ft_attempted", who),
        formulas.stat(row, "turnovers", who), formulas.stat(row, "offensive_rebounds", who))


class TeamGameProcessor(Processor):
    """A processor of team box scores: one row per team per game, from the team and its opponent.

    Rows are keyed by (date, team pair) rebuilt from `is_home`, so an id stored flipped or spelled
    differently for the two teams of one game still gives one game, under its canonical id.
    """

    source = TEAM_BOXSCORE
    source_columns = TEAM_BOXSCORE_COLUMNS
    # A game's two rows name its teams: a row under an official id the schedule lacks is still
    # matched by them, and a game with one team's row is refused before it is computed.
    source_team_column = "team_abbr"

    def compute_game(self, game: GameInput) -> list[Row]:
        away, home = home_and_away(game)
        game_id = date_based_id(game.game_date, away["team_abbr"], home["team_abbr"])
        return [self._summarize(game_id, game, team, opp) for team, opp in
                sorted(((away, home), (home, away)), key=lambda pair: pair[0]["team_abbr"])]

    @staticmethod
    @abstractmethod
    def _summarize(game_id: str, game: GameInput, team: Row, opp: Row) -> Row:
        """The row of `team` in its game against `opp`."""


_COPIED = ("fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted", "ft_made",
           "ft_attempted", "offensive_rebounds", "defensive_rebounds", "assists", "turnovers")


class TeamOffenseGameSummary(TeamGameProcessor):
    """One row per team per game: scoring, shooting, possessions, pace and result."""

    name = "team_offense_game_summary"
    target = TableRef("nba_analytics", "team_offense_game_summary")
    priority = 10
    version = "1"
    schema = schema(
        game_id="STRING", game_date="DATE", team_abbr="STRING", opponent_team_abbr="STRING",
        is_home="BOOL", team_minutes="INT64", overtime_periods="INT64",
        points="INT64", opponent_points="INT64", fg_made="INT64", fg_attempted="INT64",
        three_pt_made="INT64", three_pt_attempted="INT64", ft_made="INT64", ft_attempted="INT64",
        offensive_rebounds="INT64", defensive_rebounds="INT64", assists="INT64", turnovers="INT64",
        possessions="FLOAT64", offensive_rating="FLOAT64", pace="FLOAT64", ts_pct="FLOAT64",
        win_flag="BOOL", data_quality_flag="STRING",
    )

    @staticmethod
    def _summarize(game_id: str, game: GameInput, team: Row, opp: Row) -> Row:
        who = f"team {team['team_abbr']}"
        minutes = formulas.parse_minutes(team.get("minutes"))
        points, opp_points = (formulas.stat(team, "points", who),
                              formulas.stat(opp, "points", f"team {opp['team_abbr']}"))
        poss = team_possessions(team, who)
        fga, fta = formulas.stat(team, "fg_attempted", who), formulas.stat(team, "ft_attempted", who)
        exact = formulas.exact_game_length(minutes)
        return {
            "game_id": game_id, "game_date": game.game_date, "team_abbr": team["team_abbr"],
            "opponent_team_abbr": opp["team_abbr"], "is_home": team["is_home"],
            "team_minutes": round(minutes), "overtime_periods": formulas.overtime_periods(minutes),
            "points": points, "opponent_points": opp_points,
            **{column: formulas.stat(team, column, who) for column in _COPIED},
            "possessions": poss, "offensive_rating": formulas.rating(points, poss),
            "pace": formulas.pace(poss, team_possessions(opp, f"team {opp['team_abbr']}"),
                                  minutes),
            "ts_pct": formulas.true_shooting_pct(points, fga, fta),
            "win_flag": points > opp_points,
            "data_quality_flag": None if exact else (
                f"team minutes {team.get('minutes')!r} are not 240:00 plus 25:00 per overtime"),
        }
