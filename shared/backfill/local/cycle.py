"""One full cycle on the local stack: detect, publish, work the queue until drained (the
requests the workers publish down the chain included), then detect once more to confirm.

A correction to a team box score makes the team offense stale; the worker that recomputes it
publishes the player summaries of that game in the same run, and the drain waits for them too,
so the confirming pass finds nothing new (the summary says so). Should it find something (work
that failed to publish its follow-ups), it publishes only what no earlier pass of the cycle
published, at most once per level of dependencies, so a date that fails stays failed
(dead-lettered) instead of being retried pass after pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backfill.bootstrap import Backfill, bootstrap, consumer, ensure_topology
from backfill.domain.runs import Trigger
from backfill.domain.window import Window
from backfill.local.runner import RunSummary, describe_result, work_until_drained
from backfill.local.stack import pubsub_emulator
from backfill.ports import NoProgress, Progress
from backfill.service.detect import DetectionReport, Pass, detect
from backfill.service.work import WorkResult
from backfill.settings import Settings

# The runner appends audit rows in batches of this many, and what is left when drained.
AUDIT_BATCH_ROWS = 200


@dataclass
class CyclePass:
    detection: DetectionReport
    run: RunSummary


@dataclass
class CycleOutcome:
    passes: list[CyclePass] = field(default_factory=list)

    @property
    def detection(self) -> DetectionReport:
        """The first pass's detection: every gap the cycle started from."""
        return self.passes[0].detection

    @property
    def results(self) -> list[WorkResult]:
        return [r for p in self.passes for r in p.run.results]

    @property
    def quiet_passes(self) -> list[int]:
        """The later passes (numbered from 1) that found nothing new to publish."""
        return [n for n, p in enumerate(self.passes, start=1)
                if n > 1 and not p.detection.published]

    @property
    def unaccounted(self) -> list[str]:
        return [i for p in self.passes for i in p.run.unaccounted]

    @property
    def consumer_error(self) -> str | None:
        return next((p.run.consumer_error for p in self.passes if p.run.consumer_error), None)

    @property
    def failed(self) -> bool:
        return (any(p.detection.failed for p in self.passes) or bool(self.unaccounted)
                or self.consumer_error is not None)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.detection.run_id, "run_ids": [p.detection.run_id for p in self.passes],
                "detected": len(self.detection.candidates),
                "published": sum(len(p.detection.published) for p in self.passes)
                + sum(len(r.published) for r in self.results),
                "followed_up": sum(len(r.published) for r in self.results),
                "quiet_passes": self.quiet_passes,
                **RunSummary([r for p in self.passes for r in p.run.results]).as_dict(),
                "redeliveries": sum(p.run.redeliveries for p in self.passes),
                "unaccounted": len(self.unaccounted),
                "deferred": self.passes[-1].detection.deferred,
                "passes": len(self.passes),
                "processor_errors": {p.name: p.error for p in self.detection.processors
                                     if p.error}}


def run_cycle(settings: Settings, window: Window, *, processors: Sequence[str] = (),
              concurrency: int = 4, max_messages: int | None = None,
              timeout_seconds: float = 900.0, progress: Progress | None = None,
              started_by: str = "",
              on_result: Callable[[WorkResult], None] | None = None) -> CycleOutcome:
    """Detect and publish, then drain the requests subscription with `concurrency` workers;
    repeat for what the work made stale, at most once per level of dependencies."""
    with pubsub_emulator(settings) as settings:
        ensure_topology(settings)
        app = bootstrap(settings)
        outcome = CycleOutcome()
        published: set[tuple[str, date]] = set()
        try:
            for level in range(app.registry.graph.longest + 1):
                found = _pass(app, window, processors, max_messages, started_by, published,
                              concurrency, timeout_seconds, progress, on_result,
                              first=level == 0)
                outcome.passes.append(found)
                if not found.detection.published:
                    break
        finally:
            app.close()
    return outcome


def _pass(app: Backfill, window: Window, processors: Sequence[str], max_messages: int | None,
          started_by: str, published: set[tuple[str, date]], concurrency: int,
          timeout_seconds: float, progress: Progress | None,
          on_result: Callable[[WorkResult], None] | None, *, first: bool) -> CyclePass:
    """One detection and the work it published. The first pass also drains what the queue
    held before it; a later one that published nothing has nothing to wait for (the pass
    before drained the queue), so it does not sit out the drain's quiet time."""
    report = detect(app.warehouse, app.registry, app.ops, app.queue, window,
                    processors=processors or None, max_messages=max_messages,
                    run=Pass(Trigger.CLI, started_by),
                    only_new=published)
    if not report.published and not first:
        return CyclePass(report, RunSummary())
    worker = app.worker(audit_batch_rows=AUDIT_BATCH_ROWS)
    published.update((r.processor, r.game_date) for r in report.published)
    shown = progress or NoProgress()
    shown.start(len(report.published))

    def finished(result: WorkResult) -> None:
        shown(describe_result(result))
        if on_result is not None:
            on_result(result)

    try:
        summary = work_until_drained(
            worker, lambda handle, n: consumer(app.settings, handle, n),
            [r.request_id for r in report.published], concurrency=concurrency,
            timeout_seconds=timeout_seconds, on_result=finished)
    finally:
        if worker.audit is not None:
            worker.audit.flush()
    return CyclePass(report, summary)

