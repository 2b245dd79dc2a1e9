"""Gap arithmetic: compare Phase 2 and Phase 3 game by game, group the gaps by date."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from backfill.domain.request import Reason


@dataclass(frozen=True)
class GameStat:
    """What one table holds for one game: how many rows, and when its newest row was processed."""

    game_id: str
    game_date: date
    rows: int = 1
    processed_at: datetime | None = None


@dataclass(frozen=True)
class Candidate:
    """One (processor, game_date) to fill, with the games that showed the gap."""

    processor: str
    game_date: date
    game_ids: tuple[str, ...]
    reason: Reason

    def as_dict(self) -> dict[str, object]:
        return {"game_date": self.game_date.isoformat(), "game_ids": list(self.game_ids),
                "reason": self.reason.value}


# When one date holds games with different reasons, the message carries the most basic one.
_REASON_ORDER = (Reason.MISSING, Reason.INCOMPLETE, Reason.STALE)


def game_gaps(phase2: Iterable[GameStat], phase3: Iterable[GameStat]) -> dict[GameStat, Reason]:
    """Every Phase 2 game that Phase 3 lacks, with why."""
    present = {(g.game_date, g.game_id) for g in phase3}
    return {g: Reason.MISSING for g in phase2 if (g.game_date, g.game_id) not in present}


def group_by_date(processor: str, gaps: dict[GameStat, Reason]) -> list[Candidate]:
    """One candidate per date (processing is per date, lesson 1), oldest date first."""
    by_date: dict[date, dict[str, Reason]] = defaultdict(dict)
    for game, reason in gaps.items():
        by_date[game.game_date][game.game_id] = reason
    candidates = []
    for day in sorted(by_date):
        games = by_date[day]
        reason = min(games.values(), key=_REASON_ORDER.index)
        candidates.append(Candidate(processor, day, tuple(sorted(games)), reason))
    return candidates


def find_candidates(processor: str, phase2: Iterable[GameStat],
                    phase3: Iterable[GameStat]) -> list[Candidate]:
    """The candidates of one processor from the two sides' game lists."""
    return group_by_date(processor, game_gaps(phase2, phase3))
