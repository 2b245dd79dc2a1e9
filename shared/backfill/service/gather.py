"""Everything one delivery needs to decide and compute.

For processor P on date d, what the re-check judges: the schedule (for game types, and as the
source of a processor that reads it), the scan of P's source over its lookback that detection
reads, P's Phase 3 games of d, each dependency's Phase 3 and Phase 2 scans (whether it is
complete), the date's quarantine and whether the request's run was cancelled. What a computation
reads (`ComputeRows`): P's source rows (each with its game's fingerprint, made in the same
statement: what a computed game records), each dependency's Phase 3 rows of d, and d's Phase 3
rows before the write.

The re-check's scans are one query (`Warehouse.scan_together`): one job on BigQuery (per
location) instead of one per scanned table, one plan on DuckDB; a table dropped since it was
described fails it whole, and the worker's pass runs again on fresh descriptions.

On BigQuery the queries are sent at once, judged and computed alike, so the whole read costs one
round trip: a skip pays for rows it does not use, a computation saves a round (a query costs
about a second). On DuckDB a query is CPU work, most of it planning (a millisecond or more
however few rows it reads), so the rows are read only once the date is to be computed: a skip
reads none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from backfill.domain.gaps import GameStat
from backfill.domain.quarantine import QuarantineEvent
from backfill.domain.request import Request
from backfill.domain.runs import CANCELLED, RUN_SEARCH_DAYS
from backfill.domain.schedule import Schedule
from backfill.domain.tables import OpsTables, TableInfo, check_columns, check_owned
from backfill.domain.window import Window
from backfill.ports import Read, Row, Scan, Warehouse
from backfill.processors.base import Processor, schedule_stats
from backfill.processors.nba_raw import SCHEDULE_COLUMNS
from backfill.processors.registry import Registry
from backfill.service.reads import optional, read_together


@dataclass(frozen=True)
class ComputeRows:
    """The rows a computation of one (processor, date) reads."""

    source: list[Row]               # the source over its lookback, each with its fingerprint
    upstream: dict[str, list[Row]]  # each dependency's Phase 3 rows of the date
    # The date's Phase 3 rows before the write: which games a write changes (domain/plan.py).
    target: list[Row]


@dataclass
class Gathered:
    """What was read for one (processor, date) to judge it, and its rows to compute it from."""

    schedule: Schedule
    source: list[GameStat]         # the scan of the source rows' tables, as detection reads it
    target: list[GameStat] | None  # None: the Phase 3 table does not exist yet
    target_info: TableInfo | None
    rows: Callable[[], ComputeRows]  # the rows to compute from (module docstring: when read)
    upstream_target: dict[str, list[GameStat]] = field(default_factory=dict)
    upstream_source: dict[str, list[GameStat]] = field(default_factory=dict)
    quarantine: list[QuarantineEvent] = field(default_factory=list)
    cancelled: bool = False


def gather(warehouse: Warehouse, registry: Registry, ops: OpsTables, processor: Processor,
           request: Request) -> Gathered:
    """Read what `request` needs to be judged (and, where a read is a round trip, computed) in
    one round, after table descriptions (kept per process on BigQuery); a missing source table
    or column raises, a missing target is an empty one."""
    day = request.game_date
    dependencies = [registry.get(name) for name in processor.depends_on]
    lookback = max([processor.source_lookback_days,
                    *(d.source_lookback_days for d in dependencies)])
    described = read_together(warehouse, {
        "source": lambda: warehouse.describe(processor.source),
        "schedule": lambda: warehouse.describe(registry.schedule),
        "target": lambda: warehouse.describe(processor.target),
        # Described with the rest, so their first read is not a round of its own on BigQuery.
        "quarantine": lambda: warehouse.describe(ops.quarantine),
        "runs": lambda: warehouse.describe(ops.runs),
        **{f"source:{d.name}": partial(warehouse.describe, d.source) for d in dependencies},
        **{f"target:{d.name}": partial(warehouse.describe, d.target) for d in dependencies}})
    for table, info, needed, names in (
            (processor.source, described["source"], processor.source_columns, processor.columns),
            (registry.schedule, described["schedule"], SCHEDULE_COLUMNS,
             registry.schedule_columns),
            *((d.source, described[f"source:{d.name}"], d.source_columns, d.columns)
              for d in dependencies)):
        check_columns(table, info, needed, names, where=warehouse.url)
    target_info: TableInfo | None = described["target"]
    check_owned(processor.target, target_info, processor.owned_schema())
    start = day - timedelta(days=processor.source_lookback_days)
    window = Window(day, day)
    # The re-check's scans (this processor's source and target, each dependency's), one query.
    scans: dict[str, Scan] = {
        **({} if processor.source_is_schedule else {
            "source": processor.source_scan(Window(start, day))}),
        **({} if target_info is None else {
            "target": processor.target_scan(window, target_info.columns)}),
    }
    judged: dict[str, Callable[[], Any]] = {
        "schedule": lambda: warehouse.read_rows(registry.schedule_read(day - timedelta(
            days=lookback), day)),
        # Backfill's own tables are read only once they exist (the quarantine's first hold,
        # the first run recorded): a table that is absent has nothing to say.
        **({} if described["quarantine"] is None else {
            "quarantine": optional(lambda: warehouse.read_rows(Read(ops.quarantine, day, day)),
                                   [])}),
    }
    computed: dict[str, Callable[[], Any]] = {
        **({} if processor.source_is_schedule else {
            "source": lambda: warehouse.read_rows(processor.source_read(start, day))}),
        **({} if target_info is None else {
            "rows:target": lambda: warehouse.read_rows(Read(
                processor.target, day, day, columns=tuple(
                    (c.name, c.name) for c in processor.schema
                    if c.name in target_info.columns)))}),
    }
    for dependency in dependencies:
        info = described[f"target:{dependency.name}"]
        if info is not None:
            computed[f"rows:{dependency.name}"] = optional(
                partial(warehouse.read_rows, dependency.target_read(day, day)), [])
            scans[f"target:{dependency.name}"] = dependency.target_scan(window, info.columns)
        if not dependency.source_is_schedule:
            scans[f"source:{dependency.name}"] = dependency.source_scan(
                Window(day - timedelta(days=dependency.source_lookback_days), day))
    if scans:
        judged["scans"] = lambda: dict(zip(scans, warehouse.scan_together(list(scans.values())),
                                           strict=True))
    if request.detection_run_id and described["runs"] is not None:
        judged["run"] = optional(lambda: warehouse.read_rows(Read(
            ops.runs, request.requested_at - timedelta(days=RUN_SEARCH_DAYS),
            request.requested_at + timedelta(days=RUN_SEARCH_DAYS), by="recorded_at",
            equals=(("run_id", request.run_id), ("event", CANCELLED)))), [])
    found = read_together(warehouse, {**judged, **computed} if warehouse.latency_bound
                          else judged)
    scanned: dict[str, list[GameStat]] = found.get("scans", {})
    schedule_rows = found["schedule"]

    def rows(read: Mapping[str, Any]) -> ComputeRows:
        return ComputeRows(
            source=([r for r in schedule_rows if r["game_date"] >= start]
                    if processor.source_is_schedule else read["source"]),
            upstream={d.name: read.get(f"rows:{d.name}", []) for d in dependencies},
            target=read.get("rows:target", []))

    def rows_to_compute() -> ComputeRows:
        return rows(read_together(warehouse, computed))

    def schedule_since(days: int) -> list[GameStat]:
        return schedule_stats(Schedule.from_rows(
            r for r in schedule_rows if r["game_date"] >= day - timedelta(days=days)))

    return Gathered(
        schedule=Schedule.from_rows(schedule_rows),
        source=(schedule_since(processor.source_lookback_days) if processor.source_is_schedule
                else scanned["source"]),
        target=scanned.get("target"), target_info=target_info,
        # Already read where a read is a round trip (in this one), else read once judged.
        rows=partial(rows, found) if warehouse.latency_bound else rows_to_compute,
        upstream_target={d.name: scanned.get(f"target:{d.name}", []) for d in dependencies},
        upstream_source={d.name: schedule_since(d.source_lookback_days)
                         if d.source_is_schedule else scanned[f"source:{d.name}"]
                         for d in dependencies},
        quarantine=[QuarantineEvent.from_row(r) for r in found.get("quarantine", [])],
        cancelled=bool(found.get("run")))
