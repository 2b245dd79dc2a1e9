"""The audit trail: one `backfill_log` row per terminal outcome and per failed attempt.

Rows are written in batches through the warehouse's bulk append (BigQuery: streaming inserts),
never a load job each (lesson 9). An audit write that fails is logged with its rows and counted;
it never changes the request's outcome.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime

from backfill.domain.errors import TableNotFound
from backfill.domain.tables import TableRef, schema
from backfill.ports import Row, Warehouse
from backfill.service.work import WORKER, Outcome, WorkResult

log = logging.getLogger("backfill.audit")

AUDIT_TABLE = "backfill_log"
# Column names and types as terraform/bigquery.tf defines the table.
AUDIT_SCHEMA = schema(request_id="STRING", processor="STRING", game_date="DATE",
                      reason="STRING", outcome="STRING", attempts="INT64", duration_ms="INT64",
                      error="STRING", rows_written="INT64", worker="STRING",
                      logged_at="TIMESTAMP")
FAILED_ATTEMPT = "failed_attempt"


def audit_table(dataset: str) -> TableRef:
    return TableRef(dataset, AUDIT_TABLE)


def audit_rows(result: WorkResult, worker: str = WORKER) -> list[Row]:
    """The rows one delivery leaves: each failed attempt, then the terminal outcome if any."""
    request = result.request
    common: Row = {"request_id": request.request_id if request else None,
                   "processor": request.processor if request else None,
                   "game_date": request.game_date if request else None,
                   "reason": request.reason.value if request else None, "worker": worker}
    rows = [{**common, "outcome": FAILED_ATTEMPT, "attempts": number, "duration_ms": None,
             "error": failure.error, "rows_written": 0, "logged_at": failure.at}
            for number, failure in enumerate(result.failures, start=1)
            # A malformed request's one "failure" is its dead-lettering, not an attempt.
            if request is not None]
    if result.outcome is not Outcome.RETRY:
        rows.append({**common, "outcome": result.outcome.value, "attempts": result.attempts,
                     "duration_ms": result.duration_ms, "error": result.error,
                     "rows_written": result.rows_written, "logged_at": datetime.now(UTC)})
    return rows


class AuditLog:
    """Buffers rows and appends them `batch_rows` at a time; thread-safe, never raises."""

    def __init__(self, warehouse: Warehouse, table: TableRef, batch_rows: int = 1) -> None:
        self.warehouse = warehouse
        self.table = table
        self.batch_rows = batch_rows
        self.write_failures = 0
        self._rows: list[Row] = []
        self._lock = threading.Lock()

    def record(self, result: WorkResult) -> None:
        with self._lock:
            self._rows += audit_rows(result)
            full = len(self._rows) >= self.batch_rows
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered; on failure log the rows (so they are not lost) and count it."""
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                self._append(rows)
            except Exception as exc:  # noqa: BLE001 - the audit trail must never fail a request
                self.write_failures += 1
                log.error("audit write to %s failed (%d so far): %s: %s; rows: %s", self.table,
                          self.write_failures, type(exc).__name__, exc,
                          json.dumps(rows, default=_json_default))

    def _append(self, rows: Sequence[Row]) -> None:
        try:
            self.warehouse.load_rows(self.table, rows, AUDIT_SCHEMA)
        except TableNotFound:
            # Terraform creates it in production; a local warehouse gets it on first use.
            self.warehouse.create_table(self.table, AUDIT_SCHEMA)
            self.warehouse.load_rows(self.table, rows, AUDIT_SCHEMA)


def read_history(warehouse: Warehouse, table: TableRef, *, processor: str | None = None,
                 game_date: date | None = None, limit: int | None = None) -> list[Row]:
    """Audit rows, newest first, of one processor and/or game date if given."""
    start, end = (game_date, game_date) if game_date else (date.min, date.max)
    try:
        found = warehouse.read_rows(table, start, end)
    except TableNotFound:
        return []  # nothing has been audited in this warehouse yet
    rows = [r for r in found if processor is None or r["processor"] == processor]
    rows.sort(key=lambda r: r["logged_at"], reverse=True)
    return rows[:limit] if limit is not None else rows


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
