"""The dead-letter subscription read as an inbox: pull everything, hold it, settle each message.

Peeking is a lease that acknowledges nothing: every message goes back with a zero ack deadline,
so the queue is as it was. Held messages get a long ack deadline, renewed during a long replay,
so a slow replay does not see its lease expire and a message delivered twice. A synchronous pull
may return fewer messages than there are, or none while some remain: the queue counts as empty
only after several empty pulls in a row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions

from backfill.adapters.pubsub_push import why_dead_lettered
from backfill.adapters.values import utc
from backfill.domain.dead_letter import DeadLetterMessage
from backfill.domain.errors import PermanentError, TransientError
from backfill.ports import DeadLetterInbox, Lease

log = logging.getLogger("backfill.pubsub")

PULL_BATCH = 1000  # Pub/Sub's maximum per pull
PULL_TIMEOUT_SECONDS = 1.0
EMPTY_PULLS = 3
HOLD_SECONDS = 600  # Pub/Sub's maximum ack deadline
RENEW_AFTER_SECONDS = HOLD_SECONDS / 3


class PubSubLease(Lease):
    def __init__(self, subscriber: pubsub_v1.SubscriberClient, path: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._subscriber = subscriber
        self._path = path
        self._ack_ids: dict[str, str] = {}
        self._clock = clock
        self._renewed = clock()
        self.messages: list[DeadLetterMessage] = []

    def pull_all(self) -> None:
        empty = 0
        while empty < EMPTY_PULLS:
            try:
                response = self._subscriber.pull(subscription=self._path, max_messages=PULL_BATCH,
                                                 timeout=PULL_TIMEOUT_SECONDS)
            except api_exceptions.DeadlineExceeded:
                empty += 1
                continue
            if not response.received_messages:
                empty += 1
                continue
            empty = 0
            self._hold([m.ack_id for m in response.received_messages])
            for received in response.received_messages:
                message = received.message
                if message.message_id not in self._ack_ids:
                    published = utc(message.publish_time)
                    attributes = dict(message.attributes)
                    self.messages.append(DeadLetterMessage(
                        message.message_id, bytes(message.data), attributes, published,
                        why_dead_lettered(attributes, published)))
                self._ack_ids[message.message_id] = received.ack_id
        self._renewed = self._clock()

    def keep_alive(self) -> None:
        if self._clock() - self._renewed >= RENEW_AFTER_SECONDS:
            self._hold(list(self._ack_ids.values()))
            self._renewed = self._clock()

    def _hold(self, ack_ids: list[str], seconds: int = HOLD_SECONDS) -> None:
        """Keep (or, at 0 seconds, give back) the leases, a batch of ids per call."""
        for start in range(0, len(ack_ids), PULL_BATCH):
            self._subscriber.modify_ack_deadline(subscription=self._path,
                                                 ack_ids=ack_ids[start:start + PULL_BATCH],
                                                 ack_deadline_seconds=seconds)

    def acknowledge(self, message_id: str) -> None:
        ack_id = self._ack_ids.pop(message_id)
        self._subscriber.acknowledge(subscription=self._path, ack_ids=[ack_id])

    def release(self) -> None:
        self._hold(list(self._ack_ids.values()), seconds=0)
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

