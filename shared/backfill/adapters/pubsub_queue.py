"""Pub/Sub: publishing requests and dead letters, the local topology, and a streaming-pull consumer.

The client talks to the emulator whenever PUBSUB_EMULATOR_HOST is set, to Google Cloud otherwise.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass

import google.auth.exceptions
import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions
from google.protobuf import duration_pb2

from backfill.domain.errors import ConfigurationError, PermanentError, TransientError
from backfill.domain.request import Request
from backfill.ports import Delivery, PublishResult, RequestQueue

log = logging.getLogger("backfill.pubsub")

PUBLISH_TIMEOUT_SECONDS = 60.0
# The emulator holds an empty pull open until this timeout, so stopping waits for at most this.
PULL_TIMEOUT_SECONDS = 1.0
IDLE_PULL_SECONDS = 0.2
PREFETCH_FACTOR = 2


class PubSubQueue(RequestQueue):
    """Publishes through the client's own batching, then waits for every future."""

    def __init__(self, project: str, requests_topic: str, dead_letter_topic: str) -> None:
        self.project = project
        self.requests_topic = pubsub_v1.PublisherClient.topic_path(project, requests_topic)
        self.dead_letter_topic = pubsub_v1.PublisherClient.topic_path(project, dead_letter_topic)

    # The clients are made on first use: a detection that finds nothing needs no credentials.
    @functools.cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        return _client(pubsub_v1.types.BatchSettings(max_messages=500, max_latency=0.02))

    @functools.cached_property
    def dead_letters(self) -> pubsub_v1.PublisherClient:
        # Published alone and waited for: no batching latency (20 ms) to wait out.
        return _client(pubsub_v1.types.BatchSettings(max_messages=1))

    def publish(self, requests: Sequence[Request]) -> PublishResult:
        pending = {r.request_id: self.publisher.publish(self.requests_topic, r.encode(),
                                                        **r.attributes())
                   for r in requests}
        result, failed = PublishResult(), []
        for request_id, future in pending.items():
            try:
                result.message_ids[request_id] = future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - collected and reported below, none dropped
                failed.append(f"{request_id}: {type(exc).__name__}: {exc}")
        if failed:
            raise TransientError(f"{len(failed)} of {len(pending)} requests were not published "
                                 f"to {self.requests_topic}; first: {failed[0]}")
        return result

    def dead_letter(self, body: bytes, attributes: dict[str, str]) -> str:
        try:
            return str(self.dead_letters.publish(self.dead_letter_topic, body, **attributes)
                       .result(timeout=PUBLISH_TIMEOUT_SECONDS))
        except Exception as exc:  # noqa: BLE001 - the caller must not acknowledge the request
            raise TransientError(f"could not publish dead letter to {self.dead_letter_topic}: "
                                 f"{type(exc).__name__}: {exc}") from None


def _client(batching: pubsub_v1.types.BatchSettings) -> pubsub_v1.PublisherClient:
    try:
        return pubsub_v1.PublisherClient(batch_settings=batching)
    except google.auth.exceptions.DefaultCredentialsError:
        raise ConfigurationError(
            "no Google credentials for Pub/Sub: set PUBSUB_EMULATOR_HOST for the emulator, or "
            "run `gcloud auth application-default login`") from None


@dataclass(frozen=True)
class Topology:
    """The topics and subscriptions of one deployment (Terraform owns them in production)."""

    project: str
    requests_topic: str
    requests_subscription: str
    dead_letter_topic: str
    dead_letter_subscription: str
    max_delivery_attempts: int = 5
    push_endpoint: str | None = None
    ack_deadline_seconds: int = 600
    min_backoff_seconds: int = 1
    max_backoff_seconds: int = 10


def ensure_topology(topology: Topology) -> None:
    """Create what is missing: both topics, the requests subscription (push if an endpoint is
    given, else pull) with retry and dead-letter policies, and the dead-letter pull subscription."""
    publisher = pubsub_v1.PublisherClient()
    with pubsub_v1.SubscriberClient() as subscriber:
        requests_topic = publisher.topic_path(topology.project, topology.requests_topic)
        dead_topic = publisher.topic_path(topology.project, topology.dead_letter_topic)
        for topic in (requests_topic, dead_topic):
            _create(functools.partial(publisher.create_topic, name=topic))
        request: dict[str, object] = {
            "name": subscriber.subscription_path(topology.project, topology.requests_subscription),
            "topic": requests_topic,
            "ack_deadline_seconds": topology.ack_deadline_seconds,
            "retry_policy": {
                "minimum_backoff": duration_pb2.Duration(seconds=topology.min_backoff_seconds),
                "maximum_backoff": duration_pb2.Duration(seconds=topology.max_backoff_seconds)},
            "dead_letter_policy": {"dead_letter_topic": dead_topic,
                                   "max_delivery_attempts": topology.max_delivery_attempts},
        }
        if topology.push_endpoint:
            request["push_config"] = {"push_endpoint": topology.push_endpoint}
        _create(lambda: subscriber.create_subscription(request=request))
        _create(lambda: subscriber.create_subscription(
            name=subscriber.subscription_path(topology.project, topology.dead_letter_subscription),
            topic=dead_topic, ack_deadline_seconds=60))


def _create(call: Callable[[], object]) -> None:
    try:
        call()
    except api_exceptions.AlreadyExists:
        pass
    except api_exceptions.GoogleAPICallError as exc:
        raise PermanentError(f"cannot create Pub/Sub resources: {exc.message}") from None


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
        # instead of waiting an ack round trip (the outcome is already decided and recorded).
        self._settler = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-ack")
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
            delivery = (message.data, dict(message.attributes),
                        received.delivery_attempt or None, message.message_id)
            try:
                ack = self._handle(delivery)
            except Exception:  # noqa: BLE001 - leave it to redelivery and the dead-letter policy
                log.exception("delivery %s failed; it will be redelivered", message.message_id)
                ack = False
            self._settler.submit(self._settle, received, ack)
        finally:
            self._slots.release()

    def _settle(self, received: pubsub_v1.types.ReceivedMessage, ack: bool) -> None:
        try:
            if ack:
                self._subscriber.acknowledge(subscription=self._path, ack_ids=[received.ack_id])
            else:
                self._subscriber.modify_ack_deadline(subscription=self._path,
                                                     ack_ids=[received.ack_id],
                                                     ack_deadline_seconds=0)
        except api_exceptions.GoogleAPICallError as exc:
            # Not settled: Pub/Sub redelivers it after the deadline, and the re-check skips it.
            log.error("could not settle message %s: %s", received.message.message_id, exc)

    def stop(self) -> None:
        """Stop pulling and wait for the messages in hand to be handled."""
        self._stopping.set()
        self._thread.join()
        self._executor.shutdown(wait=True)
        self._settler.shutdown(wait=True)
        self._subscriber.close()
