"""The application on the BigQuery API emulator: a project of its own per test, the hand-made
Phase 2 in the real shapes loaded (partitioned by game_date, as the pipeline's tables are),
Backfill's own tables made as Terraform makes them, and Pub/Sub faked (RecordingQueue)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import google.cloud.bigquery as bigquery
from backfill.adapters.bigquery_warehouse import BigQueryWarehouse
from backfill.bootstrap import Backfill, bootstrap
from backfill.domain.quarantine import QUARANTINE_SCHEMA
from backfill.domain.runs import RUNS_SCHEMA
from backfill.domain.tables import OpsTables, TableRef
from backfill.ports import Replace, Row, Warehouse
from backfill.processors.registry import Registry
from backfill.service.ledger import AUDIT_SCHEMA
from backfill.settings import Settings
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

from tests.fixtures import real_shapes
from tests.unit.fakes import RecordingQueue


def new_project(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def load_phase2(warehouse: Warehouse,
                rows: Mapping[TableRef, list[Row]] | None = None) -> None:
    """The fixture's Phase 2 tables, each created partitioned by game_date, then filled."""
    rows = rows if rows is not None else real_shapes.rows()
    for table, columns in real_shapes.SCHEMAS.items():
        warehouse.create_table(table, columns)
        warehouse.write([Replace(table, real_shapes.FIRST, real_shapes.LAST, rows[table],
                                 columns)])


def create_ops_tables(warehouse: Warehouse, ops: OpsTables) -> None:
    """Backfill's own tables, partitioned and clustered as terraform/bigquery.tf has them."""
    warehouse.create_table(ops.log, AUDIT_SCHEMA, partitioned_by="logged_at")
    warehouse.create_table(ops.quarantine, QUARANTINE_SCHEMA, partitioned_by="game_date")
    warehouse.create_table(ops.runs, RUNS_SCHEMA, partitioned_by="recorded_at")


def settings_for(project: str, host: str, **changes: object) -> Settings:
    return Settings.load({"warehouse": f"bigquery://{project}", "bigquery_emulator_host": host,
                          "retry_budget_seconds": 60.0, **changes}, environ={})


def make_app(settings: Settings, warehouse: Warehouse | None = None,
             queue: RecordingQueue | None = None, registry: Registry | None = None) -> Backfill:
    """The application as a function builds it (`warehouse` None: from the settings, through
    bootstrap's own wiring), with Pub/Sub faked."""
    queue = queue or RecordingQueue()
    return bootstrap(settings, warehouse=warehouse, queue=queue, inbox=queue.inbox(),
                     registry=registry)


def loader(project: str, host: str) -> BigQueryWarehouse:
    """A warehouse of its own for setting up and checking, so the one under test starts cold."""
    return BigQueryWarehouse(project, emulator_host=host, call_timeout=30.0)


def client(project: str, host: str) -> bigquery.Client:
    """A plain client on the emulator, for what the port does not show (clustering, jobs)."""
    return bigquery.Client(project=project,
                           credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                           client_options=ClientOptions(api_endpoint=f"http://{host}"))


_STORAGE_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


def storing_added_columns(host: str) -> Callable[[str, Any], Callable[[], None]]:
    """A recorder hook for tables.patch (tests/bigquery_emulator/recorder.py) working around
    bqemulator 1.4: its tables.patch adds columns to a table's metadata but not to its stored
    data (a query naming them then fails with a binder error), while ALTER TABLE ... ADD COLUMN
    does the reverse, one ALTER per statement. So once the emulator has taken a patch that adds
    columns, the harness ALTERs each one into storage too. The product sends only the
    tables.patch real BigQuery documents; this runs outside it, on the emulator directly."""

    def before(path: str, body: Any) -> Callable[[], None]:
        # /bigquery/v2/projects/P/datasets/D/tables/T
        _, _, project, _, dataset, _, table = path.removeprefix("/bigquery/v2").split("/")
        plain = client(project, host)
        had = {f.name for f in plain.get_table(f"{project}.{dataset}.{table}").schema}

        def after() -> None:
            for added in (f for f in body["schema"]["fields"] if f["name"] not in had):
                kind = _STORAGE_TYPES.get(added["type"], added["type"])
                plain.query(f"ALTER TABLE `{dataset}`.`{table}` "
                            f"ADD COLUMN {added['name']} {kind}").result()
        return after

    return before
