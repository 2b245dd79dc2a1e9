"""The pull consumer of `backfill run` and `backfill worker`, on the emulator: every message
handled and settled once, and the acks that pile up while one call is out sent in one call."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import google.cloud.pubsub_v1 as pubsub_v1
import pytest
from backfill.adapters.pubsub_consumer import Consumer
from backfill.ports import Delivery

from tests.pubsub_recorder import recording

PROJECT = "consumer-test"
MESSAGES = 60
ACKNOWLEDGE = "/google.pubsub.v1.Subscriber/Acknowledge"


def test_every_message_is_settled_once_and_waiting_acks_go_together(
        pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(PROJECT, f"requests-{suffix}")
    subscription = subscriber.subscription_path(PROJECT, f"runner-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    bodies = [b"nack-once", *(f"m{i}".encode() for i in range(MESSAGES - 1))]
    for future in [publisher.publish(topic, body) for body in bodies]:
        future.result()

    handled: Counter[bytes] = Counter()
    lock, first_round, done = threading.Lock(), threading.Event(), threading.Event()

    def handle(delivery: Delivery) -> bool:
        with lock:
            handled[delivery.data] += 1
            if len(handled) == MESSAGES:
                first_round.set()
            if sum(handled.values()) == MESSAGES + 1:
                done.set()
            # The first delivery of one message is handed back (a nack): it comes again.
            return delivery.data != b"nack-once" or handled[delivery.data] > 1

    with recording(pubsub_emulator) as recorder:
        # The first Acknowledge answers only once every message was handled: the acks of all
        # the others wait meanwhile, and go out together in the next call.
        recorder.held[ACKNOWLEDGE] = first_round
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", recorder.host)
        consumer = Consumer(PROJECT, subscription.split("/")[-1], handle, concurrency=4)
        assert done.wait(timeout=60), handled
        consumer.stop()

    acks = [pubsub_v1.types.AcknowledgeRequest.deserialize(c.request) for c in recorder.calls
            if c.method == ACKNOWLEDGE]
    nacks = [pubsub_v1.types.ModifyAckDeadlineRequest.deserialize(c.request)
             for c in recorder.calls if c.method.endswith("/ModifyAckDeadline")]
    acked = [ack_id for call in acks for ack_id in call.ack_ids]
    assert handled == {body: 2 if body == b"nack-once" else 1 for body in bodies}
    assert len(acked) == len(set(acked)) == MESSAGES  # each message acknowledged once
    assert [len(call.ack_ids) for call in nacks] == [1]
    # The held call (with what had ended before it went), the rest together, and the nacked
    # message's second delivery: one ack per message would be 60 calls.
    assert len(acks) <= 3
