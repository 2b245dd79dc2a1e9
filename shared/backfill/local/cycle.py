"""One full cycle on the local stack: detect, publish, work the queue until drained."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from backfill.adapters.pubsub_queue import Consumer, Topology, ensure_topology
from backfill.bootstrap import build_worker
from backfill.domain.window import Window
from backfill.local.runner import RunSummary, Stoppable, work_until_drained
from backfill.local.stack import pubsub_emulator
from backfill.ports import Delivery, NoProgress, Progress
from backfill.service.detect import DetectionReport, detect
from backfill.service.work import WorkResult
from backfill.settings import Settings

# The runner appends audit rows in batches of this many, and what is left when drained.
AUDIT_BATCH_ROWS = 200


@dataclass
class CycleOutcome:
    detection: DetectionReport
    run: RunSummary

    @property
    def failed(self) -> bool:
        return self.detection.failed or bool(self.run.unaccounted) or bool(self.run.consumer_error)

    def as_dict(self) -> dict[str, Any]:
        return {"detected": len(self.detection.candidates),
                "published": len(self.detection.published), **self.run.as_dict(),
                "deferred": self.detection.deferred,
                "processor_errors": {p.name: p.error for p in self.detection.processors
                                     if p.error}}

    def print(self, console: Console) -> None:
        """The gaps found (with errors and upstream gaps), then what became of each request."""
        print_gaps(console, self.detection)
        counts = self.as_dict()
        console.print(f"detected {counts['detected']}, published {counts['published']}, "
                      f"deferred {counts['deferred']}: succeeded {counts['succeeded']}, "
                      f"skipped {counts['skipped']}, dead-lettered {counts['dead_lettered']}",
                      highlight=False)
        for result in self.run.results:
            if result.error and result.outcome == "dead_lettered":
                console.print(f"[yellow]dead letter[/] {subject(result)}: {result.error}",
                              highlight=False)
        if self.run.unaccounted:
            console.print(f"[red]{len(self.run.unaccounted)} requests unaccounted for[/]")
        if self.run.consumer_error:
            console.print(f"[red]the consumer stopped: {self.run.consumer_error}[/]")


def print_gaps(console: Console, report: DetectionReport) -> None:
    """Per processor: gap dates, games and reasons, upstream gaps; then errors and upstream games."""
    table = Table(title=f"Gaps {report.window.start} .. {report.window.end}")
    for column in ("processor", "status", "dates", "games", "reasons", "upstream gaps"):
        table.add_column(column)
    for result in report.processors:
        reasons = sorted({c.reason.value for c in result.candidates})
        table.add_row(result.name, "[red]error[/]" if result.error else "ok",
                      str(len(result.candidates)),
                      str(sum(len(c.game_ids) for c in result.candidates)), ", ".join(reasons),
                      str(sum(len(g.game_ids) for g in result.upstream_gaps)))
    console.print(table)
    for result in report.processors:
        for error in (result.error, result.upstream_error):
            if error:
                console.print(f"[red]{result.name}: {error}[/]", highlight=False)
        for gap in result.upstream_gaps:
            console.print(f"[yellow]upstream gap[/] {result.name} {gap.game_date}: "
                          f"{', '.join(gap.game_ids)} final, no Phase 2 rows "
                          "(a person must load them; never published)", highlight=False)


def describe_result(result: WorkResult) -> str:
    """One line about a finished delivery, for progress output."""
    detail = f": {result.error}" if result.error else f" ({result.rows_written} rows)"
    return f"{subject(result)} {result.outcome.value}{detail}"


def subject(result: WorkResult) -> str:
    return (f"{result.request.processor} {result.request.game_date}" if result.request
            else "malformed request")


def topology(settings: Settings) -> Topology:
    return Topology(settings.project, settings.requests_topic, settings.requests_subscription,
                    settings.dead_letter_topic, settings.dead_letter_subscription,
                    settings.max_delivery_attempts)


def run_cycle(settings: Settings, window: Window, *, processors: Sequence[str] = (),
              concurrency: int = 4, max_messages: int | None = None,
              timeout_seconds: float = 900.0, progress: Progress | None = None,
              on_result: Callable[[WorkResult], None] | None = None) -> CycleOutcome:
    """Detect and publish, then drain the requests subscription with `concurrency` workers."""
    with pubsub_emulator(settings.project):
        ensure_topology(topology(settings))
        worker = build_worker(settings, audit_batch_rows=AUDIT_BATCH_ROWS)
        report = detect(worker.warehouse, worker.registry, worker.queue, window,
                        processors=processors or None, max_messages=max_messages)

        def consume(handle: Callable[[Delivery], bool], n: int) -> Stoppable:
            return Consumer(settings.project, settings.requests_subscription, handle, n)

        shown = progress or NoProgress()
        shown.start(len(report.published))

        def finished(result: WorkResult) -> None:
            shown(describe_result(result))
            if on_result is not None:
                on_result(result)

        try:
            summary = work_until_drained(
                worker, consume, [r.request_id for r in report.published],
                concurrency=concurrency, timeout_seconds=timeout_seconds, on_result=finished)
        finally:
            if worker.audit is not None:
                worker.audit.flush()
    return CycleOutcome(report, summary)
