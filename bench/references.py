"""What Backfill is compared with: the original system's loop, the ideal and the limit.

All three run a date the same way (`compute_date`): one round of reads (the date's source rows
over the processor's lookback, the schedule, each dependency's Phase 3 rows of the date, at once
where the warehouse is latency-bound), the processor's own `produce`, one write. That is generous
to the original (its reads are counted as one round trip), and it is exactly the ideal's "one
read round trip, compute, one write round trip". So a ratio measures the loop's shape (what runs,
how often, how concurrently, what else each delivery does), not a difference in code that reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from backfill.domain.schedule import Schedule
from backfill.domain.window import Window
from backfill.ports import Scan, Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.reads import read_together


def compute_date(warehouse: Warehouse, registry: Registry, processor: Processor,
                 day: date) -> int:
    """One (processor, date): read its inputs (one round), compute, write. Returns rows."""
    start = day - timedelta(days=processor.source_lookback_days)
    reads: dict[str, Callable[[], Any]] = {
        "schedule": lambda: warehouse.read_rows(registry.schedule_read(start, day))}
    if not processor.source_is_schedule:
        reads["source"] = lambda: warehouse.read_rows(processor.source_read(start, day))
    for name in processor.depends_on:
        reads[name] = partial(warehouse.read_rows, registry.get(name).target_read(day, day))
    found = read_together(warehouse, reads)
    schedule_rows = found["schedule"]
    source = schedule_rows if processor.source_is_schedule else found["source"]
    produced = processor.produce(day, source, {n: found[n] for n in processor.depends_on},
                                 Schedule.from_rows(schedule_rows))
    warehouse.write([processor.replacement(day, day, produced.rows)])
    return len(produced.rows)


def in_waves(registry: Registry, gaps: Sequence[tuple[str, date]], concurrency: int,
             run: Callable[[Processor, date], object]) -> None:
    """Each (processor, date) once, `concurrency` at a time, a processor's dependencies' dates
    in an earlier wave."""
    remaining = list(gaps)
    done: set[str] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-limit") as pool:
        while remaining:
            ready = {name for name, _ in remaining if set(registry.get(name).depends_on) <= done}
            wave = [(n, d) for n, d in remaining if n in ready]
            list(pool.map(lambda gap: run(registry.get(gap[0]), gap[1]), wave))
            remaining = [g for g in remaining if g[0] not in ready]
            done |= ready


def limit(warehouse: Warehouse, registry: Registry, gaps: Sequence[tuple[str, date]],
          concurrency: int) -> None:
    """The processors' own work and nothing else: no detection, queue, re-check or audit. On
    the latency wrapper this is the ideal: each date one read round, compute, one write round."""
    in_waves(registry, gaps, concurrency,
             lambda processor, day: compute_date(warehouse, registry, processor, day))


# -- the original system ----------------------------------------------------------------------

def original_gaps(warehouse: Warehouse, processor: Processor,
                  window: Window) -> list[tuple[str, date]]:
    """The original detection of one processor: the distinct (game_id, game_date) of each
    phase, the set difference in Python."""
    phase2 = {(g.game_id, g.game_date) for g in warehouse.scan_games(
        Scan(processor.source, window, processor.source_scan(window).names))}
    # The context's rows carry the schedule's id as nba_game_id (game_id is the date-based one).
    names = (("game_id", "nba_game_id"),) if processor.source_is_schedule else ()
    phase3 = {(g.game_id, g.game_date) for g in warehouse.scan_games(
        Scan(processor.target, window, names))}
    return sorted(phase2 - phase3)


def original_detection(warehouse: Warehouse, registry: Registry,
                       window: Window) -> dict[str, list[tuple[str, date]]]:
    return {p.name: original_gaps(warehouse, p, window)
            for p in sorted(registry.ordered(), key=lambda p: p.priority)}


@dataclass
class OriginalRun:
    """The original loop: its detection's time, and per processor how many runs it makes (one
    per missing game) and how long the runs timed took."""

    detection_seconds: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)
    timed_runs: dict[str, int] = field(default_factory=dict)
    timed_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Measured where every run was timed; otherwise each processor's timed runs' mean
        times its number of runs (the loop is sequential and every run of a processor does
        the same: two round trips and one date's compute)."""
        return self.detection_seconds + sum(
            self.timed_seconds[p] / self.timed_runs[p] * self.runs[p]
            for p in self.runs if self.timed_runs[p])

    @property
    def complete(self) -> bool:
        return self.runs == self.timed_runs


def original_loop(warehouse: Warehouse, registry: Registry, window: Window,
                  sample_dates: int | None = None) -> OriginalRun:
    """Per processor in priority order, detect, then run the processor for each missing game's
    date, sequentially (a date once per missing game). With `sample_dates`, only the games of
    each processor's first so many dates are run (and timed); the rest are counted."""
    out = OriginalRun()
    for processor in sorted(registry.ordered(), key=lambda p: p.priority):
        started = time.monotonic()
        gaps = original_gaps(warehouse, processor, window)
        out.detection_seconds += time.monotonic() - started
        dates = sorted({d for _, d in gaps})
        chosen = set(dates if sample_dates is None else dates[:sample_dates])
        timed = [d for _, d in gaps if d in chosen]
        started = time.monotonic()
        for day in timed:
            compute_date(warehouse, registry, processor, day)
        out.timed_seconds[processor.name] = time.monotonic() - started
        out.runs[processor.name] = len(gaps)
        out.timed_runs[processor.name] = len(timed)
    return out
