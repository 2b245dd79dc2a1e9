"""The dead-letter subscription read as an inbox: pull everything, hold it, settle each message.

Peeking is a lease that acknowledges nothing: every message goes back with a zero ack deadline,
so the queue is as it was. Held messages get a long ack deadline first, so a slow replay does not
see its lease expire and the message delivered twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions

from backfill.domain.dead_letter import Received
from backfill.domain.errors import PermanentError, TransientError
from backfill.ports import DeadLetterInbox, Lease

log = logging.getLogger("backfill.pubsub")

PULL_BATCH = 1000  # Pub/Sub's maximum per pull
PULL_TIMEOUT_SECONDS = 1.0
HOLD_SECONDS = 600  # Pub/Sub's maximum ack deadline


class PubSubLease(Lease):
    def __init__(self, subscriber: pubsub_v1.SubscriberClient, path: str) -> None:
        self._subscriber = subscriber
        self._path = path
        self._ack_ids: dict[str, str] = {}
        self.messages: list[Received] = []

    def pull_all(self) -> None:
        while True:
            try:
                response = self._subscriber.pull(subscription=self._path, max_messages=PULL_BATCH,
                                                 timeout=PULL_TIMEOUT_SECONDS)
            except api_exceptions.DeadlineExceeded:
                return
            if not response.received_messages:
                return
            ack_ids = [m.ack_id for m in response.received_messages]
            self._subscriber.modify_ack_deadline(subscription=self._path, ack_ids=ack_ids,
                                                 ack_deadline_seconds=HOLD_SECONDS)
            for received in response.received_messages:
                message = received.message
                if message.message_id not in self._ack_ids:
                    self.messages.append(Received(message.message_id, bytes(message.data),
                                                  dict(message.attributes),
                                                  _utc(message.publish_time)))
                self._ack_ids[message.message_id] = received.ack_id

    def acknowledge(self, message_id: str) -> None:
        ack_id = self._ack_ids.pop(message_id)
        self._subscriber.acknowledge(subscription=self._path, ack_ids=[ack_id])

    def release(self) -> None:
        ack_ids = list(self._ack_ids.values())
        for start in range(0, len(ack_ids), PULL_BATCH):
            self._subscriber.modify_ack_deadline(subscription=self._path,
                                                 ack_ids=ack_ids[start:start + PULL_BATCH],
                                                 ack_deadline_seconds=0)
        self._ack_ids.clear()


class PubSubInbox(DeadLetterInbox):
    """The pull subscription on the dead-letter topic (`backfill-dead-letter-inspect`)."""

    def __init__(self, project: str, subscription: str) -> None:
        self.project = project
        self.subscription = subscription

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        try:
            subscriber = pubsub_v1.SubscriberClient()
        except Exception as exc:  # noqa: BLE001 - no credentials or no client: say so in one line
            raise PermanentError(f"cannot reach Pub/Sub: {type(exc).__name__}: {exc}") from None
        path = subscriber.subscription_path(self.project, self.subscription)
        lease = PubSubLease(subscriber, path)
        try:
            try:
                lease.pull_all()
            except api_exceptions.NotFound:
                raise PermanentError(f"dead-letter subscription {path} does not exist") from None
            except api_exceptions.GoogleAPICallError as exc:
                raise TransientError(f"cannot read {path}: {exc.message}") from None
            yield lease
        finally:
            try:
                lease.release()
            except api_exceptions.GoogleAPICallError as exc:
                # Not fatal: the lease runs out on its own and the messages come back then.
                log.warning("could not release dead letters on %s: %s", path, exc.message)
            subscriber.close()


def _utc(stamp: datetime) -> datetime:
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
