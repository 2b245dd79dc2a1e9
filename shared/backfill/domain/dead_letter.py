"""Dead letters read back: what was asked, why it failed, and whether it can be replayed.

Two kinds reach the dead-letter topic: the worker's own (attributes `error_type`,
`error_message`, `attempts`, ... and `dead_lettered_by=worker`) and those Pub/Sub's dead-letter
policy forwards after too many unacknowledged deliveries (`CloudPubSubDeadLetterSource*`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from backfill.domain.errors import ConfigurationError, InvalidRequest
from backfill.domain.request import Request, decode_request

PUBSUB_PREFIX = "CloudPubSubDeadLetterSource"


@dataclass(frozen=True)
class Received:
    """One message as the dead-letter subscription holds it."""

    message_id: str
    data: bytes
    attributes: dict[str, str]
    published_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter interpreted: `request` is None when its body cannot be replayed."""

    message: Received
    source: str  # "worker" or "pubsub"
    error: str
    attempts: int | None
    dead_lettered_at: datetime
    request: Request | None = None
    problem: str | None = None  # why `request` is None

    @property
    def message_id(self) -> str:
        return self.message.message_id

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
            "replay_count": self.request.replay_count if self.request else 0,
            "source": self.source, "error": self.error, "attempts": self.attempts,
            "dead_lettered_at": self.dead_lettered_at.isoformat(),
            "replayable": self.request is not None, "problem": self.problem}
        if full:
            summary["attributes"] = dict(sorted(self.message.attributes.items()))
            summary["body"] = self.message.data.decode("utf-8", errors="replace")
        return summary


def describe(message: Received, *, today: date) -> DeadLetter:
    """Interpret one dead letter of either kind; never raises on a malformed one."""
    attributes = message.attributes
    try:
        request: Request | None = decode_request(message.data, today=today)
        problem = None
    except InvalidRequest as exc:
        request, problem = None, str(exc)
    if f"{PUBSUB_PREFIX}DeliveryCount" in attributes:
        count = _int(attributes[f"{PUBSUB_PREFIX}DeliveryCount"])
        subscription = attributes.get(f"{PUBSUB_PREFIX}Subscription", "?")
        return DeadLetter(message, "pubsub",
                          f"not acknowledged after {count} deliveries (dead-letter policy of "
                          f"subscription {subscription})", count, message.published_at,
                          request, problem)
    error_type = attributes.get("error_type", "Unknown")
    when = _time(attributes.get("dead_lettered_at") or attributes.get("last_failure_at"))
    return DeadLetter(message, attributes.get("dead_lettered_by", "worker"),
                      f"{error_type}: {attributes.get('error_message', '')}".rstrip(": "),
                      _int(attributes.get("attempts")), when or message.published_at,
                      request, problem)


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '12h', '7d', '2w' as a timedelta; ConfigurationError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigurationError(f"invalid duration {text!r}: use a number and s, m, h, d or w "
                                 "(e.g. 7d)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
