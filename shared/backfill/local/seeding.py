"""Seed a warehouse: the synthetic league as Phase 2, and Phase 3 computed by the processors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.local.seed import PHASE2_SCHEMAS, generate_phase2
from backfill.ports import Row, Warehouse
from backfill.processors.registry import Registry
from backfill.service.work import stamp_source_processed_at


@dataclass
class SeedReport:
    rows: dict[str, int] = field(default_factory=dict)
    games: int = 0
    dates: int = 0


def create_tables(warehouse: Warehouse, registry: Registry) -> None:
    """Create every Phase 2 table the league writes and every processor's Phase 3 table."""
    for table, columns in PHASE2_SCHEMAS.items():
        warehouse.create_table(table, columns)
    for processor in registry.ordered():
        warehouse.create_table(processor.target, processor.schema)


def seed(warehouse: Warehouse, registry: Registry, window: Window,
         progress: Callable[[str], None] = lambda _: None) -> SeedReport:
    """Replace the window's rows of every table with a complete, gap-free league."""
    create_tables(warehouse, registry)
    report = SeedReport()
    phase2 = generate_phase2(window.start, window.end)
    for table, rows in phase2.items():
        report.rows[str(table)] = warehouse.replace_range(table, window.start, window.end, rows,
                                                          PHASE2_SCHEMAS[table])
        progress(f"{table}: {len(rows)} rows")
    by_table_date: dict[TableRef, dict[date, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for table, rows in phase2.items():
        for row in rows:
            by_table_date[table][row["game_date"]].append(row)
    game_dates = sorted({d for dates in by_table_date.values() for d in dates})
    report.dates = len(game_dates)
    report.games = len({r["game_id"] for rows in phase2.values() for r in rows})
    computed: dict[str, dict[date, list[Row]]] = defaultdict(dict)
    for processor in registry.ordered():
        if processor.source not in phase2:
            continue  # a configured processor whose source the league does not make
        source_by_date = by_table_date[processor.source]
        for day in game_dates:
            source = [row for offset in range(processor.source_lookback_days, -1, -1)
                      for row in source_by_date.get(day - timedelta(days=offset), [])]
            if not any(row["game_date"] == day for row in source):
                continue
            upstream = {name: computed[name].get(day, []) for name in processor.depends_on}
            rows = processor.compute(day, source, upstream)
            stamp_source_processed_at(rows, source, day)
            computed[processor.name][day] = rows
        all_rows = [row for rows in computed[processor.name].values() for row in rows]
        report.rows[str(processor.target)] = warehouse.replace_range(
            processor.target, window.start, window.end, all_rows, processor.schema)
        progress(f"{processor.target}: {len(all_rows)} rows")
    return report
