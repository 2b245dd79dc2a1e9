"""A pull consumer of the requests subscription, for `backfill run` and self-hosted workers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures

import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions

from backfill.ports import Delivery

log = logging.getLogger("backfill.pubsub")

# The emulator holds an empty pull open until this timeout, so stopping waits for at most this.
PULL_TIMEOUT_SECONDS = 1.0
IDLE_PULL_SECONDS = 0.2
PREFETCH_FACTOR = 2


class Consumer:
    """Synchronous pull with `concurrency` worker threads and up to as many messages again in hand.

    `handle` returns True to acknowledge, False to let Pub/Sub redeliver (nack). Synchronous pull,
    not streaming pull: the emulator keeps a closed stream's messages leased for a minute, which
    would stall the next run on the same subscription.
    """

    def __init__(self, project: str, subscription: str, handle: Callable[[Delivery], bool],
                 concurrency: int) -> None:
        self._subscriber = pubsub_v1.SubscriberClient()
        self._path = self._subscriber.subscription_path(project, subscription)
        self._handle = handle
        # Pull one batch ahead: the next messages are in hand when a worker frees up, instead of
        # each worker waiting a pull round trip (about a third of a request's time at C=1).
        self._slots = threading.Semaphore(PREFETCH_FACTOR * concurrency)
        self._executor = futures.ThreadPoolExecutor(max_workers=concurrency,
                                                    thread_name_prefix="backfill-worker")
        # Acks and nacks go out on a thread of their own, so a worker takes the next message
        # instead of waiting an ack round trip (the outcome is already decided and recorded);
        # those that come while one call is out go together in the next (no timer, no wait).
        self._settler = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-ack")
        self._unsettled: list[tuple[pubsub_v1.types.ReceivedMessage, bool]] = []
        self._unsettled_lock = threading.Lock()
        self._stopping = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._pull_loop, name="backfill-pull", daemon=True)
        self._thread.start()

    def _pull_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                free = self._take_free_slots()
                try:
                    response = self._subscriber.pull(
                        subscription=self._path, max_messages=free, timeout=PULL_TIMEOUT_SECONDS)
                    received = list(response.received_messages)
                except (api_exceptions.DeadlineExceeded, api_exceptions.ServiceUnavailable):
                    received = []
                for _ in range(free - len(received)):
                    self._slots.release()
                if self._stopping.is_set() and received:
                    # Pulled while stopping: hand them back at once rather than hold their lease.
                    self._subscriber.modify_ack_deadline(
                        subscription=self._path, ack_ids=[m.ack_id for m in received],
                        ack_deadline_seconds=0)
                    for _ in received:
                        self._slots.release()
                    break
                for message in received:
                    self._executor.submit(self._deliver, message)
                if not received:
                    self._stopping.wait(IDLE_PULL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - reported to the runner, which fails loudly
            log.error("pulling from %s failed: %s", self._path, exc)
            self.error = exc

    def _take_free_slots(self) -> int:
        self._slots.acquire()
        free = 1
        while self._slots.acquire(blocking=False):
            free += 1
        return free

    def _deliver(self, received: pubsub_v1.types.ReceivedMessage) -> None:
        message = received.message
        try:
            delivery = Delivery(bytes(message.data), dict(message.attributes),
                                received.delivery_attempt or None, message.message_id,
                                published_at=message.publish_time)
            try:
                ack = self._handle(delivery)
            except Exception:  # noqa: BLE001 - leave it to redelivery and the dead-letter policy
                log.exception("delivery %s failed; it will be redelivered", message.message_id)
                ack = False
            with self._unsettled_lock:
                self._unsettled.append((received, ack))
                first = len(self._unsettled) == 1
            if first:  # else a settle already submitted will take it along
                self._settler.submit(self._settle)
        finally:
            self._slots.release()

    def _settle(self) -> None:
        with self._unsettled_lock:
            unsettled, self._unsettled = self._unsettled, []
        for ack, settle in ((True, lambda ids: self._subscriber.acknowledge(
                                subscription=self._path, ack_ids=ids)),
                            (False, lambda ids: self._subscriber.modify_ack_deadline(
                                subscription=self._path, ack_ids=ids, ack_deadline_seconds=0))):
            messages = [received for received, acked in unsettled if acked is ack]
            if not messages:
                continue
            try:
                settle([received.ack_id for received in messages])
            except api_exceptions.GoogleAPIError as exc:  # a call refused, or retried out
                # Not settled: Pub/Sub redelivers them after the deadline, the re-check skips.
                log.error("could not settle messages %s: %s",
                          ", ".join(r.message.message_id for r in messages), exc)

    def stop(self) -> None:
        """Stop pulling and wait for the messages in hand to be handled."""
        self._stopping.set()
        self._thread.join()
        self._executor.shutdown(wait=True)
        self._settler.shutdown(wait=True)
        self._subscriber.close()
