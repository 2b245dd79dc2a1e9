"""Seed a warehouse: the synthetic league as Phase 2, and Phase 3 computed by the processors.

The window is widened by the processors' longest lookback (the context reads two weeks of
schedule), so the first dates asked for are computed as a longer run would compute them. Each
processor computes from rows read back from the warehouse, as the worker reads them (with the
content fingerprints the warehouse attaches, which Phase 3 records), and its write is hashed by
the warehouse: a seeded warehouse is complete by detection's own judging.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
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
    report.dates = len({row["game_date"] for rows in phase2.values() for row in rows})
    report.games = len(Schedule.from_rows(phase2[registry.schedule]).games)
    compute_phase3(warehouse, registry, whole,
                   [p for p in registry.ordered() if p.source in phase2], progress)
    return report


def compute_phase3(warehouse: Warehouse, registry: Registry, window: Window,
                   processors: Sequence[Processor],
                   progress: Callable[[str], None] = lambda _: None) -> None:
    """Replace the window's Phase 3 rows of each processor (in run order) with what it computes
    from the warehouse's Phase 2 as it is now, as if every date had always held those rows."""
    lookback = max((p.source_lookback_days for p in processors), default=0)
    schedule_rows = warehouse.read_rows(registry.schedule_read(
        window.start - timedelta(days=lookback), window.end))
    schedule = Schedule.from_rows(schedule_rows)
    for processor in processors:
        since = window.start - timedelta(days=processor.source_lookback_days)
        source = ([r for r in schedule_rows if r["game_date"] >= since]
                  if processor.source_is_schedule else
                  warehouse.read_rows(processor.source_read(since, window.end)))
        upstream = {name: _by_date(warehouse.read_rows(
            registry.get(name).target_read(window.start, window.end)))
            for name in processor.depends_on}
        game_dates = sorted({r["game_date"] for r in source if r["game_date"] >= window.start})
        rows = _compute(processor, source, game_dates, upstream, schedule)
        warehouse.create_table(processor.target, processor.table_schema())
        warehouse.write([processor.replacement(window.start, window.end, rows)])
        progress(f"{processor.target}: {len(rows)} rows")


def _compute(processor: Processor, source: list[Row], game_dates: list[date],
             upstream: Mapping[str, Mapping[date, list[Row]]],
             schedule: Schedule) -> list[Row]:
    """Every date's rows, each date computed from the source rows of its lookback."""
    by_date = _by_date(source)
    out: list[Row] = []
    for day in game_dates:
        rows = [row for offset in range(processor.source_lookback_days, -1, -1)
                for row in by_date.get(day - timedelta(days=offset), [])]
        produced = processor.produce(day, rows, {name: games.get(day, []) for name, games
                                                 in upstream.items()}, schedule)
        out += produced.rows
    return out


def _by_date(rows: list[Row]) -> dict[date, list[Row]]:
    found: dict[date, list[Row]] = defaultdict(list)
    for row in rows:
        found[row["game_date"]].append(row)
    return found
