"""Phase 2 sanity: what makes one game's Phase 2 rows unfit to compute, whatever their times say.

The original pipeline's processors leave known dirt behind: a gamebook scraped before the game
ended (a final game with 0 active players), a gamebook missing one team, a game loaded under a
second id spelling next to the first (every player listed twice), two official ids for one
matchup in the schedule. Computing such a game would write wrong rows and call them complete,
so the game is judged here, on the same per-game facts detection scans and the worker counts:
detection reports it (an upstream gap, or quarantined once a worker refused it) and never
requests it; a worker computing its date refuses it into quarantine and keeps its old rows.
docs/phase2.md says what each rule guards against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backfill.domain.games import GameKey, key_teams
from backfill.domain.schedule import Schedule


class Phase2Game(Protocol):
    """What a rule reads of one game's Phase 2 rows (a scan's or the worker's count)."""

    @property
    def key(self) -> GameKey: ...
    @property
    def rows(self) -> int: ...  # the counted rows (active players)
    @property
    def teams(self) -> frozenset[str]: ...  # teams with counted rows
    @property
    def repeated(self) -> int: ...  # counted rows beyond the first of one unique value


@dataclass(frozen=True)
class Sanity:
    """The rules one processor's source is held to.

    `source` names the table in reasons; `counted` the rows that count (column, values);
    `team_column` makes "every team of the game has counted rows" a rule, `unique_column` "no
    value listed twice in one game".
    """

    source: str
    counted: tuple[str, tuple[str, ...]] | None = None
    team_column: str | None = None
    unique_column: str | None = None

    def problem(self, game: Phase2Game, schedule: Schedule) -> str | None:
        """Why the game cannot be computed from its Phase 2 rows, in one line; None if it can."""
        if game.rows == 0:
            scheduled = schedule.find(game.key)
            # A gamebook exists once a game is played: without the schedule's word, it was.
            final = scheduled is None or scheduled.final
            return f"{self.source} lists 0 {self._what()} of this final game" if final else None
        missing = self.team_column and key_teams(game.key) - game.teams
        if missing:
            return f"{self.source} has no {self._what()} of team {', '.join(sorted(missing))}"
        if self.unique_column and game.repeated:
            return (f"{self.source} lists {game.repeated} {self._what()} twice (same "
                    f"{self.unique_column}; the game stored under a second id spelling?)")
        return None

    def _what(self) -> str:
        if self.counted is None:
            return "rows"
        column, values = self.counted
        return f"{column} {'/'.join(values)} rows"


def two_official_ids(key: GameKey, schedule: Schedule) -> str | None:
    """The schedule's own rule: one official id per matchup and date (a second one is refused,
    never guessed between)."""
    games = schedule.games_of(key)
    if len(games) < 2:
        return None
    first = games[0]
    return (f"the schedule has {len(games)} official ids for {first.away} at {first.home} on "
            f"{first.game_date}: {', '.join(g.game_id for g in games)}")
