"""Player per game: box score and shooting efficiency, with usage rate from the team's totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from backfill.domain.errors import DependencyNotReady, PermanentError
from backfill.domain.tables import TableRef, schema
from backfill.processors import formulas as f
from backfill.processors.base import Processor, Row

TEAM_OFFENSE = "team_offense_game_summary"

_COPIED = ("assists", "fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted",
           "ft_made", "ft_attempted", "turnovers", "plus_minus")


class PlayerGameSummary(Processor):
    """One row per active player per game."""

    name = "player_game_summary"
    source = TableRef("nba_raw", "nbac_gamebook_player_stats")
    target = TableRef("nba_analytics", "player_game_summary")
    depends_on = (TEAM_OFFENSE,)
    priority = 30
    count_source_where = ("player_status", ("active",))
    schema = schema(
        game_id="STRING", game_date="DATE", player_lookup="STRING", player_name="STRING",
        team_abbr="STRING", opponent_team_abbr="STRING", minutes_played="FLOAT64",
        points="INT64", rebounds="INT64", assists="INT64", fg_made="INT64", fg_attempted="INT64",
        three_pt_made="INT64", three_pt_attempted="INT64", ft_made="INT64", ft_attempted="INT64",
        turnovers="INT64", plus_minus="INT64", ts_pct="FLOAT64", efg_pct="FLOAT64",
        usage_rate="FLOAT64", source_processed_at="TIMESTAMP",
    )

    def compute(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]]) -> list[Row]:
        """The player rows of game_date; every team with an active player needs its offense row."""
        teams = {(t["game_id"], t["team_abbr"]): t for t in upstream.get(TEAM_OFFENSE, ())}
        players = sorted((r for r in source_rows
                          if r["game_date"] == game_date and r["player_status"] == "active"),
                         key=lambda r: (r["game_id"], r["team_abbr"], r["player_lookup"]))
        out = []
        for player in players:
            team = teams.get((player["game_id"], player["team_abbr"]))
            if team is None:
                raise DependencyNotReady(f"{TEAM_OFFENSE} has no row for game {player['game_id']} "
                                         f"team {player['team_abbr']}")
            out.append(self._summarize(game_date, player, team))
        return out

    @staticmethod
    def _summarize(game_date: date, player: Row, team: Row) -> Row:
        try:
            minutes = f.parse_minutes(player["minutes"])
        except PermanentError as err:
            raise PermanentError(f"player {player['player_lookup']} in game {player['game_id']}: "
                                 f"{err}") from err
        stats = {column: f.stat(player, column) for column in _COPIED}
        points = f.stat(player, "points")
        fga, fta = stats["fg_attempted"], stats["ft_attempted"]
        return {
            "game_id": player["game_id"], "game_date": game_date,
            "player_lookup": player["player_lookup"], "player_name": player["player_name"],
            "team_abbr": player["team_abbr"], "opponent_team_abbr": player["opponent_team_abbr"],
            "minutes_played": minutes, "points": points,
            "rebounds": f.stat(player, "total_rebounds"),
            **stats,
            "ts_pct": f.true_shooting_pct(points, fga, fta),
            "efg_pct": f.effective_fg_pct(stats["fg_made"], stats["three_pt_made"], fga),
            "usage_rate": f.usage_rate(fga, fta, stats["turnovers"], minutes,
                                       f.stat(team, "team_minutes"), f.stat(team, "fg_attempted"),
                                       f.stat(team, "ft_attempted"), f.stat(team, "turnovers")),
        }
