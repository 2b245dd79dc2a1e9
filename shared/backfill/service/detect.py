"""Detection: every processor's gaps in a window, then one request per (processor, game_date).

Each table is read in a query of its own (BigQuery cannot JOIN across regions) and compared in
code: the schedule once for every processor, then each processor's Phase 2 source (over its
lookback too) and Phase 3 target, and the window's quarantine. A processor whose source is
missing or misshapen is an error of its own; the others are still judged and published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from backfill.domain.errors import (
    BackfillError,
    ConfigurationError,
    SchemaMismatch,
    TableNotFound,
    TransientError,
)
from backfill.domain.games import GameKey
from backfill.domain.gaps import Candidate, Evidence, GameStat, Gaps, Upstream, judge, phase2_games
from backfill.domain.plan import Pending, requests_for
from backfill.domain.quarantine import QuarantineEvent, current
from backfill.domain.request import Request
from backfill.domain.runs import Run, Trigger, new_run_id
from backfill.domain.schedule import Schedule
from backfill.domain.tables import OpsTables, TableInfo, check_columns, check_owned
from backfill.domain.window import Window
from backfill.ports import Read, RequestQueue, Warehouse
from backfill.processors.base import Processor, schedule_stats
from backfill.processors.nba_raw import SCHEDULE_COLUMNS
from backfill.processors.registry import Registry
from backfill.service.ledger import append, run_rows
from backfill.service.reads import optional, read_together

log = logging.getLogger("backfill.detect")


@dataclass
class ProcessorResult:
    """One processor's gaps, or why it could not be checked."""

    name: str
    gaps: Gaps = field(default_factory=Gaps)
    error: str | None = None
    upstream_error: str | None = None  # the schedule could not be read: types, upstream unchecked
    # Gaps not published: each rides on a dependency's request of its date, as a follower.
    pending_upstream: list[Pending] = field(default_factory=list)

    @property
    def candidates(self) -> list[Candidate]:
        return self.gaps.candidates

    def as_dict(self) -> dict[str, Any]:
        gaps = self.gaps
        return {"name": self.name, "status": "error" if self.error else "ok", "error": self.error,
                "candidates": [c.as_dict() for c in gaps.candidates],
                "upstream_gaps": [g.as_dict() for g in gaps.upstream],
                "quarantined": [g.as_dict() for g in gaps.quarantined],
                "waiting": [g.as_dict() for g in gaps.waiting],
                "pending_upstream": [g.as_dict() for g in self.pending_upstream],
                "upstream_error": self.upstream_error}


@dataclass
class DetectionReport:
    """What one pass found and published; `failed` if any processor could not be checked."""

    run_id: str
    window: Window
    processors: list[ProcessorResult]
    published: list[Request] = field(default_factory=list)
    deferred: int = 0
    publish_error: str | None = None  # the requests found could not all be published

    @property
    def failed(self) -> bool:
        """An unchecked upstream counts too: an error must never read as "no gaps"."""
        return (any(p.error or p.upstream_error for p in self.processors)
                or self.publish_error is not None)

    @property
    def may_have_published(self) -> bool:
        """Whether any request may have gone out (a failed publish may have sent some): then
        running the same call again would publish them again under a new run."""
        return bool(self.published) or self.publish_error is not None

    @property
    def candidates(self) -> list[Candidate]:
        return [c for p in self.processors for c in p.candidates]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "run_id": self.run_id,
                "processors": [p.as_dict() for p in self.processors],
                "published": len(self.published), "deferred": self.deferred,
                "publish_error": self.publish_error}


@dataclass(frozen=True)
class Pass:
    """Who runs a detection pass, for the runs table."""

    trigger: Trigger = Trigger.CLI
    started_by: str = ""
    run_id: str = field(default_factory=new_run_id)


