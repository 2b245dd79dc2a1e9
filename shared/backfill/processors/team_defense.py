"""Team defense per game: the opponent's offense, seen as what this team allowed."""

from __future__ import annotations

from backfill.domain.tables import TableRef, schema
from backfill.processors import formulas
from backfill.processors.base import GameInput, Row
from backfill.processors.team_offense import TeamGameProcessor, team_possessions

# Opponent box-score columns renamed as "allowed" columns of this team.
_ALLOWED = {
    "fg_made": "opp_fg_made", "fg_attempted": "opp_fg_attempted",
    "three_pt_made": "opp_three_pt_made", "three_pt_attempted": "opp_three_pt_attempted",
    "ft_made": "opp_ft_made", "ft_attempted": "opp_ft_attempted", "turnovers": "opp_turnovers",
}


class TeamDefenseGameSummary(TeamGameProcessor):
    """One row per team per game: points and shots allowed, turnovers forced, defensive rating."""

    name = "team_defense_game_summary"
    target = TableRef("nba_analytics", "team_defense_game_summary")
    priority = 20
    version = "1"
    schema = schema(
        game_id="STRING", game_date="DATE", team_abbr="STRING", opponent_team_abbr="STRING",
        is_home="BOOL", points_allowed="INT64", opp_fg_made="INT64", opp_fg_attempted="INT64",
        opp_three_pt_made="INT64", opp_three_pt_attempted="INT64", opp_ft_made="INT64",
        opp_ft_attempted="INT64", opp_turnovers="INT64", defensive_rebounds="INT64",
        steals="INT64", blocks="INT64", opp_possessions="FLOAT64", defensive_rating="FLOAT64",
        win_flag="BOOL",
    )

    @staticmethod
    def _summarize(game_id: str, game: GameInput, team: Row, opp: Row) -> Row:
        who, them = f"team {team['team_abbr']}", f"team {opp['team_abbr']}"
        allowed = formulas.stat(opp, "points", them)
        opp_poss = team_possessions(opp, them)
        return {
            "game_id": game_id, "game_date": game.game_date, "team_abbr": team["team_abbr"],
            "opponent_team_abbr": opp["team_abbr"], "is_home": team["is_home"],
            "points_allowed": allowed,
            **{ours: formulas.stat(opp, theirs, them) for theirs, ours in _ALLOWED.items()},
            "defensive_rebounds": formulas.stat(team, "defensive_rebounds", who),
            "steals": formulas.stat(team, "steals", who),
            "blocks": formulas.stat(team, "blocks", who),
            "opp_possessions": opp_poss, "defensive_rating": formulas.rating(allowed, opp_poss),
            "win_flag": formulas.stat(team, "points", who) > allowed,
        }
