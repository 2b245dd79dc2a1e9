"""What a delivery does with what it gathered: a pure function (no I/O).

Skip when the date is already right (unless forced), wait while a dependency has a gap on the
date (computing now would read missing or old inputs), stop when the run was cancelled, compute
otherwise. The re-check applies detection's own rules (domain/gaps.py) to the same scans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from backfill.domain.games import GameKey
from backfill.domain.gaps import Candidate, Evidence, Upstream, judge
from backfill.domain.outcome import Cancelled, Skipped, Waiting
from backfill.domain.quarantine import QuarantineEvent, current
from backfill.domain.request import Request
from backfill.domain.schedule import Schedule
from backfill.domain.window import Window
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.gather import Gathered


@dataclass(frozen=True)
class Compute:
    """Compute the date: `gap` is what the re-check found (None when forced on a complete date)."""

    gap: Candidate | None
    schedule: Schedule
    held: dict[GameKey, QuarantineEvent] = field(default_factory=dict)  # this processor's
    held_upstream: dict[GameKey, str] = field(default_factory=dict)     # dependencies', why


Decision: TypeAlias = Compute | Skipped | Waiting | Cancelled


def decide(request: Request, processor: Processor, registry: Registry,
           gathered: Gathered) -> Decision:
    if gathered.cancelled:
        return Cancelled(request.run_id)
    day = request.game_date
    window = Window(day, day)
    held = current(gathered.quarantine)
    upstream: dict[str, Upstream] = {}
    not_ready: list[Candidate] = []
    for name in processor.depends_on:
        dependency = registry.get(name)
        phase3 = gathered.upstream_target[name]
        found = judge(dependency.gap_rule(), Evidence(
            window, gathered.upstream_source[name], phase3, gathered.schedule,
            held=held.get(name, {})))
        not_ready += found.candidates
        upstream[name] = Upstream.judged(phase3, found)
    mine = judge(processor.gap_rule(), Evidence(
        window, gathered.source, gathered.target,
        gathered.schedule, upstream, held.get(processor.name, {})))
    gap = mine.candidate(day)
    if gap is None and not request.force:
        set_aside = len(mine.quarantined) + len(mine.waiting)
        return Skipped("complete" if not set_aside else
                       "complete but for games held in quarantine or waiting on upstream ones")
    if not_ready:
        first = not_ready[0]
        return Waiting(f"{first.processor} is {first.reason.value} for {day} "
                       f"({len(first.game_ids)} games)")
    return Compute(gap, gathered.schedule, held.get(processor.name, {}),
                   {key: why for name, dependency in upstream.items()
                    for key, why in dependency.withholding(name).items()})
