"""Player per game: box score and shooting efficiency, with usage rate from the team's totals."""

from __future__ import annotations

from backfill.domain.errors import BadData
from backfill.domain.tables import TableRef, schema
from backfill.processors import formulas
from backfill.processors.base import GameInput, Processor, Row
from backfill.processors.nba_raw import GAMEBOOK, GAMEBOOK_COLUMNS

TEAM_OFFENSE = "team_offense_game_summary"

# Phase 3 column <- gamebook column.
_COPIED = {"assists": "assists", "fg_made": "field_goals_made",
           "fg_attempted": "field_goals_attempted", "three_pt_made": "three_pointers_made",
           "three_pt_attempted": "three_pointers_attempted", "ft_made": "free_throws_made",
           "ft_attempted": "free_throws_attempted", "turnovers": "turnovers",
           "plus_minus": "plus_minus", "points": "points", "rebounds": "total_rebounds"}


class PlayerGameSummary(Processor):
    """One row per active player per game; joined to its team's offense row on (date, team), so
    the gamebook's id spelling never has to match the box score's."""

    name = "player_game_summary"
    source = GAMEBOOK
    source_columns = GAMEBOOK_COLUMNS
    target = TableRef("nba_analytics", "player_game_summary")
    depends_on = (TEAM_OFFENSE,)
    priority = 30
    version = "1"
    count_source_where = ("player_status", ("active",))
    source_team_column = "team_abbr"
    source_unique_column = "player_lookup"
    schema = schema(
        game_id="STRING", game_date="DATE", player_lookup="STRING", player_name="STRING",
        team_abbr="STRING", opponent_team_abbr="STRING", minutes_played="FLOAT64",
        points="INT64", rebounds="INT64", assists="INT64", fg_made="INT64", fg_attempted="INT64",
        three_pt_made="INT64", three_pt_attempted="INT64", ft_made="INT64", ft_attempted="INT64",
        turnovers="INT64", plus_minus="INT64", ts_pct="FLOAT64", efg_pct="FLOAT64",
        usage_rate="FLOAT64",
    )

    def compute_game(self, game: GameInput) -> list[Row]:
        teams = {t["team_abbr"]: t for t in game.upstream[TEAM_OFFENSE]}
        active = [r for r in game.rows if r.get("player_status") == "active"]
        out = []
        for player in sorted(active, key=lambda r: (str(r.get("team_abbr")),
                                                    str(r.get("player_lookup")))):
            who = f"player {player.get('player_lookup') or player.get('player_name')}"
            if not player.get("player_lookup"):
                raise BadData(f"{who}: an active row without player_lookup")
            team = teams.get(player.get("team_abbr"))
            if team is None:
                raise BadData(f"{who} is active for team {player.get('team_abbr')!r}, not one "
                              f"of the game's teams {sorted(teams)}")
            out.append(_summarize(player, team, who))
        return out


def _summarize(player: Row, team: Row, who: str) -> Row:
    try:
        minutes = formulas.parse_minutes(player.get("minutes"))
    except BadData as exc:
        raise BadData(f"{who}: {exc}") from None
    stats = {ours: formulas.stat(player, theirs, who) for ours, theirs in _COPIED.items()}
    fga, fta = stats["fg_attempted"], stats["ft_attempted"]
    team_who = f"team {team['team_abbr']}"
    return {
        "game_id": team["game_id"], "game_date": team["game_date"],
        "player_lookup": player["player_lookup"], "player_name": player.get("player_name"),
        "team_abbr": team["team_abbr"], "opponent_team_abbr": team["opponent_team_abbr"],
        "minutes_played": minutes, **stats,
        "ts_pct": formulas.true_shooting_pct(stats["points"], fga, fta),
        "efg_pct": formulas.effective_fg_pct(stats["fg_made"], stats["three_pt_made"], fga),
        "usage_rate": formulas.usage_rate(
            fga, fta, stats["turnovers"], minutes, formulas.stat(team, "team_minutes", team_who),
            formulas.stat(team, "fg_attempted", team_who),
            formulas.stat(team, "ft_attempted", team_who),
            formulas.stat(team, "turnovers", team_who)),
    }
