"""Pub/Sub's message shapes, as pure functions: the push envelope, and a dead letter's reason
spelled as attributes (written by the worker, read back by the inspector).

Attribute values are cut to Pub/Sub's 1,024 bytes of UTF-8 (a player name with accents must not
make a dead letter unpublishable), and only known attributes are copied from the original
message (Pub/Sub allows 100 per message).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from backfill.domain.dead_letter import Why
from backfill.domain.errors import InvalidRequest
from backfill.domain.request import MAX_BODY_BYTES, Request
from backfill.ports import Delivery

MAX_ATTRIBUTE_BYTES = 1024
# What Pub/Sub's own dead-letter policy adds to a message it forwards.
PUBSUB_PREFIX = "CloudPubSubDeadLetterSource"
# The request's own attributes, the only ones a dead letter copies from the original.
REQUEST_ATTRIBUTES = ("processor", "game_date", "reason")


def decode_push(body: bytes) -> Delivery:
    """`{"message": {"data": b64, "attributes": {...}, "messageId": ..., "publishTime": ...},
    "deliveryAttempt": n}`.

    `deliveryAttempt` is optional: the emulator never sends it, Pub/Sub only with a dead-letter
    policy.
    """
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequest("push envelope is not JSON") from None
    except RecursionError:  # json's own guard: nesting past the interpreter's recursion limit
        raise InvalidRequest("push envelope is JSON nested too deeply") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise InvalidRequest("push envelope has no 'message' object")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
        raise InvalidRequest("push envelope 'attributes' must map strings to strings")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidRequest("push envelope 'data' is not base64") from None
    attempt = envelope.get("deliveryAttempt")
    published = message.get("publishTime") or message.get("publish_time")
    published_at = _time(published) if isinstance(published, str) else None
    return Delivery(data, dict(attributes), attempt if isinstance(attempt, int) else None,
                    str(message.get("messageId") or message.get("message_id") or ""),
                    published_at=published_at if published_at and published_at.tzinfo else None)


def dead_letter_message(delivery: Delivery, why: Why,
                        request: Request | None) -> tuple[bytes, dict[str, str]]:
    """The body and attributes of a dead letter: the original body (cut to the request limit
    if it was bigger, which Pub/Sub might refuse to carry), and why, as attributes."""
    body = delivery.data
    body_bytes = len(body) if len(body) > MAX_BODY_BYTES else None
    attributes = {k: v for k, v in delivery.attributes.items() if k in REQUEST_ATTRIBUTES}
    if request is not None:
        attributes.update(request.attributes(), request_id=request.request_id,
                          run_id=request.run_id)
    attributes.update({
        "error_type": why.error_type, "error_message": why.error_message,
        "attempts": str(why.attempts or 0), "dead_lettered_by": why.source,
        "dead_lettered_at": _iso(why.dead_lettered_at),
        "first_failure_at": _iso(why.first_failure_at),
        "last_failure_at": _iso(why.last_failure_at),
        # The games only: their reasons are in error_message.
        **({"refused_games": ",".join(sorted(why.refused))} if why.refused else {}),
        **({"body_bytes": str(body_bytes)} if body_bytes else {})})
    return body[:MAX_BODY_BYTES], {k: cut(v) for k, v in attributes.items()}


def why_dead_lettered(attributes: dict[str, str], published_at: datetime) -> Why:
    """A dead letter's reason, from the worker's attributes or from Pub/Sub's own."""
    if f"{PUBSUB_PREFIX}DeliveryCount" in attributes:
        count = _int(attributes[f"{PUBSUB_PREFIX}DeliveryCount"])
        subscription = attributes.get(f"{PUBSUB_PREFIX}Subscription", "?")
        return Why("pubsub", "NotAcknowledged",
                   f"not acknowledged after {count} deliveries (dead-letter policy of "
                   f"subscription {subscription})", count, published_at)
    refused = dict.fromkeys(filter(None, attributes.get("refused_games", "").split(",")), "")
    return Why(attributes.get("dead_lettered_by", "worker"),
               attributes.get("error_type", "Unknown"), attributes.get("error_message", ""),
               _int(attributes.get("attempts")),
               _time(attributes.get("dead_lettered_at")) or published_at,
               _time(attributes.get("first_failure_at")),
               _time(attributes.get("last_failure_at")),
               refused,
               _int(attributes.get("body_bytes")))


def cut(value: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    """`value` in at most `limit` bytes of UTF-8, never splitting a character."""
    encoded = value.encode("utf-8")
    if len(encoded) <= limit:
        return value
    return encoded[:limit - 3].decode("utf-8", errors="ignore") + "..."


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
