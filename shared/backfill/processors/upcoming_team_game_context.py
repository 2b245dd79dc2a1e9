"""Each team's situation going into a scheduled game: rest days, back-to-backs, recent load.

The original's conventions: `days_rest` is whole days between games minus one (0 is a
back-to-back), `games_in_last_7_days` counts games after `date - 7`, and only games that were
played (final) and competitive (regular season, play-in, playoffs, Cup final) count: never
preseason or All-Star exhibitions, never a postponed game on its old date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from backfill.domain.games import DEFAULT_GAME_TYPES, GameKey
from backfill.domain.schedule import Schedule
from backfill.domain.tables import TableRef, schema
from backfill.processors.base import GameInput, Processor, Row
from backfill.processors.nba_raw import SCHEDULE, SCHEDULE_COLUMNS

RECENT_DAYS = 7
COUNTED_TYPES = DEFAULT_GAME_TYPES  # rest counts the competitive games detection checks


class UpcomingTeamGameContext(Processor):
    """Two rows per scheduled game of the date, away and home, from the two weeks before it."""

    name = "upcoming_team_game_context"
    source = SCHEDULE
    source_columns = SCHEDULE_COLUMNS
    target = TableRef("nba_analytics", "upcoming_team_game_context")
    priority = 40
    version = "1"
    source_lookback_days = 14
    source_is_schedule = True
    rows_per_source_row = 2  # the away team's row and the home team's
    schema = schema(
        game_id="STRING", game_date="DATE", nba_game_id="STRING", game_type="STRING",
        team_abbr="STRING", opponent_team_abbr="STRING", is_home="BOOL", days_rest="INT64",
        days_since_last_game="INT64", is_back_to_back="BOOL", games_in_last_7_days="INT64",
    )

    def split(self, game_date: date, rows: Sequence[Row]) -> dict[GameKey, list[Row]]:
        """A date's schedule rows by game: every row of one (game_id, date) is one game, which
        its newest row places (the schedule is appended, one row per status scraped)."""
        newest = {g.game_id: g for g in Schedule.from_rows(rows).between(game_date, game_date)}
        games: dict[GameKey, list[Row]] = defaultdict(list)
        for row in rows:
            if row["game_id"] in newest:
                games[newest[row["game_id"]].key].append(row)
        return games

    def compute_game(self, game: GameInput) -> list[Row]:
        (today,) = Schedule.from_rows(game.rows).games
        # Dates, not games: a matchup the schedule lists under two ids is one game played.
        played: dict[str, set[date]] = {today.away: set(), today.home: set()}
        for earlier in Schedule.from_rows(game.history).games:
            if earlier.final and earlier.game_type in COUNTED_TYPES:
                for team in (earlier.away, earlier.home):
                    if team in played:
                        played[team].add(earlier.game_date)
        out = []
        for team, opponent, is_home in ((today.away, today.home, False),
                                        (today.home, today.away, True)):
            last = max(played[team], default=None)
            since = (game.game_date - last).days if last else None
            out.append({
                "game_id": today.date_based_id, "game_date": game.game_date,
                "nba_game_id": today.game_id, "game_type": today.game_type,
                "team_abbr": team, "opponent_team_abbr": opponent, "is_home": is_home,
                "days_rest": since - 1 if since is not None else None,
                "days_since_last_game": since,
                "is_back_to_back": since == 1,
                "games_in_last_7_days": sum(
                    1 for d in played[team] if d > game.game_date - timedelta(days=RECENT_DAYS)),
            })
        return out
