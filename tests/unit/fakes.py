"""Fakes for the fast tier, each standing for a part that needs a server here: they record what
happened (`queue.published`, `queue.dead_letters`) and can be told to fail."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from backfill.adapters.pubsub_audit import encode_row
from backfill.adapters.pubsub_push import dead_letter_message, why_dead_lettered
from backfill.domain.dead_letter import DeadLetterMessage, Why
from backfill.domain.deadline import Deadline
from backfill.domain.errors import TransientError
from backfill.domain.request import Request
from backfill.ports import (
    AuditTopic,
    Change,
    DeadLetterInbox,
    Delivery,
    Lease,
    RequestQueue,
    Row,
    Warehouse,
)
from backfill.processors.base import GameInput
from backfill.processors.team_defense import TeamDefenseGameSummary


@dataclass
class RecordingQueue(RequestQueue):
    """Pub/Sub stand-in: publishing and dead-lettering recorded, as the real adapter encodes them."""

    published: list[Request] = field(default_factory=list)
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    fail_publish: bool = False
    fail_dead_letter: bool = False

    def publish(self, requests: Sequence[Request]) -> dict[str, str]:
        if self.fail_publish:
            raise TransientError("publishing is down (told to fail)")
        self.published += requests
        return {r.request_id: f"m{len(self.published) - len(requests) + i}"
                for i, r in enumerate(requests)}

    def dead_letter(self, delivery: Delivery, why: Why, request: Request | None,
                    timeout: float | None = None) -> str:
        if self.fail_dead_letter:
            raise TransientError("the dead-letter topic is down (told to fail)")
        self.dead_letters.append(dead_letter_message(delivery, why, request))
        return f"d{len(self.dead_letters)}"

    def inbox(self) -> MemoryInbox:
        """The dead letters published so far, as the dead-letter subscription would hold them."""
        return MemoryInbox([DeadLetterMessage(f"d{i}", body, attributes, datetime.now(UTC),
                                              why_dead_lettered(attributes, datetime.now(UTC)))
                            for i, (body, attributes) in enumerate(self.dead_letters, start=1)])


@dataclass
class RecordingAuditTopic(AuditTopic):
    """The audit topic's stand-in: each row's message recorded, as the real adapter encodes it."""

    messages: list[bytes] = field(default_factory=list)
    fail: bool = False

    def publish(self, rows: Sequence[Row], deadline: Deadline | None = None) -> None:
        if self.fail:
            raise TransientError("audit rows not confirmed (told to fail)")
        self.messages += [encode_row(row) for row in rows]


@dataclass
class MemoryInbox(DeadLetterInbox):
    messages: list[DeadLetterMessage] = field(default_factory=list)

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        yield _MemoryLease(self)


class _MemoryLease(Lease):
    def __init__(self, inbox: MemoryInbox) -> None:
        self._inbox = inbox
        self.messages = list(inbox.messages)

    def acknowledge(self, message_id: str) -> None:
        self._inbox.messages = [m for m in self._inbox.messages if m.message_id != message_id]


class FlakyWarehouse:
    """A warehouse whose writes fail with `error` the first `failures` times (a fault a real
    DuckDB cannot be made to have on cue); everything else goes to the real one."""

    def __init__(self, real: Warehouse, error: Exception, failures: int = 1_000) -> None:
        self._real = real
        self._error = error
        self.failures_left = failures

    def write(self, changes: Sequence[Change]) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise self._error
        self._real.write(changes)

    def scoped(self, *args: object, **kwargs: object) -> FlakyWarehouse:
        return self

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class CrashingProcessor(TeamDefenseGameSummary):
    """A processor with a bug: every game divides by zero."""

    def compute_game(self, game: GameInput) -> list[Row]:
        return [{"ratio": 1 / 0}]
