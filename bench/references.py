"""The two references every benchmark row is compared with: the original loop and the limit.

Both reuse the product's warehouse adapter and `run_processor`, so a ratio measures the loop's
shape (what runs, how often, how concurrently), not a difference in adapters.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from backfill.bootstrap import registry_from_file, warehouse_from_url
from backfill.domain.window import Window
from backfill.ports import GameScan, Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.work import run_processor


def original_gaps(warehouse: Warehouse, processor: Processor,
                  window: Window) -> list[tuple[str, date]]:
    """The original detection of one processor: the distinct (game_id, game_date) of each phase,
    the set difference in Python."""
    phase2 = {(g.game_id, g.game_date) for g in warehouse.scan_games(GameScan(processor.source, window))}
    phase3 = {(g.game_id, g.game_date) for g in warehouse.scan_games(GameScan(processor.target, window))}
    return sorted(phase2 - phase3)


def original_loop(warehouse: Warehouse, registry: Registry, window: Window,
                  processors: Sequence[str] | None = None) -> int:
    """Per processor in priority order, detect, then run the processor for each missing game's
    date, sequentially (the same date once per missing game). Returns the processor runs."""
    runs = 0
    for processor in sorted(registry.ordered(processors), key=lambda p: p.priority):
        for _game_id, game_date in original_gaps(warehouse, processor, window):
            run_processor(warehouse, registry, processor, game_date)
            runs += 1
    return runs


def limit(warehouse: Warehouse, registry: Registry, gaps: Sequence[tuple[str, date]],
          concurrency: int) -> int:
    """The processors' own work: each (processor, date) run once with `concurrency` threads, a
    processor's dependencies' dates first; no detection, queue, re-check or audit."""
    remaining = list(gaps)
    done: set[str] = set()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while remaining:
            ready = {name for name, _ in remaining if set(registry.get(name).depends_on) <= done}
            wave = [(n, d) for n, d in remaining if n in ready]
            list(pool.map(lambda gap: run_processor(warehouse, registry, registry.get(gap[0]),
                                                    gap[1]), wave))
            remaining = [g for g in remaining if g[0] not in ready]
            done |= ready
    return len(gaps)


def main(argv: Sequence[str]) -> None:
    """`python -m bench.references URL START END`: the original detection alone (for its RSS)."""
    url, start, end = argv
    warehouse, registry = warehouse_from_url(url), registry_from_file(None)
    window = Window(date.fromisoformat(start), date.fromisoformat(end))
    print(sum(len(original_gaps(warehouse, p, window))
              for p in sorted(registry.ordered(), key=lambda p: p.priority)))


if __name__ == "__main__":
    main(sys.argv[1:])
