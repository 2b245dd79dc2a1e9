"""Find one processor's gaps: separate queries (never a cross-region JOIN), compared in code.

Detection, the worker's re-check and `status` all go through here, so they apply the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backfill.domain.errors import TableNotFound
from backfill.domain.gaps import Candidate, GameStat, Gaps, find_gaps
from backfill.domain.window import Window
from backfill.ports import Warehouse
from backfill.processors.base import Processor, schedule_scan


@dataclass
class Schedule:
    """The schedule's games of a window, or why it could not be read (then nothing is filtered)."""

    games: list[GameStat]
    error: str | None = None


def read_schedule(warehouse: Warehouse, window: Window) -> Schedule:
    """The window's scheduled games; a missing schedule table is reported, not raised."""
    try:
        return Schedule(warehouse.scan_games(schedule_scan(window)))
    except TableNotFound as exc:
        return Schedule([], f"no game types or upstream gaps: {exc}")


@dataclass
class ProcessorGaps(Gaps):
    """A processor's gaps, why its upstream check could not run (if so), and the Phase 2 games
    read on the way (`status` counts games by them rather than reading them again)."""

    upstream_error: str | None = None
    phase2: list[GameStat] = field(default_factory=list)


def processor_gaps(warehouse: Warehouse, processor: Processor, window: Window,
                   schedule: Schedule | None = None) -> ProcessorGaps:
    """Every game of the window that Phase 3 lacks (missing, incomplete, stale) or Phase 2 lacks.

    `schedule` is the window's, when the caller has read it already (for several processors).
    Raises TableNotFound when the processor's own source or target table is missing.
    """
    known = schedule
    schedule, phase2, phase3 = read_all(
        warehouse,
        lambda: known if known is not None else read_schedule(warehouse, window),
        lambda: warehouse.scan_games(processor.source_scan(window)),
        lambda: warehouse.scan_games(processor.target_scan(window)))
    found = find_gaps(processor.name, phase2, phase3, schedule.games, processor.gap_rule())
    return ProcessorGaps(found.candidates, found.upstream, schedule.error, phase2)


def read_all(warehouse: Warehouse, *reads: Callable[[], Any]) -> list[Any]:
    """Independent reads: at once on a latency-bound warehouse (BigQuery: three jobs cost one
    round trip), one after another otherwise (DuckDB in one process: threads only contend)."""
    if not warehouse.latency_bound:
        return [read() for read in reads]
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        return [future.result() for future in [pool.submit(read) for read in reads]]


def date_gap(warehouse: Warehouse, processor: Processor, game_date: date,
             schedule: Schedule | None = None) -> Candidate | None:
    """The gap of one date, if it is still there (the worker's re-check)."""
    window = Window(game_date, game_date)
    candidates = processor_gaps(warehouse, processor, window, schedule).candidates
    return candidates[0] if candidates else None
