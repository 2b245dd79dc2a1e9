"""Pub/Sub publishing: requests through the client's own batching, dead letters one at a time.

The client talks to the emulator whenever PUBSUB_EMULATOR_HOST is set, to Google Cloud otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import google.auth.exceptions
import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any

from backfill.adapters.pubsub_push import dead_letter_message
from backfill.domain.dead_letter import Why
from backfill.domain.errors import ConfigurationError, TransientError
from backfill.domain.request import Request
from backfill.ports import Delivery, RequestQueue

PUBLISH_TIMEOUT_SECONDS = 60.0


class PubSubQueue(RequestQueue):
    """Publishes through the client's own batching, then waits for every future."""

    def __init__(self, project: str, requests_topic: str, dead_letter_topic: str) -> None:
        self.project = project
        self.requests_topic = pubsub_v1.PublisherClient.topic_path(project, requests_topic)
        self.dead_letter_topic = pubsub_v1.PublisherClient.topic_path(project, dead_letter_topic)

    # The clients are made on first use: a detection that finds nothing needs no credentials.
    @functools.cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        return client(pubsub_v1.types.BatchSettings(max_messages=500, max_latency=0.02))

    @functools.cached_property
    def dead_letters(self) -> pubsub_v1.PublisherClient:
        # Published alone and waited for: no batching latency (20 ms) to wait out.
        return client(pubsub_v1.types.BatchSettings(max_messages=1))

    def publish(self, requests: Sequence[Request]) -> dict[str, str]:
        pending = {r.request_id: self.publisher.publish(self.requests_topic, r.encode(),
                                                        **r.attributes())
                   for r in requests}
        published, failed = {}, []
        for request_id, future in pending.items():
            try:
                published[request_id] = future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - collected and reported below, none dropped
                failed.append(f"{request_id}: {type(exc).__name__}: {exc}")
        if failed:
            raise TransientError(f"{len(failed)} of {len(pending)} requests were not published "
                                 f"to {self.requests_topic}; first: {failed[0]}")
        return published

    def dead_letter(self, delivery: Delivery, why: Why, request: Request | None,
                    timeout: float | None = None) -> str:
        body, attributes = dead_letter_message(delivery, why, request)
        try:
            return str(self.dead_letters.publish(self.dead_letter_topic, body, **attributes)
                       .result(timeout=timeout or PUBLISH_TIMEOUT_SECONDS))
        except Exception as exc:  # noqa: BLE001 - the caller must not acknowledge the request
            raise TransientError(f"could not publish dead letter to {self.dead_letter_topic}: "
                                 f"{type(exc).__name__}: {exc}") from None


def client(batching: pubsub_v1.types.BatchSettings) -> pubsub_v1.PublisherClient:
    try:
        return pubsub_v1.PublisherClient(batch_settings=batching)
    except google.auth.exceptions.DefaultCredentialsError:
        raise ConfigurationError(
            "no Google credentials for Pub/Sub: set PUBSUB_EMULATOR_HOST for the emulator, or "
            "run `gcloud auth application-default login`") from None
