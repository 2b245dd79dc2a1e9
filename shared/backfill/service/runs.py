"""Runs as operators see them: recent runs, one run's progress and ETA, cancelling one."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from backfill.domain.errors import PermanentError, TableNotFound
from backfill.domain.runs import (
    Run,
    RunProgress,
    cancel_row,
    progress,
    runs_from_rows,
)
from backfill.domain.tables import OpsTables
from backfill.ports import Read, Warehouse
from backfill.service.audit import read_history
from backfill.service.ledger import append, run_rows

log = logging.getLogger("backfill.runs")

# The pace an ETA is computed from: requests ended over this many last minutes.
RATE_WINDOW = timedelta(minutes=5)


def recent_runs(warehouse: Warehouse, ops: OpsTables, *, since: datetime,
                now: datetime) -> list[Run]:
    """Runs started since `since`, newest first."""
    try:
        rows = warehouse.read_rows(Read(ops.runs, since, now + timedelta(days=1),
                                        by="recorded_at"))
    except TableNotFound:
        return []
    return runs_from_rows(rows)


def find_run(warehouse: Warehouse, ops: OpsTables, run_id: str, *, now: datetime,
             search: timedelta = timedelta(days=90)) -> Run:
    try:
        rows = warehouse.read_rows(Read(ops.runs, now - search, now + timedelta(days=1),
                                        by="recorded_at", equals=(("run_id", run_id),)))
    except TableNotFound:
        rows = []
    runs = runs_from_rows(rows)
    if not runs:
        raise PermanentError(f"no run {run_id} started in the last {search.days} days")
    return runs[0]


def run_progress(warehouse: Warehouse, ops: OpsTables, run: Run, *, now: datetime,
                 stall_after: timedelta) -> RunProgress:
    """How far `run` got, counted from its audit rows."""
    rows = read_history(warehouse, ops, since=run.started_at - timedelta(minutes=1),
                        until=now + timedelta(minutes=1), run_id=run.run_id)
    return progress(run, rows, now=now, rate_window=RATE_WINDOW, stall_after=stall_after)


def latest_progress(warehouse: Warehouse, ops: OpsTables, *, since: datetime, now: datetime,
                    stall_after: timedelta, limit: int | None = None) -> list[RunProgress]:
    """The progress of the runs started since `since`, newest first (at most `limit`)."""
    return [run_progress(warehouse, ops, run, now=now, stall_after=stall_after)
            for run in recent_runs(warehouse, ops, since=since, now=now)[:limit]]


def cancel(warehouse: Warehouse, ops: OpsTables, run_id: str, *, by: str,
           now: datetime) -> Run:
    """Record the cancellation: workers acknowledge the run's remaining requests unrun."""
    run = find_run(warehouse, ops, run_id, now=now)
    append(warehouse, [run_rows(ops, [cancel_row(run_id, by, now)])])
    log.info("run %s cancelled by %s", run_id, by)
    return run


def report_stalled(warehouse: Warehouse, ops: OpsTables, *, now: datetime,
                   stall_after: timedelta, since: timedelta = timedelta(days=7)) -> list[str]:
    """Log one `run_stalled` event per run whose outstanding count has not moved for
    `stall_after` (an alert counts them); returns their ids."""
    stalled = []
    for run in recent_runs(warehouse, ops, since=now - since, now=now):
        found = run_progress(warehouse, ops, run, now=now, stall_after=stall_after)
        if found.stalled:
            stalled.append(run.run_id)
            log.warning("run %s has %d requests outstanding and none ended for %s", run.run_id,
                        found.outstanding, stall_after,
                        extra={"event": "run_stalled", "run_id": run.run_id})
    return stalled
