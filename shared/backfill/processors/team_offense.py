"""Team offense per game, from the two team box-score rows of each game."""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date

from backfill.domain.errors import PermanentError
from backfill.domain.tables import TableRef, schema
from backfill.processors import formulas as f
from backfill.processors.base import Processor, Row

TEAM_BOXSCORE = TableRef("nba_raw", "nbac_team_boxscore")


def team_pairs(game_date: date, rows: Sequence[Row]) -> list[tuple[Row, Row]]:
    """Each (team row, opponent row) of game_date's games, both ways round, sorted by game and team."""
    games: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row["game_date"] == game_date:
            games[row["game_id"]].append(row)
    pairs: list[tuple[Row, Row]] = []
    for game_id, teams in sorted(games.items()):
        # A half-loaded game would give the other team's stats as zero: refuse rather than guess.
        if len(teams) != 2 or teams[0]["team_abbr"] == teams[1]["team_abbr"]:
            abbrs = sorted(str(t["team_abbr"]) for t in teams)
            raise PermanentError(f"game {game_id}: team rows {abbrs} in {TEAM_BOXSCORE}, expected 2 teams")
        first, second = sorted(teams, key=lambda t: str(t["team_abbr"]))
        pairs += [(first, second), (second, first)]
    return pairs


def team_possessions(row: Row) -> float:
    """A team box-score row's estimated possessions."""
    return f.possessions(f.stat(row, "fg_attempted"), f.stat(row, "ft_attempted"),
                         f.stat(row, "turnovers"), f.stat(row, "offensive_rebounds"))


class TeamGameProcessor(Processor):
    """A processor of team box scores: one row per team per game, from the team and its opponent."""

    source = TEAM_BOXSCORE

    def compute(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]]) -> list[Row]:
        """One row per team of game_date's games."""
        return [self._summarize(game_date, team, opp)
                for team, opp in team_pairs(game_date, source_rows)]

    @staticmethod
    @abstractmethod
    def _summarize(game_date: date, team: Row, opp: Row) -> Row:
        """The row of `team` in its game against `opp`."""


class TeamOffenseGameSummary(TeamGameProcessor):
    """One row per team per game: scoring, shooting, possessions, pace and result."""

    name = "team_offense_game_summary"
    target = TableRef("nba_analytics", "team_offense_game_summary")
    priority = 10
    schema = schema(
        game_id="STRING", game_date="DATE", team_abbr="STRING", opponent_team_abbr="STRING",
        is_home="BOOL", team_minutes="INT64", overtime_periods="INT64",
        points="INT64", opponent_points="INT64", fg_made="INT64", fg_attempted="INT64",
        three_pt_made="INT64", three_pt_attempted="INT64", ft_made="INT64", ft_attempted="INT64",
        offensive_rebounds="INT64", defensive_rebounds="INT64", assists="INT64", turnovers="INT64",
        possessions="FLOAT64", offensive_rating="FLOAT64", pace="FLOAT64", ts_pct="FLOAT64",
        win_flag="BOOL", source_processed_at="TIMESTAMP",
    )

    @staticmethod
    def _summarize(game_date: date, team: Row, opp: Row) -> Row:
        minutes = f.parse_minutes(team["minutes"])
        points, opp_points = f.stat(team, "points"), f.stat(opp, "points")
        poss = team_possessions(team)
        fga, fta = f.stat(team, "fg_attempted"), f.stat(team, "ft_attempted")
        copied = ("fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted", "ft_made",
                  "ft_attempted", "offensive_rebounds", "defensive_rebounds", "assists", "turnovers")
        return {
            "game_id": team["game_id"], "game_date": game_date, "team_abbr": team["team_abbr"],
            "opponent_team_abbr": opp["team_abbr"], "is_home": bool(team["is_home"]),
            "team_minutes": round(minutes), "overtime_periods": f.overtime_periods(team["minutes"]),
            "points": points, "opponent_points": opp_points,
            **{column: f.stat(team, column) for column in copied},
            "possessions": poss, "offensive_rating": f.rating(points, poss),
            "pace": f.pace(poss, team_possessions(opp), minutes),
            "ts_pct": f.true_shooting_pct(points, fga, fta),
            "win_flag": points > opp_points,
        }
