"""Detection: every processor's gaps in a window, then one request per (processor, game_date)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backfill.domain.errors import BackfillError, ConfigurationError, TransientError
from backfill.domain.gaps import Candidate, UpstreamGap
from backfill.domain.request import Request
from backfill.domain.window import Window
from backfill.ports import RequestQueue, Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.gaps import Schedule, processor_gaps, read_all, read_schedule

log = logging.getLogger("backfill.detect")


@dataclass
class ProcessorResult:
    """One processor's gaps; upstream gaps are reported only, never published."""

    name: str
    candidates: list[Candidate] = field(default_factory=list)
    error: str | None = None
    upstream_gaps: list[UpstreamGap] = field(default_factory=list)
    upstream_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": "error" if self.error else "ok", "error": self.error,
                "candidates": [c.as_dict() for c in self.candidates],
                "upstream_gaps": [g.as_dict() for g in self.upstream_gaps],
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
        """An unchecked upstream counts too: an error must never read as "no gaps" (lesson 2)."""
        return (any(p.error or p.upstream_error for p in self.processors)
                or self.publish_error is not None)

    @property
    def candidates(self) -> list[Candidate]:
        return [c for p in self.processors for c in p.candidates]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "run_id": self.run_id,
                "processors": [p.as_dict() for p in self.processors],
                "published": len(self.published), "deferred": self.deferred,
                "publish_error": self.publish_error}


def detect(warehouse: Warehouse, registry: Registry, queue: RequestQueue | None, window: Window,
           *, processors: Sequence[str] | None = None, max_messages: int | None = None,
           run_id: str | None = None) -> DetectionReport:
    """Scan every processor (one failing does not stop the others), then publish unless dry run.

    `queue=None` is a dry run. At most `max_messages` are published, oldest dates first and
    dependencies before dependents on the same date; the rest are counted as deferred.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    chosen = registry.ordered(processors)
    schedule = read_schedule(warehouse, window)  # once for every processor
    results = read_all(warehouse, *[functools.partial(_scan, warehouse, p, window, schedule)
                                    for p in chosen])
    report = DetectionReport(run_id, window, results)
    requests = [Request(processor=c.processor, game_date=c.game_date, game_ids=c.game_ids,
                        reason=c.reason, detection_run_id=run_id)
                for c in sorted(report.candidates,
                                key=lambda c: (c.game_date, registry.rank(c.processor)))]
    limit = len(requests) if max_messages is None else max_messages
    if queue is not None and requests[:limit]:
        try:
            queue.publish(requests[:limit])
            report.published = requests[:limit]
        except TransientError as exc:
            # Keep the report: the gaps found still show, and the run says it failed. Some may
            # have gone out; publishing them again later is harmless (the worker re-checks).
            log.error("publishing failed: %s", exc)
            report.publish_error = str(exc)
        report.deferred = len(requests) - limit if limit < len(requests) else 0
    log.info("detection %s: %d candidates, %d published, %d deferred, %d processor errors",
             run_id, len(requests), len(report.published), report.deferred,
             sum(1 for p in results if p.error))
    return report


def _scan(warehouse: Warehouse, processor: Processor, window: Window,
          schedule: Schedule) -> ProcessorResult:
    try:
        found = processor_gaps(warehouse, processor, window, schedule)
        return ProcessorResult(processor.name, found.candidates, upstream_gaps=found.upstream,
                               upstream_error=found.upstream_error)
    except ConfigurationError:
        raise  # the warehouse itself is wrong (not a database, no such file): a usage error
    except BackfillError as exc:
        log.warning("detection failed for %s: %s", processor.name, exc)
        return ProcessorResult(processor.name, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - an error must never read as "no gaps" (lesson 2)
        log.exception("detection crashed for %s", processor.name)
        return ProcessorResult(processor.name, error=f"{type(exc).__name__}: {exc}")
