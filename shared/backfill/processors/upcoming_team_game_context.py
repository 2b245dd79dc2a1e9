"""Each team's situation going into a scheduled game: rest days, back-to-backs, recent load."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from backfill.domain.tables import TableRef, schema
from backfill.processors.base import SCHEDULE, Processor, Row

RECENT_DAYS = 7


class UpcomingTeamGameContext(Processor):
    """Two rows per scheduled game of the date, home and away, from the last two weeks of schedule."""

    name = "upcoming_team_game_context"
    source = SCHEDULE
    target = TableRef("nba_analytics", "upcoming_team_game_context")
    priority = 40
    source_lookback_days = 14
    rows_per_source_row = 2  # the away team's row and the home team's
    schema = schema(
        game_id="STRING", game_date="DATE", nba_game_id="STRING", game_type="STRING",
        team_abbr="STRING", opponent_team_abbr="STRING", is_home="BOOL", days_rest="INT64",
        is_back_to_back="BOOL", games_in_last_7_days="INT64", source_processed_at="TIMESTAMP",
    )

    def compute(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]]) -> list[Row]:
        """The context rows of game_date's games; earlier rows only inform rest and load."""
        earlier: dict[str, set[date]] = defaultdict(set)
        today: dict[str, Row] = {}
        for row in source_rows:
            if row["game_date"] == game_date:
                today[row["game_id"]] = row
            elif row["game_date"] < game_date:
                for team in (row["home_team_abbr"], row["away_team_abbr"]):
                    earlier[team].add(row["game_date"])
        out = []
        for game_id, game in sorted(today.items()):
            for team, opponent, is_home in ((game["away_team_abbr"], game["home_team_abbr"], False),
                                            (game["home_team_abbr"], game["away_team_abbr"], True)):
                played = earlier[team]
                days_rest = (game_date - max(played)).days if played else None
                recent = sum(1 for d in played if d >= game_date - timedelta(days=RECENT_DAYS))
                out.append({
                    "game_id": game_id, "game_date": game_date, "nba_game_id": game["nba_game_id"],
                    "game_type": game["game_type"], "team_abbr": team,
                    "opponent_team_abbr": opponent, "is_home": is_home, "days_rest": days_rest,
                    "is_back_to_back": days_rest == 1, "games_in_last_7_days": recent,
                })
        return out
