"""The fast tier: pure functions, and services on a real DuckDB file with fakes for Pub/Sub
(tests/unit/fakes.py): no emulator, no subprocess, no server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from backfill.bootstrap import Backfill, bootstrap
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Replace
from backfill.processors.registry import Registry
from backfill.service.work import WorkResult
from backfill.settings import Settings

from tests.fixtures import real_shapes
from tests.fixtures.changes import deliver
from tests.unit.fakes import RecordingQueue


@pytest.fixture(scope="session")
def shapes_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made Phase 2 in the real shapes, no Phase 3 yet."""
    path = tmp_path_factory.mktemp("shapes") / "phase2.duckdb"
    warehouse = DuckDBWarehouse(path)
    load_phase2(warehouse, real_shapes.rows())
    warehouse.close()  # checkpointed, so a plain copy of the file holds everything
    return path


@pytest.fixture(scope="session")
def filled_template(tmp_path_factory: pytest.TempPathFactory, shapes_template: Path) -> Path:
    """The same with every gap filled by the worker: Phase 3 complete."""
    path = tmp_path_factory.mktemp("filled") / "filled.duckdb"
    shutil.copy(shapes_template, path)
    app = make_app(path)
    close_all_gaps(app)
    app.close()
    return path


def load_phase2(warehouse: DuckDBWarehouse, rows: dict) -> None:  # type: ignore[type-arg]
    for table, columns in real_shapes.SCHEMAS.items():
        warehouse.create_table(table, columns)
        warehouse.write([Replace(table, real_shapes.FIRST, real_shapes.LAST, rows[table],
                                 columns)])


def make_app(path: Path, registry: Registry | None = None, **settings: object) -> Backfill:
    """The application on a DuckDB file with Pub/Sub faked; a test that changes processors
    passes a registry of its own (the default one is shared by the whole session)."""
    queue = RecordingQueue()
    chosen = Settings.load({"warehouse": f"duckdb://{path}", "retry_budget_seconds": 5.0,
                            **settings}, environ={})
    return bootstrap(chosen, warehouse=DuckDBWarehouse(path), queue=queue, inbox=queue.inbox(),
                     registry=registry)


def deliver_published(app: Backfill, **worker: object) -> list[WorkResult]:
    """Hand every request published so far to a worker (its fields overridden by `worker`)."""
    handler = app.worker()
    for key, value in worker.items():
        setattr(handler, key, value)
    return deliver(app, handler)


def close_all_gaps(app: Backfill) -> list[WorkResult]:
    from backfill.domain.window import Window
    from backfill.service.detect import detect

    detect(app.warehouse, app.registry, app.ops, app.queue,
           Window(real_shapes.FIRST, real_shapes.LAST))
    return deliver_published(app)


def app_on_copy(template: Path, folder: Path) -> Iterator[Backfill]:
    """An app on a copy of a warehouse template, closed after the test."""
    path = folder / "warehouse.duckdb"
    shutil.copy(template, path)
    app = make_app(path)
    yield app
    app.close()


@pytest.fixture
def shapes_app(tmp_path: Path, shapes_template: Path) -> Iterator[Backfill]:
    yield from app_on_copy(shapes_template, tmp_path)


@pytest.fixture
def filled_app(tmp_path: Path, filled_template: Path) -> Iterator[Backfill]:
    yield from app_on_copy(filled_template, tmp_path)
