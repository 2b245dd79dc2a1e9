"""Operating the quarantine: what is held and why, and releasing games to be computed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from backfill.domain.errors import PermanentError
from backfill.domain.quarantine import Hold, QuarantineEvent, current
from backfill.domain.request import Reason, Request
from backfill.domain.runs import Run, Trigger, new_run_id
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.ports import Read, RequestQueue, Warehouse
from backfill.service.detect import record_run
from backfill.service.ledger import append, quarantine_rows
from backfill.service.reads import optional


def held(warehouse: Warehouse, ops: OpsTables, window: Window,
         processor: str | None = None) -> list[QuarantineEvent]:
    """Every game held in the window (of one processor, if named), oldest date first."""
    rows = optional(lambda: warehouse.read_rows(Read(ops.quarantine, window.start, window.end)),
                    [])()
    holds = current(QuarantineEvent.from_row(r) for r in rows)
    return sorted((event for name, games in holds.items() if processor in (None, name)
                   for event in games.values()), key=lambda e: (e.game_date, e.processor,
                                                                e.game_id))


@dataclass(frozen=True)
class Released:
    games: list[QuarantineEvent]
    request: Request


def release(warehouse: Warehouse, queue: RequestQueue, ops: OpsTables, processor: str,
            day: date, game_id: str | None = None, *, by: str) -> Released:
    """Release the held games of (processor, date) (or one of them) and publish the date again.

    Released first: if the publish fails, the next detection finds the games and publishes them.
    """
    games = [e for e in held(warehouse, ops, Window(day, day), processor)
             if game_id in (None, e.game_id)]
    if not games:
        which = f"game {game_id} of " if game_id else ""
        raise PermanentError(f"nothing of {which}{processor} {day} is held in quarantine")
    now = datetime.now(UTC)
    run = Run(new_run_id(), Trigger.MANUAL, by, now,
              {processor: 1}, len(games), window=(day, day), processors=(processor,))
    request = Request(processor=processor, game_date=day,
                      game_ids=tuple(sorted(e.game_id for e in games)), reason=Reason.MANUAL,
                      detection_run_id=run.run_id)
    write_releases(warehouse, ops, games, f"released by {by}", request)
    queue.publish([request])
    record_run(warehouse, ops, run)
    return Released(games, request)


def write_releases(warehouse: Warehouse, ops: OpsTables, holds: list[QuarantineEvent],
                   why: str, request: Request) -> None:
    """Record that held games are let go, so detection publishes them again."""
    if not holds:
        return
    now = datetime.now(UTC)
    released = [QuarantineEvent(e.processor, e.game_date, e.game_id, Hold.RELEASED, why,
                                e.inputs, now, request.request_id, request.run_id)
                for e in holds]
    append(warehouse, [quarantine_rows(ops, released)])
