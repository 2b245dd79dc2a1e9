"""The warehouses the rows run on: seeded once per bench run as templates, copied for each run."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from backfill.bootstrap import registry_from_file
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seed.league import SCHEDULE
from backfill.local.seeding import seed
from backfill.ports import GameScan
from backfill.processors.registry import Registry
from backfill.service.gaps import processor_gaps

BUILTIN: Registry = registry_from_file(None)


@dataclass(frozen=True)
class Template:
    """A seeded, gap-free warehouse file and the game dates it holds, in order."""

    path: Path
    game_dates: tuple[date, ...]

    def copy(self, folder: Path) -> DuckDBWarehouse:
        """A fresh copy to run on (the template itself is never written after seeding)."""
        path = folder / f"run-{uuid.uuid4().hex[:8]}.duckdb"
        shutil.copy(self.path, path)
        return DuckDBWarehouse(path)

    def dates_from(self, first: date, count: int) -> Window:
        """The window of `count` game dates starting at the first on or after `first`."""
        dates = [d for d in self.game_dates if d >= first][:count]
        return Window(dates[0], dates[-1])


def seed_template(folder: Path, window: Window) -> Template:
    """Seed the synthetic league for `window` into a file of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(folder / f"template-{window.start}-{window.end}.duckdb")
    seed(warehouse, BUILTIN, window)
    dates = sorted({g.game_date for g in warehouse.scan_games(GameScan(SCHEDULE, window))})
    warehouse.close()
    return Template(warehouse.path, tuple(dates))


def remove_phase3(warehouse: DuckDBWarehouse, window: Window) -> list[tuple[str, date]]:
    """Delete every built-in processor's Phase 3 rows in `window`; returns the (processor, date)
    gaps that leaves, dependencies first (what the limit runs)."""
    for processor in BUILTIN.ordered():
        warehouse.replace_range(processor.target, window.start, window.end, [], processor.schema)
    gaps = [(c.processor, c.game_date) for p in BUILTIN.ordered()
            for c in processor_gaps(warehouse, p, window).candidates]
    warehouse.close()
    return gaps


def open_gaps(warehouse: DuckDBWarehouse, registry: Registry, window: Window,
              names: list[str] | None = None) -> int:
    """How many (processor, date) gaps remain: a run only counts if this is zero afterwards."""
    return sum(len(processor_gaps(warehouse, p, window).candidates)
               for p in registry.ordered(names))
