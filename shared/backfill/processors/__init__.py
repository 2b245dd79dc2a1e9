"""The built-in Phase 3 processors, in the order they should run."""

from __future__ import annotations

from backfill.processors.base import Processor
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

BUILTIN_PROCESSORS: tuple[type[Processor], ...] = (
    TeamOffenseGameSummary,
    TeamDefenseGameSummary,
    PlayerGameSummary,
    UpcomingTeamGameContext,
)

__all__ = ["BUILTIN_PROCESSORS", "PlayerGameSummary", "TeamDefenseGameSummary",
           "TeamOffenseGameSummary", "UpcomingTeamGameContext"]
