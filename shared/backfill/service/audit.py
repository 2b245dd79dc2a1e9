"""The audit trail: one `backfill_log` row per terminal outcome and per failed attempt.

Two ways to record them, chosen by the settings (ports.py:AuditTopic says which mode uses
which): published to the audit topic, which a BigQuery subscription writes into the table (a
deployed worker: a publish is confirmed in tens of milliseconds and takes BigQuery's streaming
quotas off the worker), or appended to the warehouse in batches (BigQuery: streaming inserts),
never a load job each: one load job per audit row once hit the load-job quota and blocked a
pipeline for hours. Either way the rows are confirmed before the delivery is answered, and a
write that fails is logged with its rows (event `audit_write_failed`, which an alert counts) and
never changes the request's outcome. A delivery's terminal row says what it published down the
chain under its run (`published_by_processor`), which the run's progress counts: nothing else
to record, no warehouse round trip. A request typed by hand belongs to no run yet: its first
audit row comes with the row of a manual run of its own, appended to the warehouse.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
from collections import Counter
from datetime import UTC, date, datetime

from backfill.domain.deadline import Deadline
from backfill.domain.errors import TableNotFound
from backfill.domain.outcome import Outcome
from backfill.domain.runs import Run, Trigger
from backfill.domain.tables import OpsTables
from backfill.ports import AuditTopic, Change, Read, Row, Scalar, Warehouse
from backfill.service.ledger import append, log_rows, run_rows
from backfill.service.work import WorkResult

log = logging.getLogger("backfill.audit")

FAILED_ATTEMPT = "failed_attempt"


@functools.cache
def hostname() -> str:
    return socket.gethostname()


def audit_rows(result: WorkResult) -> list[Row]:
    """The rows one delivery leaves: each failed attempt, then the terminal outcome if any."""
    request = result.request
    common: Row = {"request_id": request.request_id if request else None,
                   "run_id": request.run_id if request else None,
                   "processor": request.processor if request else None,
                   "game_date": request.game_date if request else None,
                   "reason": request.reason.value if request else None, "worker": hostname()}
    rows = [{**common, "outcome": FAILED_ATTEMPT, "attempts": number, "duration_ms": None,
             "error": failure.text, "rows_written": 0, "games_written": 0, "games_refused": 0,
             "detail": None, "published_by_processor": None, "logged_at": failure.at}
            for number, failure in enumerate(result.failures, start=1)]
    if result.outcome is not Outcome.RETRY:
        rows.append({**common, "outcome": result.outcome.value, "attempts": result.attempts,
                     "duration_ms": result.duration_ms, "error": result.error,
                     "rows_written": result.rows_written, "games_written": result.games_written,
                     "games_refused": len(result.refused), "detail": result.detail,
                     "published_by_processor": _by_processor(result),
                     "logged_at": datetime.now(UTC)})
    return rows


def _by_processor(result: WorkResult) -> str | None:
    """What the delivery published under its run, per processor (JSON); None if nothing."""
    counts = Counter(r.processor for r in result.published)
    return json.dumps(dict(sorted(counts.items()))) if counts else None


def manual_run(result: WorkResult) -> Run | None:
    """The run of a request that came without one (typed by hand): itself, published once."""
    request = result.request
    if request is None or request.detection_run_id is not None:
        return None
    return Run(request.run_id, Trigger.MANUAL, f"message {result.message_id or '?'}",
               request.requested_at, {request.processor: 1}, 1,
               window=(request.game_date, request.game_date), processors=(request.processor,))


class AuditLog:
    """Buffers rows and records them `batch_rows` at a time: published to `topic` if there is
    one, else appended to the warehouse; thread-safe, never raises."""

    def __init__(self, warehouse: Warehouse, ops: OpsTables, batch_rows: int = 1,
                 topic: AuditTopic | None = None) -> None:
        self.warehouse = warehouse
        self.ops = ops
        self.batch_rows = batch_rows
        self.topic = topic
        self.write_failures = 0
        self._rows: list[Row] = []
        self._runs: list[Row] = []
        self._lock = threading.Lock()

    def record(self, result: WorkResult, deadline: Deadline | None = None) -> None:
        run = manual_run(result)
        with self._lock:
            self._rows += audit_rows(result)
            if run is not None and not any(r["run_id"] == run.run_id for r in self._runs):
                self._runs.append(run.started_row())
            full = len(self._rows) >= self.batch_rows
        if full:
            self.flush(deadline)

    def flush(self, deadline: Deadline | None = None) -> None:
        """Record what is buffered; on failure log the rows (so they are not lost) and count it."""
        # Taken under the lock, written outside it: an instance serving several deliveries at
        # once would otherwise record one delivery's rows at a time (a round trip each).
        with self._lock:
            rows, self._rows = self._rows, []
            runs, self._runs = self._runs, []
        appended: list[Change] = [run_rows(self.ops, runs)] if runs else []
        if rows and self.topic is not None:
            try:
                self.topic.publish(rows, deadline)
            except Exception as exc:  # noqa: BLE001 - the audit trail must never fail a request
                self._failed("the audit topic", rows, exc)
        elif rows:
            appended.insert(0, log_rows(self.ops, rows))
        if appended:
            try:
                append(self.warehouse.scoped(deadline), appended)
            except Exception as exc:  # noqa: BLE001 - the audit trail must never fail a request
                self._failed(", ".join(str(c.table) for c in appended),
                             [row for change in appended for row in change.rows], exc)

    def _failed(self, where: str, rows: list[Row], exc: Exception) -> None:
        with self._lock:
            self.write_failures += 1
            failures = self.write_failures
        log.error("audit write to %s failed (%d so far): %s: %s; rows: %s", where, failures,
                  type(exc).__name__, exc, json.dumps(rows, default=_json_default),
                  extra={"event": "audit_write_failed"})


def read_history(warehouse: Warehouse, ops: OpsTables, *, since: datetime, until: datetime,
                 processor: str | None = None, game_date: date | None = None,
                 run_id: str | None = None, limit: int | None = None) -> list[Row]:
    """Audit rows logged in [since, until], newest first, filtered and limited in the query
    (on the table's partition column, so BigQuery reads only those days)."""
    equals: tuple[tuple[str, Scalar], ...] = tuple(
        (column, value) for column, value in (("processor", processor), ("game_date", game_date),
                                              ("run_id", run_id)) if value is not None)
    try:
        return warehouse.read_rows(Read(ops.log, since, until, by="logged_at", equals=equals,
                                        newest_first=True, limit=limit))
    except TableNotFound:
        return []  # nothing has been audited in this warehouse yet


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
