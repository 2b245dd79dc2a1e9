"""The audit trail on Pub/Sub: rows published to the audit topic, one JSON message a row.

In production a BigQuery subscription (terraform/audit.tf, `use_table_schema`) writes each
message into `backfill_log`: the message's keys are the table's columns and its values are what
BigQuery's JSON writer takes (DATE as "YYYY-MM-DD", TIMESTAMP as microseconds since the epoch).
The emulator has no BigQuery subscriptions, so `backfill stack` drains the topic through a pull
subscription (`AuditDrain`) and appends the rows itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry

from backfill.adapters.pubsub_queue import PUBLISH_TIMEOUT_SECONDS, client
from backfill.domain.deadline import Deadline
from backfill.domain.errors import TransientError
from backfill.domain.tables import Schema
from backfill.ports import AuditTopic, Row

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The client's own batching: the rows of one delivery (and of deliveries an instance serves at
# the same moment) go in one Publish call, sent after at most a millisecond.
BATCHING = {"max_messages": 500, "max_latency": 0.001}
# A failed Publish call is retried with backoff while the delivery has time (the errors the
# client itself treats as transient).
TRANSIENT = api_retry.if_exception_type(
    api_exceptions.Aborted, api_exceptions.Cancelled, api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError, api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable, api_exceptions.Unknown)


def encode_row(row: Row) -> bytes:
    """The message a BigQuery subscription writes as this row."""
    return json.dumps({name: _json_value(value) for name, value in row.items()},
                      separators=(",", ":")).encode()


def decode_row(data: bytes, columns: Schema) -> Row:
    """The row a message stands for, typed as the table's columns (what the subscription does)."""
    message = json.loads(data)
    return {c.name: _typed(message.get(c.name), c.type) for c in columns}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP":
        return EPOCH + timedelta(microseconds=value)
    if kind == "DATE":
        return date.fromisoformat(value)
    return value


class PubSubAuditTopic(AuditTopic):
    """Publishes through the client's own batching and waits until every row is confirmed."""

    def __init__(self, project: str, topic: str) -> None:
        self.topic = pubsub_v1.PublisherClient.topic_path(project, topic)

    @functools.cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        return client(pubsub_v1.types.BatchSettings(**BATCHING))

    def publish(self, rows: Sequence[Row], deadline: Deadline | None = None) -> None:
        left = deadline.timeout(PUBLISH_TIMEOUT_SECONDS) if deadline else PUBLISH_TIMEOUT_SECONDS
        retry = api_retry.Retry(predicate=TRANSIENT, initial=0.1, maximum=2.0, multiplier=2.0,
                                timeout=left)
        futures = [self.publisher.publish(self.topic, encode_row(row), retry=retry,
                                          timeout=left) for row in rows]
        try:
            for future in futures:
                future.result(timeout=deadline.timeout(left) if deadline else left)
        except Exception as exc:  # noqa: BLE001 - the caller logs the rows, none dropped silently
            raise TransientError(f"audit rows not confirmed by {self.topic}: "
                                 f"{type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class Pulled:
    ack_ids: list[str]
    rows: list[Row]


class AuditDrain:
    """A pull subscription on the audit topic, read as the BigQuery subscription would write it
    (the local stack's stand-in: the emulator has no BigQuery subscriptions)."""

    def __init__(self, project: str, subscription: str, columns: Schema) -> None:
        self.columns = columns
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscription = self.subscriber.subscription_path(project, subscription)

    def pull(self, max_messages: int = 500, timeout: float = 5.0) -> Pulled:
        """What the subscription holds, up to `max_messages` (waiting up to `timeout` for one)."""
        try:
            response = self.subscriber.pull(subscription=self.subscription,
                                            max_messages=max_messages, timeout=timeout)
        except api_exceptions.DeadlineExceeded:
            return Pulled([], [])
        received = list(response.received_messages)
        return Pulled([m.ack_id for m in received],
                      [decode_row(m.message.data, self.columns) for m in received])

    def acknowledge(self, ack_ids: list[str]) -> None:
        if ack_ids:
            self.subscriber.acknowledge(subscription=self.subscription, ack_ids=ack_ids)

    def close(self) -> None:
        self.subscriber.close()
