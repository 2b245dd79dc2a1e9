"""Coverage: per processor and date, is Phase 3 right, and if not, why; and the recent runs.

Built on detection's own judgment (service/detect.find_gaps), so every reason it reports shows up
here under its own name, and a game held in quarantine or waiting on one is counted as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backfill.domain.gaps import Gaps
from backfill.domain.runs import RunProgress
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.ports import Warehouse
from backfill.processors.registry import Registry
from backfill.service.detect import ProcessorResult, find_gaps

COMPLETE, DEAD_LETTERED, UPSTREAM, NO_GAMES = "complete", "dead_lettered", "upstream", "no_games"
QUARANTINED, WAITING = "quarantined", "waiting"
# Columns of the coverage table, in order; gap reasons sit between complete and the rest.
GAP_STATES = ("missing", "incomplete", "stale", "outdated", "orphaned")
STATES = (COMPLETE, *GAP_STATES, QUARANTINED, WAITING, DEAD_LETTERED, UPSTREAM)


@dataclass(frozen=True)
class Day:
    """One date of one processor: its state, its games, and the state of each not complete."""

    game_date: date
    state: str
    games: tuple[str, ...] = ()
    not_complete: dict[str, str] = field(default_factory=dict)  # game id -> state

    def as_dict(self) -> dict[str, Any]:
        return {"game_date": self.game_date.isoformat(), "state": self.state,
                "games": list(self.games), "gap_games": sorted(self.not_complete),
                "not_complete": dict(sorted(self.not_complete.items()))}


@dataclass
class ProcessorCoverage:
    name: str
    days: list[Day] = field(default_factory=list)
    error: str | None = None

    def dates(self) -> Counter[str]:
        """Dates with games, by state."""
        return Counter(d.state for d in self.days if d.state != NO_GAMES)

    def games(self) -> Counter[str]:
        """Games by state: each game not complete under its own state, the rest complete."""
        counts: Counter[str] = Counter()
        for day in self.days:
            counts.update(day.not_complete.values())
            counts[COMPLETE] += len(set(day.games) - set(day.not_complete))
        return +counts

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": "error" if self.error else "ok",
                "error": self.error, "dates": dict(self.dates()), "games": dict(self.games()),
                "days": [d.as_dict() for d in self.days]}


@dataclass
class CoverageReport:
    window: Window
    processors: list[ProcessorCoverage]
    runs: list[RunProgress] = field(default_factory=list)
    dead_letters_error: str | None = None  # the dead-letter queue could not be read

    @property
    def failed(self) -> bool:
        """A processor could not be checked fully, or dead letters are unknown: never "fine"."""
        return any(p.error for p in self.processors) or self.dead_letters_error is not None

    @property
    def states(self) -> list[str]:
        seen = {s for p in self.processors for d in p.days
                for s in (d.state, *d.not_complete.values())} - {NO_GAMES}
        return [*STATES, *sorted(seen - set(STATES))]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "dead_letters_error": self.dead_letters_error,
                "processors": [p.as_dict() for p in self.processors],
                "runs": [r.as_dict() for r in self.runs]}


def coverage(warehouse: Warehouse, registry: Registry, ops: OpsTables, window: Window, *,
             processors: Sequence[str] | None = None,
             dead_lettered: Collection[tuple[str, date]] = ()) -> CoverageReport:
    """The state of every (processor, date) in the window; `dead_lettered` are the (processor,
    date) pairs with a request in the dead-letter queue."""
    return CoverageReport(window, [_processor(result, window, dead_lettered) for result in
                                   find_gaps(warehouse, registry, ops, window, processors)])


def _processor(result: ProcessorResult, window: Window,
               dead_lettered: Collection[tuple[str, date]]) -> ProcessorCoverage:
    if result.error:
        return ProcessorCoverage(result.name, error=result.error)
    gaps: Gaps = result.gaps
    days = []
    for day in window.dates():
        not_complete: dict[str, str] = {}
        for items, state in ((gaps.upstream, UPSTREAM), (gaps.waiting, WAITING),
                             (gaps.quarantined, QUARANTINED)):
            not_complete.update({g: state for item in items if item.game_date == day
                                 for g in item.game_ids})
        candidate = gaps.candidate(day)
        gap_state = None
        if candidate is not None:
            gap_state = (DEAD_LETTERED if (result.name, day) in dead_lettered
                         else candidate.reason.value)
            not_complete.update(dict.fromkeys(candidate.game_ids, gap_state))
        games = tuple(sorted(set(gaps.games.get(day, ())) | set(not_complete)))
        state = gap_state or next((s for s in (QUARANTINED, WAITING, UPSTREAM)
                                   if s in not_complete.values()),
                                  COMPLETE if games else NO_GAMES)
        days.append(Day(day, state, games, not_complete))
    # Without the schedule, game types and upstream gaps went unchecked: say so.
    return ProcessorCoverage(result.name, days, error=result.upstream_error)
