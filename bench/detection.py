"""Detection as a process of its own: `python -m bench.detection WHICH URL START END`.

WHICH is one of
- `current`: Backfill's detection (`detect`, dry run) of the built-in processors;
- `previous`: the same detection of bench-only variants of them that read what detection read
  before issue 13 (no lineage columns but the source's processed time, no lookback, no versions);
  there is no older code to run, so this is what "today's detection" of that issue is measured
  against, in the same run on the same data;
- `original`: the original's (the distinct (game_id, game_date) of each phase per processor, the
  set difference in Python; bench/references.py).

It prints `detect-seconds S` (the detection alone, after imports) on stdout; run under
bench/peak.py its peak RSS follows on stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import date

from backfill.domain.lineage import SOURCE_PROCESSED_AT
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Scan
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.detect import detect

from bench.references import original_detection
from bench.warehouses import BUILTIN, OPS

PREFIX = "detect-seconds "
WHICH = ("current", "previous", "original")


def _previous_target_scan(self: Processor, window: Window,
                          present: object = None) -> Scan:
    """Row counts and the processed time of the source the rows were computed from only."""
    return Scan(self.target, window, maxima=(("processed_at", SOURCE_PROCESSED_AT),))


def previous_registry(registry: Registry = BUILTIN) -> Registry:
    """The processors as detection saw them before issue 13: same names, tables, dependencies
    and priorities; no lookback, no version, and a target scan without the upstream versions,
    content versions and processor versions."""
    variants = []
    for processor in registry.ordered():
        cls = type(processor)
        variant = type(f"Previous{cls.__name__}", (cls,), {
            "source_lookback_days": 0, "version": None, "target_scan": _previous_target_scan})
        variants.append(variant(name=processor.name, source=processor.source,
                                target=processor.target, depends_on=processor.depends_on,
                                priority=processor.priority, columns=processor.columns))
    return Registry(variants, registry.schedule, registry.schedule_columns)


def run(which: str, warehouse: DuckDBWarehouse, window: Window) -> int:
    """Detect once; returns the number of (processor, date) candidates (or original gaps)."""
    if which == "original":
        return sum(len(g) for g in original_detection(warehouse, BUILTIN, window).values())
    registry = BUILTIN if which == "current" else previous_registry()
    return len(detect(warehouse, registry, OPS, None, window).candidates)


def main(argv: Sequence[str]) -> None:
    which, url, start, end = argv
    if which not in WHICH:
        raise SystemExit(f"expected one of {WHICH}, not {which!r}")
    warehouse = DuckDBWarehouse(url.removeprefix("duckdb://"))
    window = Window(date.fromisoformat(start), date.fromisoformat(end))
    started = time.monotonic()
    found = run(which, warehouse, window)
    print(f"{PREFIX}{time.monotonic() - started:.6f} found {found}")
    warehouse.close()


if __name__ == "__main__":
    main(sys.argv[1:])
