"""Fixtures: one real Pub/Sub emulator per session, seeded DuckDB warehouses copied from a template."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from backfill.bootstrap import registry_from_file
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seeding import seed
from backfill.local.stack import pubsub_emulator as local_pubsub_emulator
from backfill.settings import Settings

from tests.bigquery_emulator import BigQueryEmulator
from tests.support import unique_settings

# Two weeks of November 2024: about 100 games, every processor has rows on every date.
SEED_WINDOW = Window(date(2024, 11, 1), date(2024, 11, 14))


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """The official emulator, started for the session (and stopped), unless one is configured."""
    with local_pubsub_emulator("backfill-local") as host:
        yield host


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[str]:
    """The BigQuery API emulator (bqemulator) for the session; sets BIGQUERY_EMULATOR_HOST."""
    emulator = BigQueryEmulator()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BIGQUERY_EMULATOR_HOST", emulator.host)
            yield emulator.host
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seeded.duckdb"
    template = DuckDBWarehouse(path)
    seed(template, registry_from_file(None), SEED_WINDOW)
    template.close()  # checkpointed, so a plain copy of the file holds everything
    return path


@pytest.fixture
def warehouse_path(tmp_path: Path, seeded_template: Path) -> Path:
    """A fresh copy of the seeded, gap-free warehouse."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(seeded_template, path)
    return path


@pytest.fixture
def warehouse(warehouse_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(warehouse_path)


@pytest.fixture
def settings(warehouse_path: Path, pubsub_emulator: str) -> Settings:
    """Settings on the seeded copy with topics and subscriptions of the test's own (created)."""
    from backfill.adapters.pubsub_queue import ensure_topology
    from backfill.local.cycle import topology

    made = unique_settings(warehouse_path)
    ensure_topology(topology(made))
    return made
