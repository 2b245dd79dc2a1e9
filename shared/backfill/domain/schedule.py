"""The schedule as the original pipeline stores it: rows per status, read as one row per game.

One game may have a row per status it was scraped in (scheduled, live, final), and whole seasons
are deleted and reloaded with `processed_at = now` (docs/phase2.md). For each (game_id,
game_date) the newest `processed_at` wins (a tie goes to the higher status, so a final row is
never downgraded by an older scheduled one). A postponed game keeps its official id on its new
date: a game is (game_id, game_date), never the id alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from backfill.domain.games import GameKey, date_based_id, game_type, teams_key

FINAL = 3  # game_status of a game that has been played
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduledGame:
    """One game of the schedule, as its newest row says."""

    game_id: str  # the official id
    game_date: date
    away: str
    home: str
    status: int | None
    processed_at: datetime | None

    @functools.cached_property
    def key(self) -> GameKey:
        return teams_key(self.game_date, self.away, self.home)

    @property
    def date_based_id(self) -> str:
        return date_based_id(self.game_date, self.away, self.home)

    @property
    def game_type(self) -> str | None:
        return game_type(self.game_id)

    @property
    def final(self) -> bool:
        return self.status == FINAL


@dataclass(frozen=True)
class Schedule:
    """The scheduled games of some dates, or why the schedule could not be read (then it filters
    nothing and finds no upstream gaps)."""

    games: tuple[ScheduledGame, ...] = ()
    error: str | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Schedule:
        newest: dict[tuple[str, date], Mapping[str, Any]] = {}
        for row in rows:
            if not (row.get("game_id") and row.get("home_team_tricode")
                    and row.get("away_team_tricode")):
                continue  # a row that names no game cannot be matched to one
            game = (row["game_id"], row["game_date"])
            seen = newest.get(game)
            if seen is None or _rank(row) > _rank(seen):
                newest[game] = row
        return cls(tuple(sorted(
            (ScheduledGame(r["game_id"], r["game_date"], r["away_team_tricode"],
                           r["home_team_tricode"], r.get("game_status"), r.get("processed_at"))
             for r in newest.values()), key=lambda g: (g.game_date, g.game_id))))

    @functools.cached_property
    def _types(self) -> dict[GameKey, str | None]:
        return {game.key: game.game_type for game in self.games}

    def types(self) -> dict[GameKey, str | None]:
        """Each game's type by its key (worked out once: every processor asks)."""
        return self._types

    def between(self, start: date, end: date) -> list[ScheduledGame]:
        return [game for game in self.games if start <= game.game_date <= end]

    @functools.cached_property
    def _by_official_id(self) -> dict[tuple[date, str], ScheduledGame]:
        return {(game.game_date, game.game_id): game for game in self.games}

    @functools.cached_property
    def _by_key(self) -> dict[GameKey, tuple[ScheduledGame, ...]]:
        games: dict[GameKey, list[ScheduledGame]] = {}
        for game in self.games:
            games.setdefault(game.key, []).append(game)
        return {key: tuple(found) for key, found in games.items()}

    def find(self, key: GameKey) -> ScheduledGame | None:
        """The scheduled game of a key: by its teams, or by its official id (a row stored under
        the official id, as the box score's v1 rows are). None when the schedule lacks it."""
        day, teams = key
        if isinstance(teams, str):
            return self._by_official_id.get((day, teams))
        games = self._by_key.get(key)
        return games[0] if games else None

    def games_of(self, key: GameKey) -> tuple[ScheduledGame, ...]:
        """Every scheduled game of one matchup and date (sorted by official id): more than one
        is a schedule error."""
        return self._by_key.get(key, ())

def _rank(row: Mapping[str, Any]) -> tuple[datetime, int]:
    return (row.get("processed_at") or _EARLIEST, row.get("game_status") or 0)
