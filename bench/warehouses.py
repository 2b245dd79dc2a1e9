"""The warehouse the rows run on: seeded once per bench run as a template, copied for each run."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from backfill.bootstrap import registry_from_settings
from backfill.domain.quarantine import QUARANTINE_SCHEMA
from backfill.domain.runs import RUNS_SCHEMA
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seeding import seed
from backfill.ports import Read, Replace, Warehouse
from backfill.processors.registry import Registry
from backfill.service.detect import find_gaps
from backfill.service.ledger import AUDIT_SCHEMA

BUILTIN: Registry = registry_from_settings(None)
OPS = OpsTables("backfill_ops")


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

    def window_of(self, fraction: float) -> Window:
        """The first `fraction` of the template's game dates."""
        count = max(1, round(fraction * len(self.game_dates)))
        return Window(self.game_dates[0], self.game_dates[count - 1])


def seed_template(folder: Path, window: Window) -> Template:
    """Seed the synthetic league for `window` into a file of its own, with Backfill's own tables
    made (Terraform makes them in production: a missing one would cost BigQuery's adapter a
    describe on every read)."""
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(folder / f"template-{window.start}-{window.end}.duckdb")
    seed(warehouse, BUILTIN, window)
    for table, columns, partitioned_by in ((OPS.log, AUDIT_SCHEMA, "logged_at"),
                                           (OPS.quarantine, QUARANTINE_SCHEMA, "game_date"),
                                           (OPS.runs, RUNS_SCHEMA, "recorded_at")):
        warehouse.create_table(table, columns, partitioned_by)
    dates = sorted({r["game_date"] for r in warehouse.read_rows(
        BUILTIN.schedule_read(window.start, window.end))})
    warehouse.close()
    return Template(warehouse.path, tuple(dates))


def remove_phase3(warehouse: DuckDBWarehouse, window: Window,
                  registry: Registry = BUILTIN) -> list[tuple[str, date]]:
    """Empty every processor's Phase 3 dates in `window`; returns the (processor, date) gaps
    that leaves, dependencies first, oldest date first (what the limit runs)."""
    for processor in registry.ordered():
        warehouse.write([Replace(processor.target, window.start, window.end, [],
                                 processor.table_schema())])
    gaps = [(c.processor, c.game_date) for p in find_gaps(warehouse, registry, OPS, window)
            for c in p.candidates]
    warehouse.close()
    return gaps


def open_gaps(warehouse: Warehouse, window: Window, registry: Registry = BUILTIN,
              names: list[str] | None = None) -> int:
    """How many (processor, date) gaps remain: a run only counts if this is zero afterwards."""
    return sum(len(p.candidates) for p in find_gaps(warehouse, registry, OPS, window, names))


def phase3_rows(warehouse: Warehouse, window: Window, registry: Registry = BUILTIN) -> int:
    return sum(len(warehouse.read_rows(Read(p.target, window.start, window.end,
                                            columns=(("game_id", "game_id"),))))
               for p in registry.ordered())
