"""Operating the dead-letter queue: look without consuming, replay what can be, purge the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from backfill.domain.dead_letter import DeadLetter, describe
from backfill.domain.errors import BackfillError
from backfill.domain.request import Reason
from backfill.ports import DeadLetterInbox, Lease, NoProgress, Progress, RequestQueue, Warehouse
from backfill.processors.registry import Registry
from backfill.service.gaps import date_gap

log = logging.getLogger("backfill.dead_letters")

Selector = Callable[[DeadLetter], bool]


def peek(inbox: DeadLetterInbox, today: date, select: Selector = lambda _: True
         ) -> list[DeadLetter]:
    """The selected dead letters, oldest first; nothing is consumed."""
    with inbox.lease() as lease:
        return _chosen(lease, today, select)


def _chosen(lease: Lease, today: date, select: Selector) -> list[DeadLetter]:
    letters = (describe(m, today=today) for m in lease.messages)
    return sorted((d for d in letters if select(d)), key=lambda d: d.dead_lettered_at)


class Replayed(StrEnum):
    REPUBLISHED = "republished"        # back on the requests topic, removed from the queue
    ALREADY_FILLED = "already_filled"  # the gap is gone: nothing to redo, removed
    NOT_REPLAYABLE = "not_replayable"  # malformed or unknown processor: left for purge
    FAILED = "failed"                  # re-check or republish failed: left in the queue


@dataclass
class ReplayReport:
    outcomes: dict[str, tuple[Replayed, str]] = field(default_factory=dict)  # id -> (what, detail)

    def count(self, what: Replayed) -> int:
        return sum(1 for outcome, _ in self.outcomes.values() if outcome is what)

    @property
    def failed(self) -> bool:
        return self.count(Replayed.FAILED) > 0


def replay(inbox: DeadLetterInbox, queue: RequestQueue, warehouse: Warehouse,
           registry: Registry, today: date, select: Selector,
           progress: Progress | None = None) -> ReplayReport:
    """Re-check each selected gap, republish it with its replay count raised, then remove it.

    A dead letter leaves the queue only after its request is safely republished (or its gap is
    found filled), so a failed republish loses nothing.
    """
    progress = progress or NoProgress()
    report = ReplayReport()
    with inbox.lease() as lease:
        chosen = _chosen(lease, today, select)
        progress.start(len(chosen))
        for letter in chosen:
            outcome, detail = _replay_one(letter, queue, warehouse, registry)
            if outcome in (Replayed.REPUBLISHED, Replayed.ALREADY_FILLED):
                lease.acknowledge(letter.message_id)
            report.outcomes[letter.message_id] = (outcome, detail)
            progress(f"{letter.message_id} {letter.processor} {letter.game_date}: "
                     f"{outcome.value} {detail}".rstrip())
    return report


def _replay_one(letter: DeadLetter, queue: RequestQueue, warehouse: Warehouse,
                registry: Registry) -> tuple[Replayed, str]:
    request = letter.request
    if request is None:
        return Replayed.NOT_REPLAYABLE, letter.problem or ""
    if request.processor not in registry:
        return Replayed.NOT_REPLAYABLE, f"unknown processor {request.processor!r}"
    try:
        gap = date_gap(warehouse, registry.get(request.processor), request.game_date)
        if gap is None and not request.force:
            return Replayed.ALREADY_FILLED, ""
        again = request.model_copy(update={"reason": Reason.REPLAY,
                                           "replay_count": request.replay_count + 1})
        published = queue.publish([again])
    except BackfillError as exc:
        log.error("replay of %s failed: %s", letter.message_id, exc)
        return Replayed.FAILED, f"{type(exc).__name__}: {exc}"
    return Replayed.REPUBLISHED, f"as message {published.message_ids[again.request_id]}"


def purge(inbox: DeadLetterInbox, today: date, select: Selector,
          confirm: Callable[[list[DeadLetter]], bool]) -> list[DeadLetter]:
    """Remove the selected dead letters for good once `confirm` agrees; returns those removed."""
    with inbox.lease() as lease:
        chosen = _chosen(lease, today, select)
        if not chosen or not confirm(chosen):
            return []
        for letter in chosen:
            lease.acknowledge(letter.message_id)
    return chosen
