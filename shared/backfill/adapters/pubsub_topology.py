"""The local topology: topics and subscriptions on the emulator (Terraform owns them on Google
Cloud), with the same retry and dead-letter policies."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import google.cloud.pubsub_v1 as pubsub_v1  # untyped: by path, so mypy reads it as Any
from google.api_core import exceptions as api_exceptions
from google.protobuf import duration_pb2

from backfill.domain.errors import PermanentError


@dataclass(frozen=True)
class Topology:
    """The topics and subscriptions of one deployment (Terraform owns them in production)."""

    project: str
    requests_topic: str
    requests_subscription: str
    dead_letter_topic: str
    dead_letter_subscription: str
    max_delivery_attempts: int = 60
    push_endpoint: str | None = None
    # The audit topic and the pull subscription that stands in for its BigQuery subscription
    # (the emulator has none): `backfill stack` drains it into the warehouse.
    audit_topic: str | None = None
    audit_subscription: str | None = None
    ack_deadline_seconds: int = 600
    min_backoff_seconds: int = 1
    max_backoff_seconds: int = 10


def create_topology(topology: Topology) -> None:
    """Create what is missing: both topics, the requests subscription (push if an endpoint is
    given, else pull) with retry and dead-letter policies, the dead-letter pull subscription, and
    the audit topic with its pull subscription if one is named."""
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
        if topology.audit_topic and topology.audit_subscription:
            audit_topic = publisher.topic_path(topology.project, topology.audit_topic)
            _create(functools.partial(publisher.create_topic, name=audit_topic))
            _create(lambda: subscriber.create_subscription(
                name=subscriber.subscription_path(topology.project, topology.audit_subscription),
                topic=audit_topic, ack_deadline_seconds=60))


def _create(call: Callable[[], object]) -> None:
    try:
        call()
    except api_exceptions.AlreadyExists:
        pass
    except api_exceptions.GoogleAPICallError as exc:
        raise PermanentError(f"cannot create Pub/Sub resources: {exc.message}") from None
