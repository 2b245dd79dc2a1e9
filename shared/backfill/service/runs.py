"""Runs as operators see them: recent runs, one run's progress and ETA, cancelling one."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
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
from backfill.ports import Read, Row, Warehouse
from backfill.service.audit import read_history
from backfill.service.ledger import append, run_rows

log = logging.getLogger("backfill.runs")

# The pace an ETA is computed from: requests ended over this many last minutes.
RATE_WINDOW = timedelta(minutes=5)
# A run's audit rows are looked for from a minute before it started (clocks of two machines).
CLOCK_SLACK = timedelta(minutes=1)


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
    rows = read_history(warehouse, ops, since=run.started_at - CLOCK_SLACK,
                        until=now + CLOCK_SLACK, run_id=run.run_id)
    return progress(run, rows, now=now, rate_window=RATE_WINDOW, stall_after=stall_after)


def latest_progress(warehouse: Warehouse, ops: OpsTables, *, since: datetime, now: datetime,
                    stall_after: timedelta, limit: int | None = None) -> list[RunProgress]:
    """The progress of the runs started since `since`, newest first (at most `limit`)."""
    return _progress_of(warehouse, ops, recent_runs(warehouse, ops, since=since, now=now)[:limit],
                        now=now, stall_after=stall_after)


def _progress_of(warehouse: Warehouse, ops: OpsTables, runs: Sequence[Run], *, now: datetime,
                 stall_after: timedelta) -> list[RunProgress]:
    """Each run's progress from one read of the audit rows since the oldest started, not a
    query per run (the detector looks at a week of runs, a hand-typed request each, per call)."""
    if not runs:
        return []
    by_run: dict[str, list[Row]] = defaultdict(list)
    for row in read_history(warehouse, ops, since=min(r.started_at for r in runs) - CLOCK_SLACK,
                            until=now + CLOCK_SLACK):
        if row.get("run_id"):
            by_run[row["run_id"]].append(row)
    return [progress(run, [r for r in by_run[run.run_id]
                           if r["logged_at"] >= run.started_at - CLOCK_SLACK],
                     now=now, rate_window=RATE_WINDOW, stall_after=stall_after)
            for run in runs]


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
    stalled = [found for found in latest_progress(warehouse, ops, since=now - since, now=now,
                                                  stall_after=stall_after) if found.stalled]
    for found in stalled:
        log.warning("run %s has %d requests outstanding and none ended for %s",
                    found.run.run_id, found.outstanding, stall_after,
                    extra={"event": "run_stalled", "run_id": found.run.run_id})
    return [found.run.run_id for found in stalled]
