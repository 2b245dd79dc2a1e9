"""One full cycle on the local stack: detect, publish, work the queue until drained."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from backfill.adapters.pubsub_queue import Consumer, Topology, ensure_topology
from backfill.bootstrap import build_worker
from backfill.domain.window import Window
from backfill.entrypoints.local_stack import pubsub_emulator
from backfill.service.detect import DetectionReport, detect
from backfill.service.run import Delivery, RunSummary, Stoppable, work_until_drained
from backfill.service.work import WorkResult
from backfill.settings import Settings


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
        counts = self.as_dict()
        console.print(f"detected {counts['detected']}, published {counts['published']}, "
                      f"deferred {counts['deferred']}: succeeded {counts['succeeded']}, "
                      f"skipped {counts['skipped']}, dead-lettered {counts['dead_lettered']}",
                      highlight=False)
        for name, error in counts["processor_errors"].items():
            console.print(f"[red]error[/] {name}: {error}", highlight=False)
        for result in self.run.results:
            if result.error and result.outcome == "dead_lettered":
                where = (f"{result.request.processor} {result.request.game_date}"
                         if result.request else "malformed request")
                console.print(f"[yellow]dead letter[/] {where}: {result.error}", highlight=False)
        if self.run.unaccounted:
            console.print(f"[red]{len(self.run.unaccounted)} requests unaccounted for[/]")
        if self.run.consumer_error:
            console.print(f"[red]the consumer stopped: {self.run.consumer_error}[/]")


def topology(settings: Settings) -> Topology:
    return Topology(settings.project, settings.requests_topic, settings.requests_subscription,
                    settings.dead_letter_topic, settings.dead_letter_subscription,
                    settings.max_delivery_attempts)


def run_cycle(settings: Settings, window: Window, *, processors: Sequence[str] = (),
              concurrency: int = 4, max_messages: int | None = None,
              timeout_seconds: float = 900.0,
              on_result: Callable[[WorkResult], None] | None = None) -> CycleOutcome:
    """Detect and publish, then drain the requests subscription with `concurrency` workers."""
    with pubsub_emulator(settings.project):
        ensure_topology(topology(settings))
        worker = build_worker(settings)
        report = detect(worker.warehouse, worker.registry, worker.queue, window,
                        processors=processors or None, max_messages=max_messages)

        def consume(handle: Callable[[Delivery], bool], n: int) -> Stoppable:
            return Consumer(settings.project, settings.requests_subscription, handle, n)

        summary = work_until_drained(worker, consume, [r.request_id for r in report.published],
                                     concurrency=concurrency, timeout_seconds=timeout_seconds,
                                     on_result=on_result)
    return CycleOutcome(report, summary)
