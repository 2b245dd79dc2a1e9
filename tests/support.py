"""Helpers the tests share: servers they start and stop, and small readers of what happened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backfill.entrypoints.local_stack import free_port
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


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that make a subprocess use `settings`."""
    from backfill.settings import ENVIRONMENT

    return {ENVIRONMENT[name]: str(getattr(settings, name)) for name in ENVIRONMENT
            if getattr(settings, name) is not None}


def backfill(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, on `settings` (plus environment overrides)."""
    environment = {**os.environ, **settings_environment(settings), **env}
    return subprocess.run([sys.executable, "-m", "backfill.entrypoints.cli", *args],
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
    """functions-framework serving functions/<detector|worker>/main.py; yields its base URL."""
    folder = {"work": "worker", "detect": "detector"}[target]
    port = free_port()
    environment = {**os.environ, **settings_environment(settings), **env,
                   "PYTHONPATH": str(REPO / "shared")}
    log = tempfile.NamedTemporaryFile(prefix=f"ff-{target}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", target,
         "--source", str(REPO / "functions" / folder / "main.py"), "--host", "127.0.0.1",
         "--port", str(port)],
        env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # answering, even if with an error status
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not start: {Path(log.name).read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
