"""The Pub/Sub push envelope, decoded as a pure function (a special case, named as such)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from backfill.domain.errors import InvalidRequest


@dataclass(frozen=True)
class PushDelivery:
    data: bytes
    attributes: dict[str, str]
    delivery_attempt: int | None
    message_id: str


def decode_push(body: bytes) -> PushDelivery:
    """`{"message": {"data": b64, "attributes": {...}, "messageId": ...}, "deliveryAttempt": n}`.

    `deliveryAttempt` is optional: the emulator never sends it, Pub/Sub only with a dead-letter policy.
    """
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequest("push envelope is not JSON") from None
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
    return PushDelivery(data, dict(attributes), attempt if isinstance(attempt, int) else None,
                        str(message.get("messageId") or message.get("message_id") or ""))
