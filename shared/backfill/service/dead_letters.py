"""Operating the dead-letter queue: look without consuming, replay what can be, purge the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from backfill.domain.dead_letter import DeadLetter, describe
from backfill.domain.errors import BackfillError
from backfill.domain.request import Reason, Request
from backfill.domain.runs import Run, Trigger, new_run_id
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.ports import (
    DeadLetterInbox,
    Lease,
    NoProgress,
    Progress,
    RequestQueue,
    Warehouse,
)
from backfill.processors.registry import Registry
from backfill.service.detect import find_gaps, record_run
from backfill.service.quarantine import held, write_releases

log = logging.getLogger("backfill.dead_letters")

Selector = Callable[[DeadLetter], bool]


def peek(inbox: DeadLetterInbox, today: date, select: Selector = lambda _: True
         ) -> list[DeadLetter]:
    """The selected dead letters, oldest first; nothing is consumed."""
    with inbox.lease() as lease:
        return _selected(lease, today, select)


def _selected(lease: Lease, today: date, select: Selector) -> list[DeadLetter]:
    letters = (describe(m, today=today) for m in lease.messages)
    return sorted((d for d in letters if select(d)), key=lambda d: d.dead_lettered_at)


class Replayed(StrEnum):
    REPUBLISHED = "republished"        # back on the requests topic, removed from the queue
    ALREADY_FILLED = "already_filled"  # the gap is gone: nothing to redo, removed
    NOT_REPLAYABLE = "not_replayable"  # malformed or unknown processor: left for purge
    FAILED = "failed"                  # re-check or republish failed: left in the queue


@dataclass
class ReplayReport:
    run_id: str
    outcomes: dict[str, tuple[Replayed, str]] = field(default_factory=dict)  # id -> (what, detail)

    def count(self, what: Replayed) -> int:
        return sum(1 for outcome, _ in self.outcomes.values() if outcome is what)

    @property
    def failed(self) -> bool:
        return self.count(Replayed.FAILED) > 0


@dataclass(frozen=True)
class Replaying:
    """What a replay works with."""

    queue: RequestQueue
    warehouse: Warehouse
    registry: Registry
    ops: OpsTables
    by: str


def replay(inbox: DeadLetterInbox, replaying: Replaying, today: date, select: Selector,
           progress: Progress | None = None) -> ReplayReport:
    """Re-check each selected gap, republish it with its replay count raised, then remove it.

    A dead letter leaves the queue only after its request is safely republished (or its gap is
    found filled), so a failed republish loses nothing. Games it says were refused are released
    from quarantine first, since a replay means their cause was fixed. The republished requests
    belong to one run of trigger `replay`.
    """
    progress = progress or NoProgress()
    report = ReplayReport(new_run_id())
    published: dict[str, int] = {}
    started = datetime.now(UTC)
    with inbox.lease() as lease:
        chosen = _selected(lease, today, select)
        progress.start(len(chosen))
        for letter in chosen:
            outcome, detail = _replay_one(letter, replaying, report.run_id)
            if outcome in (Replayed.REPUBLISHED, Replayed.ALREADY_FILLED):
                lease.acknowledge(letter.message_id)
            if outcome is Replayed.REPUBLISHED and letter.processor:
                published[letter.processor] = published.get(letter.processor, 0) + 1
            report.outcomes[letter.message_id] = (outcome, detail)
            progress(f"{letter.message_id} {letter.processor} {letter.game_date}: "
                     f"{outcome.value} {detail}".rstrip())
            lease.keep_alive()
    if published:
        record_run(replaying.warehouse, replaying.ops, Run(
            report.run_id, Trigger.REPLAY, replaying.by, started, published, len(chosen),
            processors=tuple(sorted(published))))
    return report


def _replay_one(letter: DeadLetter, replaying: Replaying, run_id: str) -> tuple[Replayed, str]:
    request = letter.request
    if request is None:
        return Replayed.NOT_REPLAYABLE, letter.problem or ""
    if request.processor not in replaying.registry:
        return Replayed.NOT_REPLAYABLE, f"unknown processor {request.processor!r}"
    try:
        if letter.why.refused:
            _release(replaying, request, set(letter.why.refused))
        elif not request.force and not _still_a_gap(replaying, request):
            return Replayed.ALREADY_FILLED, ""
        again = request.model_copy(update={"reason": Reason.REPLAY,
                                           "replay_count": request.replay_count + 1,
                                           "detection_run_id": run_id})
        published = replaying.queue.publish([again])
    except BackfillError as exc:
        log.error("replay of %s failed: %s", letter.message_id, exc)
        return Replayed.FAILED, f"{type(exc).__name__}: {exc}"
    return Replayed.REPUBLISHED, f"as message {published[again.request_id]}"


def _still_a_gap(replaying: Replaying, request: Request) -> bool:
    day = request.game_date
    (result,) = find_gaps(replaying.warehouse, replaying.registry, replaying.ops,
                          Window(day, day), [request.processor])
    if result.error:
        raise BackfillError(result.error)
    return bool(result.candidates)


def _release(replaying: Replaying, request: Request, game_ids: set[str]) -> None:
    day = request.game_date
    holds = [e for e in held(replaying.warehouse, replaying.ops, Window(day, day),
                             request.processor) if e.game_id in game_ids]
    write_releases(replaying.warehouse, replaying.ops, holds, f"replayed by {replaying.by}",
                   request)


def purge(inbox: DeadLetterInbox, today: date, select: Selector,
          confirm: Callable[[list[DeadLetter]], bool]) -> list[DeadLetter]:
    """Remove the selected dead letters for good once `confirm` agrees; returns those removed."""
    with inbox.lease() as lease:
        chosen = _selected(lease, today, select)
        if not chosen or not confirm(chosen):
            return []
        for letter in chosen:
            lease.acknowledge(letter.message_id)
    return chosen
