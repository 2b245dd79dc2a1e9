"""Detection as a process of its own: `python -m bench.detection WHICH URL START END`.

WHICH is one of
- `current`: Backfill's detection (`detect`, dry run) of the built-in processors;
- `without`: the same detection of bench-only variants of them whose scans hash nothing (no
  content fingerprint of any source, no content or row-hash check of any target): what issue 21's
  fingerprints cost, measured in the same run on the same data (an input without a fingerprint
  is unknown, so it judges counts and versions only);
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

from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Scan
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.detect import detect

from bench.references import original_detection
from bench.warehouses import BUILTIN, OPS

PREFIX = "detect-seconds "
WHICH = ("current", "without", "original")


def _plain_source_scan(self: Processor, window: Window, fingerprints: bool = True) -> Scan:
    return Processor.source_scan(self, window, fingerprints=False)


def _plain_target_scan(self: Processor, window: Window, present: object = None) -> Scan:
    scan = Processor.target_scan(self, window, present)  # type: ignore[arg-type]
    return Scan(scan.table, scan.window, scan.names, scan.count_where, scan.maxima)


def unfingerprinted_registry(registry: Registry = BUILTIN) -> Registry:
    """The processors with the same names, tables, dependencies, lookbacks and versions, whose
    scans count rows and read versions and recorded inputs but hash nothing."""
    variants = []
    for processor in registry.ordered():
        cls = type(processor)
        variant = type(f"Plain{cls.__name__}", (cls,), {
            "source_scan": _plain_source_scan, "target_scan": _plain_target_scan})
        variants.append(variant(name=processor.name, source=processor.source,
                                target=processor.target, depends_on=processor.depends_on,
                                priority=processor.priority, version=processor.version,
                                columns=processor.columns))
    return Registry(variants, registry.schedule, registry.schedule_columns)


def run(which: str, warehouse: DuckDBWarehouse, window: Window) -> int:
    """Detect once; returns the number of (processor, date) candidates (or original gaps)."""
    if which == "original":
        return sum(len(g) for g in original_detection(warehouse, BUILTIN, window).values())
    registry = BUILTIN if which == "current" else unfingerprinted_registry()
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
