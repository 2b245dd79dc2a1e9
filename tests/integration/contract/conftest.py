"""Every contract test runs on both warehouses: a new DuckDB file, and a new project on the
BigQuery API emulator (bqemulator) through the real google-cloud-bigquery client."""

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
    """An empty warehouse of each kind."""
    if request.param == "duckdb":
        # The file is made by the first create_table (a read before would be a configuration
        # error: DuckDB must not mistake a mistyped path for an empty warehouse).
        warehouse: Warehouse = DuckDBWarehouse(tmp_path / "contract.duckdb")
    else:
        host = request.getfixturevalue("bigquery_emulator")
        warehouse = BigQueryWarehouse(f"contract-{uuid.uuid4().hex[:10]}", emulator_host=host,
                                      call_timeout=30.0)
    try:
        yield warehouse
    finally:
        warehouse.close()
