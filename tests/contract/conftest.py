"""Every contract test runs on both warehouses: a DuckDB file and BigQuery (the API emulator)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from backfill.adapters.bigquery_warehouse import BigQueryWarehouse
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Warehouse


@pytest.fixture(params=["duckdb", "bigquery"])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse of each kind: a new DuckDB file, or a new project on the emulator."""
    if request.param == "duckdb":
        warehouse: Warehouse = DuckDBWarehouse(tmp_path / "contract.duckdb")
    else:
        request.getfixturevalue("bigquery_emulator")
        warehouse = BigQueryWarehouse(f"contract-{uuid.uuid4().hex[:10]}", deadline_seconds=30)
    try:
        yield warehouse
    finally:
        warehouse.close()
