"""Gap arithmetic: compare Phase 2 and Phase 3 game by game, group the gaps by date.

A game is a gap when Phase 3 has none of its rows (missing), fewer than its Phase 2 rows imply
(incomplete), or rows computed before Phase 2 was last processed (stale). A game the schedule
says is final but that has no Phase 2 rows is an upstream gap: reported, never requested, since
no processor can make Phase 2 data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from backfill.domain.games import DEFAULT_GAME_TYPES, GameKey, KeyRule, game_type, team_set_key
from backfill.domain.request import Reason


@dataclass(frozen=True)
class GameStat:
    """What one table holds for one game: rows counted, newest processed time, a label.

    The label is a per-game value a scan asked for, e.g. the schedule's official id.
    """

    game_id: str
    game_date: date
    rows: int = 1
    processed_at: datetime | None = None
    label: str | None = None


@dataclass(frozen=True)
class GapRule:
    """How one processor's games are compared: key, game types checked, rows expected."""

    key: KeyRule = team_set_key
    game_types: frozenset[str] = DEFAULT_GAME_TYPES
    # Phase 3 rows each counted Phase 2 row should give (upcoming context: 2 per scheduled game).
    rows_per_source_row: int = 1


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


@dataclass(frozen=True)
class UpstreamGap:
    """Final games of one date that have no Phase 2 rows in a processor's source."""

    processor: str
    game_date: date
    game_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"game_date": self.game_date.isoformat(), "game_ids": list(self.game_ids)}


@dataclass
class Gaps:
    """Everything detection found for one processor."""

    candidates: list[Candidate] = field(default_factory=list)
    upstream: list[UpstreamGap] = field(default_factory=list)


# When one date holds games with different reasons, the message carries the most basic one.
_REASON_ORDER = (Reason.MISSING, Reason.INCOMPLETE, Reason.STALE)


def by_key(games: Iterable[GameStat], rule: GapRule) -> dict[GameKey, GameStat]:
    """Games by the rule's key; rows of one game stored under two id spellings add up."""
    merged: dict[GameKey, GameStat] = {}
    for game in games:
        key = rule.key(game.game_date, game.game_id)
        seen = merged.get(key)
        if seen is None:
            merged[key] = game
            continue
        stamps = [s for s in (seen.processed_at, game.processed_at) if s is not None]
        merged[key] = replace(seen, game_id=min(seen.game_id, game.game_id),
                              rows=seen.rows + game.rows, processed_at=max(stamps, default=None),
                              label=seen.label or game.label)
    return merged


def checked(games: dict[GameKey, GameStat], types: dict[GameKey, str | None],
            rule: GapRule) -> dict[GameKey, GameStat]:
    """The games of types the rule checks; a game the schedule does not know is kept."""
    return {key: game for key, game in games.items()
            if types.get(key) is None or types[key] in rule.game_types}


def game_gaps(phase2: dict[GameKey, GameStat],
              phase3: dict[GameKey, GameStat], rule: GapRule) -> dict[GameStat, Reason]:
    """Every Phase 2 game that Phase 3 lacks, holds too few rows of, or computed too early."""
    gaps: dict[GameStat, Reason] = {}
    for key, source in phase2.items():
        expected = source.rows * rule.rows_per_source_row
        target = phase3.get(key)
        if expected == 0:
            continue  # e.g. a gamebook with no active player: nothing to compute
        if target is None or target.rows == 0:
            gaps[source] = Reason.MISSING
        elif target.rows < expected:
            gaps[source] = Reason.INCOMPLETE
        elif (source.processed_at is not None and target.processed_at is not None
              and source.processed_at > target.processed_at):
            # Phase 3 rows without a recorded source time cannot be judged, so are not stale.
            gaps[source] = Reason.STALE
    return gaps


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


def upstream_gaps(processor: str, schedule: Iterable[GameStat], phase2: Iterable[GameStat],
                  rule: GapRule) -> list[UpstreamGap]:
    """Final games of checked types (schedule rows count final rows) absent from Phase 2."""
    finals = by_key((g for g in schedule if g.rows > 0), rule)
    present = by_key(phase2, rule)
    types = {key: game_type(game.label) for key, game in finals.items()}
    by_date: dict[date, list[str]] = defaultdict(list)
    for key, game in checked(finals, types, rule).items():
        if key not in present:
            by_date[game.game_date].append(game.game_id)
    return [UpstreamGap(processor, day, tuple(sorted(ids))) for day, ids in sorted(by_date.items())]


def find_gaps(processor: str, phase2: Iterable[GameStat], phase3: Iterable[GameStat],
              schedule: Iterable[GameStat], rule: GapRule) -> Gaps:
    """One processor's candidates and upstream gaps from its three scans.

    `schedule` gives each game's official id as its label (for the game type) and counts its
    final rows; an empty schedule filters nothing and finds no upstream gaps.
    """
    schedule = list(schedule)
    phase2 = list(phase2)
    types = {key: game_type(game.label) for key, game in by_key(schedule, rule).items()}
    source = checked(by_key(phase2, rule), types, rule)
    target = checked(by_key(phase3, rule), types, rule)
    return Gaps(group_by_date(processor, game_gaps(source, target, rule)),
                upstream_gaps(processor, schedule, phase2, rule))
