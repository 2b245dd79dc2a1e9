"""Helpers the tests share: servers they start and stop, and small readers of what happened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backfill.local import stack as local_stack
from backfill.settings import Settings
from google.cloud import pubsub_v1

REPO = Path(__file__).resolve().parent.parent


def unique_settings(warehouse: Path, **changes: object) -> Settings:
    """Settings with topic and subscription names of their own, so tests share one emulator."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "warehouse": f"duckdb://{warehouse}",
        "requests_topic": f"requests-{suffix}",
        "requests_subscription": f"runner-{suffix}",
        "dead_letter_topic": f"dead-letter-{suffix}",
        "dead_letter_subscription": f"dead-letter-inspect-{suffix}",
        "retry_budget_seconds": 5.0,
    }
    values.update(changes)
    return Settings.load(values, environ={})


def backfill(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, on `settings` (plus environment overrides)."""
    environment = {**os.environ, **settings.environment(), **env}
    return subprocess.run([sys.executable, "-m", "backfill.local.cli", *args],
                          capture_output=True, text=True, env=environment, timeout=300,
                          check=False)


def pull_all(settings: Settings, subscription: str, *, ack: bool = True,
             wait_seconds: float = 3.0) -> list[pubsub_v1.types.ReceivedMessage]:
    """Every message currently on a subscription (acknowledged unless `ack=False`)."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(settings.project, subscription)
    received: list[pubsub_v1.types.ReceivedMessage] = []
    deadline = time.monotonic() + wait_seconds
    with subscriber:
        while time.monotonic() < deadline:
            response = subscriber.pull(subscription=path, max_messages=100, timeout=1.0)
            if not response.received_messages:
                if received:
                    break
                continue
            received += response.received_messages
            ids = [m.ack_id for m in response.received_messages]
            if ack:
                subscriber.acknowledge(subscription=path, ack_ids=ids)
            else:
                subscriber.modify_ack_deadline(subscription=path, ack_ids=ids,
                                               ack_deadline_seconds=0)
    return received


@contextmanager
def function_server(target: str, settings: Settings, **env: str) -> Iterator[str]:
    """functions-framework serving functions/<detector|worker>/main.py with `settings`."""
    with local_stack.function_server(target, {**settings.environment(), **env}) as url:
        yield url
