"""Find one processor's gaps: two separate queries (never a cross-region JOIN), compared in code."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from backfill.domain.gaps import Candidate, find_candidates
from backfill.domain.window import Window
from backfill.ports import Warehouse
from backfill.processors.base import Processor


def processor_gaps(warehouse: Warehouse, processor: Processor, window: Window) -> list[Candidate]:
    """Every (processor, date) in the window whose Phase 3 lacks what Phase 2 has."""
    # Both queries at once: on BigQuery each is mostly waiting (DuckDB queues them on its lock).
    with ThreadPoolExecutor(max_workers=2) as pool:
        phase2 = pool.submit(warehouse.scan_games, processor.source_scan(window))
        phase3 = pool.submit(warehouse.scan_games, processor.target_scan(window))
        return find_candidates(processor.name, phase2.result(), phase3.result())


def date_gap(warehouse: Warehouse, processor: Processor, game_date: date) -> Candidate | None:
    """The gap of one date, if it is still there (the worker's re-check)."""
    candidates = processor_gaps(warehouse, processor, Window(game_date, game_date))
    return candidates[0] if candidates else None
