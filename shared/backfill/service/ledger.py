"""Backfill's own append-only tables (audit log, quarantine, runs): how rows are added to them.

Each is appended to with the warehouse's bulk append (BigQuery: streaming inserts), created on
first use where Terraform has not made it (a local warehouse), and given the columns a newer
version added where an older one made it. On BigQuery Terraform owns these tables' schemas (new
columns come last, so an apply adds them in place): a row naming a column the table lacks is
refused there, a PermanentError, and the table is not altered from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from backfill.domain.errors import MissingColumn, TableNotFound
from backfill.domain.quarantine import QUARANTINE_SCHEMA, QuarantineEvent
from backfill.domain.runs import RUNS_SCHEMA
from backfill.domain.tables import OpsTables, schema
from backfill.ports import Append, Change, Row, Warehouse

# Column names and types as terraform/bigquery.tf defines the table.
AUDIT_SCHEMA = schema(request_id="STRING", run_id="STRING", processor="STRING",
                      game_date="DATE", reason="STRING", outcome="STRING", attempts="INT64",
                      duration_ms="INT64", error="STRING", rows_written="INT64",
                      games_written="INT64", games_refused="INT64", detail="STRING",
                      worker="STRING", logged_at="TIMESTAMP",
                      published_by_processor="STRING")

def log_rows(ops: OpsTables, rows: Sequence[Row]) -> Append:
    return Append(ops.log, rows, AUDIT_SCHEMA, "logged_at")


def run_rows(ops: OpsTables, runs: Sequence[Row]) -> Append:
    return Append(ops.runs, runs, RUNS_SCHEMA, "recorded_at")


def quarantine_rows(ops: OpsTables, events: Sequence[QuarantineEvent]) -> Append:
    return Append(ops.quarantine, [e.as_row() for e in events], QUARANTINE_SCHEMA, "game_date")


def append(warehouse: Warehouse, changes: Sequence[Change]) -> None:
    """Write, creating the tables on first use (Terraform does in production; a local warehouse
    gets Backfill's own tables here, and a processor deployed late its target), or adding the
    columns a table made by an older version lacks."""
    try:
        warehouse.write(changes)
    except (TableNotFound, MissingColumn):
        for change in changes:
            warehouse.create_table(change.table, change.columns,
                                   change.partitioned_by if isinstance(change, Append)
                                   else "game_date")
        warehouse.write(changes)