def find_gaps(warehouse: Warehouse, registry: Registry, ops: OpsTables, window: Window,
              processors: Sequence[str] | None = None) -> list[ProcessorResult]:
    """Judge the named processors (all when None) over the window; their dependencies are read
    too, since a dependent's games are stale or waiting because of them."""
    involved = registry.with_dependencies(processors)
    reported = {p.name for p in registry.ordered(processors)}
    read = _read_window(warehouse, registry, ops, window, involved)
    held = current(read.quarantine)
    played = _played(involved, read)
    results: dict[str, ProcessorResult] = {}
    upstream: dict[str, Upstream] = {}
    for p in involved:
        source = schedule_stats(read.schedule) if p.source_is_schedule else read.sources.get(p.name)
        target = read.targets.get(p.name)
        failure = (read.problems.get(p.name) or _failure(source) or _failure(target)
                   or (read.schedule.error if p.source_is_schedule else None))
        if failure or isinstance(source, str) or isinstance(target, str) or source is None:
            results[p.name] = ProcessorResult(p.name, error=failure)
            continue
        known = {name: upstream[name] for name in p.depends_on if name in upstream}
        gaps = judge(p.gap_rule(), Evidence(
            window, source, target, read.schedule,
            known if len(known) == len(p.depends_on) else None, held.get(p.name, {}),
            played if p.source_is_schedule else None))
        upstream[p.name] = Upstream.judged(target or [], gaps)
        results[p.name] = ProcessorResult(p.name, gaps, upstream_error=read.schedule.error)
    return [results[p.name] for p in involved if p.name in reported]


def _played(involved: Sequence[Processor], read: _WindowRead) -> dict[GameKey, tuple[str, str]]:
    """The games the Phase 2 sources read show were played (a box score, a gamebook), each
    with its id and a table that has it: the schedule must know every one."""
    played: dict[GameKey, tuple[str, str]] = {}
    for p in involved:
        source = read.sources.get(p.name)
        if isinstance(source, list):
            for key, game in phase2_games(source, read.schedule).items():
                played.setdefault(key, (game.game_id, str(p.source)))
    return played


@dataclass
class _WindowRead:
    """What detection read of a window: a scan result is a processor's error text if it failed;
    a target is None when its table does not exist yet."""

    schedule: Schedule
    quarantine: list[QuarantineEvent]
    sources: dict[str, list[GameStat] | str]
    targets: dict[str, list[GameStat] | str | None]
    problems: dict[str, str]


def _read_window(warehouse: Warehouse, registry: Registry, ops: OpsTables, window: Window,
                 involved: Sequence[Processor]) -> _WindowRead:
    """Describe every table (one round), then read the schedule, the quarantine and each
    processor's scans (another)."""
    lookback = max((p.source_lookback_days for p in involved), default=0)
    described: dict[str, TableInfo | None] = read_together(warehouse, {
        "schedule": lambda: warehouse.describe(registry.schedule),
        **{f"source:{p.name}": partial(warehouse.describe, p.source) for p in involved},
        **{f"target:{p.name}": partial(warehouse.describe, p.target) for p in involved}})
    reads: dict[str, Callable[[], Any]] = {
        "schedule": lambda: _schedule(warehouse, registry, described["schedule"],
                                      window.start - timedelta(days=lookback), window.end),
        "quarantine": optional(lambda: warehouse.read_rows(
            Read(ops.quarantine, window.start, window.end)), [])}
    problems: dict[str, str] = {}
    for p in involved:
        problem = (_source_problem(warehouse, p, described[f"source:{p.name}"])
                   or _target_problem(p, described[f"target:{p.name}"]))
        if problem:
            problems[p.name] = problem
            continue
        if not p.source_is_schedule:
            source_window = Window(window.start - timedelta(days=p.source_lookback_days),
                                   window.end)
            reads[f"source:{p.name}"] = _guarded(partial(warehouse.scan_games,
                                                         p.source_scan(source_window)))
        target = described[f"target:{p.name}"]
        if target is not None:
            reads[f"target:{p.name}"] = _guarded(partial(_scan_target, warehouse, p, window,
                                                         target))
    found = read_together(warehouse, reads)
    return _WindowRead(
        found["schedule"], [QuarantineEvent.from_row(r) for r in found["quarantine"]],
        {p.name: found[f"source:{p.name}"] for p in involved if f"source:{p.name}" in found},
        {p.name: found.get(f"target:{p.name}") for p in involved}, problems)


