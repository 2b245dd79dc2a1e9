"""Coverage: per processor and date, is Phase 3 complete, and if not, why and is it dead-lettered.

Built on service/gaps.py, so every kind of gap it detects shows up here under its own reason.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backfill.domain.request import Reason
from backfill.domain.window import Window
from backfill.ports import Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.gaps import Schedule, processor_gaps, read_schedule

log = logging.getLogger("backfill.status")

# "upstream": final games the schedule has but Phase 2 lacks: only a person can fix those.
COMPLETE, DEAD_LETTERED, UPSTREAM, NO_GAMES = "complete", "dead_lettered", "upstream", "no_games"


@dataclass(frozen=True)
class Day:
    """One date of one processor: its state, its games, and those that are not complete."""

    game_date: date
    state: str
    games: tuple[str, ...] = ()
    gap_games: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"game_date": self.game_date.isoformat(), "state": self.state,
                "games": list(self.games), "gap_games": list(self.gap_games)}


@dataclass
class ProcessorCoverage:
    name: str
    days: list[Day] = field(default_factory=list)
    error: str | None = None

    def dates(self) -> Counter[str]:
        """Dates with games, by state."""
        return Counter(d.state for d in self.days if d.state != NO_GAMES)

    def games(self) -> Counter[str]:
        """Games by state: a date's gap games take its state, its other games are complete."""
        counts: Counter[str] = Counter()
        for day in self.days:
            counts[day.state] += len(day.gap_games)
            counts[COMPLETE] += len(day.games) - len(day.gap_games)
        return +counts

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": "error" if self.error else "ok",
                "error": self.error, "dates": dict(self.dates()), "games": dict(self.games()),
                "days": [d.as_dict() for d in self.days]}


@dataclass
class CoverageReport:
    window: Window
    processors: list[ProcessorCoverage]
    dead_letters_error: str | None = None  # the dead-letter queue could not be read

    @property
    def failed(self) -> bool:
        """A processor could not be checked fully, or dead letters are unknown: never "fine"."""
        return any(p.error for p in self.processors) or self.dead_letters_error is not None

    @property
    def states(self) -> list[str]:
        """Complete, every gap reason, dead-lettered: the columns of the coverage table."""
        gaps = [r.value for r in Reason if r not in (Reason.MANUAL, Reason.REPLAY)]
        seen = {d.state for p in self.processors for d in p.days} - {NO_GAMES}
        known = [COMPLETE, *gaps, DEAD_LETTERED, UPSTREAM]
        return known + sorted(seen - set(known))

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "dead_letters_error": self.dead_letters_error,
                "processors": [p.as_dict() for p in self.processors]}


def coverage(warehouse: Warehouse, registry: Registry, window: Window, *,
             processors: Sequence[str] | None = None,
             dead_lettered: Collection[tuple[str, date]] = ()) -> CoverageReport:
    """The state of every (processor, date) in the window; `dead_lettered` are the (processor,
    date) pairs with a request in the dead-letter queue."""
    schedule = read_schedule(warehouse, window)  # once for every processor
    return CoverageReport(window, [_processor(warehouse, p, window, schedule, dead_lettered)
                                   for p in registry.ordered(processors)])


def _processor(warehouse: Warehouse, processor: Processor, window: Window, schedule: Schedule,
               dead_lettered: Collection[tuple[str, date]]) -> ProcessorCoverage:
    try:
        found = processor_gaps(warehouse, processor, window, schedule)
    except Exception as exc:  # noqa: BLE001 - an error must never read as "complete" (lesson 2)
        log.error("coverage failed for %s: %s", processor.name, exc)
        return ProcessorCoverage(processor.name, error=f"{type(exc).__name__}: {exc}")
    gaps = {c.game_date: c for c in found.candidates}
    upstream = {g.game_date: g.game_ids for g in found.upstream}
    games: dict[date, set[str]] = defaultdict(set)
    for stat in found.phase2:
        games[stat.game_date].add(stat.game_id)
    days = []
    for day in window.dates():
        gap = gaps.get(day)
        unloaded = upstream.get(day, ())
        # Scheduled games Phase 2 never loaded are games of the date too.
        on_day = tuple(sorted(games[day] | set(gap.game_ids if gap else ()) | set(unloaded)))
        if gap is None and unloaded:
            days.append(Day(day, UPSTREAM, on_day, unloaded))
        elif gap is None:
            days.append(Day(day, COMPLETE if on_day else NO_GAMES, on_day))
        else:
            state = DEAD_LETTERED if (processor.name, day) in dead_lettered else gap.reason.value
            days.append(Day(day, state, on_day, gap.game_ids))
    # Without the schedule, game types and upstream gaps went unchecked: say so (lesson 2).
    return ProcessorCoverage(processor.name, days, error=found.upstream_error)
