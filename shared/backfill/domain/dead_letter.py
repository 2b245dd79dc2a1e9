"""Dead letters: why a request was dead-lettered, and dead letters read back for inspection.

Two kinds reach the dead-letter topic: the worker's own, which say why, and those Pub/Sub's own
dead-letter policy forwards after too many unacknowledged deliveries, which only say how many.
How either is spelled in message attributes is the Pub/Sub adapter's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from backfill.domain.errors import InvalidRequest
from backfill.domain.request import Request, decode_request


@dataclass(frozen=True)
class Why:
    """Why a request was dead-lettered."""

    source: str  # "worker", or "pubsub" for a message its dead-letter policy forwarded
    error_type: str
    error_message: str
    attempts: int | None = None
    dead_lettered_at: datetime | None = None
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    # Games refused (held in quarantine) by a partial success, with their reasons.
    refused: dict[str, str] = field(default_factory=dict)
    body_bytes: int | None = None  # the original body's size, when it was cut to fit

    @property
    def error(self) -> str:
        return f"{self.error_type}: {self.error_message}".rstrip(": ")


@dataclass(frozen=True)
class DeadLetterMessage:
    """One message as the dead-letter subscription holds it, its reason decoded."""

    message_id: str
    data: bytes
    attributes: dict[str, str]
    published_at: datetime
    why: Why


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter interpreted: `request` is None when its body cannot be replayed."""

    message: DeadLetterMessage
    request: Request | None = None
    problem: str | None = None  # why `request` is None

    @property
    def message_id(self) -> str:
        return self.message.message_id

    @property
    def why(self) -> Why:
        return self.message.why

    @property
    def dead_lettered_at(self) -> datetime:
        return self.why.dead_lettered_at or self.message.published_at

    @property
    def processor(self) -> str | None:
        return self.request.processor if self.request else self.message.attributes.get("processor")

    @property
    def game_date(self) -> str | None:
        if self.request:
            return self.request.game_date.isoformat()
        return self.message.attributes.get("game_date")

    def as_dict(self, *, full: bool = False) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "message_id": self.message_id, "processor": self.processor,
            "game_date": self.game_date,
            "game_ids": list(self.request.game_ids) if self.request else [],
            "reason": self.request.reason.value if self.request else None,
            "request_id": self.request.request_id if self.request else None,
            "run_id": self.request.run_id if self.request else None,
            "replay_count": self.request.replay_count if self.request else 0,
            "source": self.why.source, "error": self.why.error, "attempts": self.why.attempts,
            "refused": dict(self.why.refused),
            "dead_lettered_at": self.dead_lettered_at.isoformat(),
            "replayable": self.request is not None, "problem": self.problem}
        if full:
            summary["attributes"] = dict(sorted(self.message.attributes.items()))
            summary["body"] = self.message.data.decode("utf-8", errors="replace")
        return summary


def describe(message: DeadLetterMessage, *, today: date) -> DeadLetter:
    """Interpret one dead letter of either kind; never raises on a malformed one."""
    try:
        return DeadLetter(message, decode_request(message.data, today=today))
    except InvalidRequest as exc:
        return DeadLetter(message, None, str(exc))