def detect(warehouse: Warehouse, registry: Registry, ops: OpsTables,
           queue: RequestQueue | None, window: Window, *,
           processors: Sequence[str] | None = None, max_messages: int | None = None,
           run: Pass | None = None,
           only_new: Collection[tuple[str, date]] = ()) -> DetectionReport:
    """Scan every processor (one failing does not stop the others), then publish unless dry run.

    `queue=None` is a dry run. At most `max_messages` are published, oldest dates first and
    dependencies before dependents on the same date; the rest are counted as deferred; a
    (processor, date) in `only_new` is reported, not published again. A pass that publishes is
    recorded in the runs table, under the run id every request carries.
    """
    run = run or Pass()
    results = find_gaps(warehouse, registry, ops, window, processors)
    report = DetectionReport(run.run_id, window, results)
    plan = requests_for([c for c in report.candidates
                         if (c.processor, c.game_date) not in only_new],
                        registry.graph, run.run_id)
    for pending in plan.pending:
        next(p for p in results if p.name == pending.candidate.processor
             ).pending_upstream.append(pending)
    requests = list(plan.requests)
    limit = len(requests) if max_messages is None else max_messages
    if queue is not None:
        try:
            if requests[:limit]:
                queue.publish(requests[:limit])
            report.published = requests[:limit]
        except TransientError as exc:
            # Keep the report: the gaps found still show, and the run says it failed. Some may
            # have gone out; publishing them again later is harmless (the worker re-checks).
            log.error("publishing failed: %s", exc)
            report.publish_error = str(exc)
        report.deferred = max(0, len(requests) - limit)
    if queue is not None and requests:
        record_run(warehouse, ops, Run(
            run.run_id, run.trigger, run.started_by, datetime.now(UTC),
            _by_processor(report.published), len(requests) + len(plan.pending), report.deferred,
            (window.start, window.end), tuple(p.name for p in results)))
    log.info("detection %s: %d candidates, %d published, %d deferred, %d processor errors",
             run.run_id, len(requests), len(report.published), report.deferred,
             sum(1 for p in results if p.error))
    return report


def record_run(warehouse: Warehouse, ops: OpsTables, run: Run) -> None:
    """One row in the runs table; a failure to write it is logged, never fatal (the requests
    are out, and their audit rows name the run)."""
    try:
        append(warehouse, [run_rows(ops, [run.started_row()])])
    except BackfillError as exc:
        log.error("could not record run %s: %s", run.run_id, exc)


def _by_processor(requests: Sequence[Request]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in requests:
        counts[request.processor] = counts.get(request.processor, 0) + 1
    return counts


def _schedule(warehouse: Warehouse, registry: Registry, info: TableInfo | None,
              start: Any, end: Any) -> Schedule:
    """The schedule of the window and its lookback; an unreadable one is reported, not raised."""
    try:
        check_columns(registry.schedule, info, SCHEDULE_COLUMNS, registry.schedule_columns,
                      where=warehouse.url)
        rows = warehouse.read_rows(registry.schedule_read(start, end))
    except ConfigurationError:
        raise
    except BackfillError as exc:
        return Schedule(error=f"no game types or upstream gaps: {exc}")
    return Schedule.from_rows(rows)


def _source_problem(warehouse: Warehouse, processor: Processor,
                    info: TableInfo | None) -> str | None:
    """Why a processor's source cannot be scanned: missing, or a needed column missing or typed
    otherwise (then its report says which, and the others still run)."""
    try:
        check_columns(processor.source, info, processor.source_columns, processor.columns,
                      where=warehouse.url)
    except BackfillError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _scan_target(warehouse: Warehouse, processor: Processor, window: Window,
                 info: TableInfo) -> list[GameStat] | None:
    """The target's scan; a table dropped or recreated since this process described it is
    described afresh and scanned once more, and one that is gone is missing (None)."""
    try:
        return warehouse.scan_games(processor.target_scan(window, info.columns))
    except (TableNotFound, SchemaMismatch) as exc:
        log.info("describing %s afresh after: %s", processor.target, exc)
        warehouse.forget(processor.target)
    fresh = warehouse.describe(processor.target)
    if fresh is None:
        return None
    return warehouse.scan_games(processor.target_scan(window, fresh.columns))


def _target_problem(processor: Processor, info: TableInfo | None) -> str | None:
    """Why a processor's target is refused: columns it does not write (reported each pass, and
    nothing is published for it, so no request of it is dead-lettered for the table's sake)."""
    try:
        check_owned(processor.target, info, processor.owned_schema())
    except ConfigurationError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _guarded(scan: Callable[[], list[GameStat] | None]
             ) -> Callable[[], list[GameStat] | str | None]:
    """A scan whose failure becomes the processor's error instead of the whole pass's."""
    def scanning() -> list[GameStat] | str | None:
        try:
            return scan()
        except ConfigurationError:
            raise  # the warehouse itself is wrong (no such file): a usage error
        except BackfillError as exc:
            log.warning("detection scan failed: %s", exc)
            return f"{type(exc).__name__}: {exc}"
    return scanning


def _failure(found: list[GameStat] | str | None) -> str | None:
    return found if isinstance(found, str) else None

