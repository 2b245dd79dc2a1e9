"""Seed a warehouse: the synthetic league as Phase 2, and Phase 3 computed by the processors.

The window is widened by the processors' longest lookback (the context reads two weeks of
schedule), so the first dates asked for are computed as a longer run would compute them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from backfill.domain.schedule import Schedule
from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.local.seed.league import PHASE2_SCHEMAS, generate_phase2
from backfill.ports import Replace, Row, Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry


@dataclass
class SeedReport:
    window: Window
    games: int = 0
    dates: int = 0


def phase2_tables(registry: Registry) -> dict[TableRef, TableRef]:
    """Where each table the league writes goes: the registry's own tables of the same name
    (its datasets may be configured)."""
    configured = {p.source.table: p.source for p in registry.ordered()}
    configured[registry.schedule.table] = registry.schedule
    return {table: configured.get(table.table, table) for table in PHASE2_SCHEMAS}


def seeded_window(registry: Registry, window: Window) -> Window:
    lookback = max((p.source_lookback_days for p in registry.ordered()), default=0)
    return Window(window.start - timedelta(days=lookback), window.end)


def seed(warehouse: Warehouse, registry: Registry, window: Window,
         progress: Callable[[str], None] = lambda _: None) -> SeedReport:
    """Replace the (widened) window's rows of every table with a complete, gap-free league."""
    whole = seeded_window(registry, window)
    report = SeedReport(whole)
    tables = phase2_tables(registry)
    phase2 = {tables[table]: rows for table, rows in generate_phase2(whole.start,
                                                                     whole.end).items()}
    for league_table, table in tables.items():
        warehouse.create_table(table, PHASE2_SCHEMAS[league_table])
        warehouse.write([Replace(table, whole.start, whole.end, phase2[table],
                                 PHASE2_SCHEMAS[league_table])])
        progress(f"{table}: {len(phase2[table])} rows")
    schedule = Schedule.from_rows(phase2[registry.schedule])
    types = schedule.types()
    game_dates = sorted({row["game_date"] for rows in phase2.values() for row in rows})
    report.dates = len(game_dates)
    report.games = len(types)
    computed: dict[str, dict[date, list[Row]]] = defaultdict(dict)
    for processor in registry.ordered():
        if processor.source not in phase2:
            continue  # a configured processor whose source the league does not make
        rows = _compute(processor, phase2[processor.source], game_dates, computed, schedule)
        warehouse.create_table(processor.target, processor.table_schema())
        warehouse.write([Replace(processor.target, whole.start, whole.end, rows,
                                 processor.table_schema())])
        progress(f"{processor.target}: {len(rows)} rows")
    return report


def _compute(processor: Processor, source: list[Row], game_dates: list[date],
             computed: dict[str, dict[date, list[Row]]],
             schedule: Schedule) -> list[Row]:
    """Every date's rows, each date computed from the source rows of its lookback."""
    by_date: dict[date, list[Row]] = defaultdict(list)
    for row in source:
        by_date[row["game_date"]].append(row)
    out: list[Row] = []
    for day in game_dates:
        rows = [row for offset in range(processor.source_lookback_days, -1, -1)
                for row in by_date.get(day - timedelta(days=offset), [])]
        upstream = {name: computed[name].get(day, []) for name in processor.depends_on}
        produced = processor.produce(day, rows, upstream, schedule)
        computed[processor.name][day] = produced.rows
        out += produced.rows
    return out
