"""The worker as deployed: a functions-framework server fed by a push subscription on the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from backfill.adapters.pubsub_queue import PubSubQueue, ensure_topology
from backfill.bootstrap import registry_from_file
from backfill.domain.request import Reason, Request
from backfill.local.cycle import topology
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import function_server, pull_all, unique_settings

REGISTRY = registry_from_file(None)
DAY = date(2024, 11, 6)


@pytest.fixture
def push_settings(warehouse_path: object, pubsub_emulator: str) -> Iterator[Settings]:
    """A worker server and a push subscription to it, with a quick retry policy."""
    settings = unique_settings(warehouse_path, retry_budget_seconds=0.5)
    with function_server("work", settings) as url:
        ensure_topology(replace(topology(settings), push_endpoint=url, min_backoff_seconds=1,
                                max_backoff_seconds=2, ack_deadline_seconds=30))
        yield settings


def clear(warehouse: DuckDBWarehouse, processor: str, day: date) -> int:
    target = REGISTRY.get(processor)
    before = len(warehouse.read_rows(target.target, day, day))
    warehouse.replace_range(target.target, day, day, [], target.schema)
    return before


def wait_for(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_pushed_request_fills_its_date(push_settings: Settings,
                                         warehouse: DuckDBWarehouse) -> None:
    expected = clear(warehouse, "team_offense_game_summary", DAY)
    queue = PubSubQueue(push_settings.project, push_settings.requests_topic,
                        push_settings.dead_letter_topic)
    queue.publish([Request(processor="team_offense_game_summary", game_date=DAY,
                           reason=Reason.MANUAL)])
    target = REGISTRY.get("team_offense_game_summary").target
    wait_for(lambda: len(warehouse.read_rows(target, DAY, DAY)) == expected)
    assert pull_all(push_settings, push_settings.dead_letter_subscription, wait_seconds=1) == []


def test_a_malformed_message_is_dead_lettered_in_one_delivery_with_its_reason(
        push_settings: Settings) -> None:
    queue = PubSubQueue(push_settings.project, push_settings.requests_topic,
                        push_settings.dead_letter_topic)
    queue.publisher.publish(queue.requests_topic, b'{"processor": "player_game_summary"}',
                            origin="by-hand").result()
    letters = []
    wait_for(lambda: letters.extend(pull_all(push_settings,
                                             push_settings.dead_letter_subscription)) or letters)
    [letter] = letters
    attributes = dict(letter.message.attributes)
    assert attributes["error_type"] == "InvalidRequest"
    assert attributes["error_message"] == "missing field 'game_date'"
    assert attributes["dead_lettered_by"] == "worker"
    assert attributes["origin"] == "by-hand"  # the original attributes travel along
    assert not any(k.startswith("CloudPubSubDeadLetter") for k in attributes)
    assert letter.message.data == b'{"processor": "player_game_summary"}'


def test_a_request_waiting_on_its_dependency_is_redelivered_with_backoff_then_dead_lettered(
        push_settings: Settings, warehouse: DuckDBWarehouse) -> None:
    clear(warehouse, "team_offense_game_summary", DAY)
    clear(warehouse, "player_game_summary", DAY)
    queue = PubSubQueue(push_settings.project, push_settings.requests_topic,
                        push_settings.dead_letter_topic)
    started = time.monotonic()
    queue.publish([Request(processor="player_game_summary", game_date=DAY,
                           reason=Reason.MISSING)])
    letters = []
    wait_for(lambda: letters.extend(pull_all(push_settings,
                                             push_settings.dead_letter_subscription)) or letters,
             seconds=120)
    elapsed = time.monotonic() - started
    [letter] = letters
    attributes = dict(letter.message.attributes)
    # The emulator sends no deliveryAttempt, so the worker answers 503 every time and Pub/Sub's
    # own dead-letter policy forwards the request after max_delivery_attempts.
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["processor"] == "player_game_summary"
    # Five deliveries of at least the 0.5 s retry budget each, with backoff between them.
    assert elapsed > 5 * 0.5 + 4 * 1
    assert warehouse.read_rows(REGISTRY.get("player_game_summary").target, DAY, DAY) == []


def test_backfill_stack_serves_the_local_topology_and_stops_everything_it_started(
        warehouse_path: object, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    from backfill.local.stack import answers, emulator_ready, free_port

    settings = unique_settings(warehouse_path)
    expected = clear(warehouse, "team_offense_game_summary", DAY)
    env = {**os.environ, **settings.environment()}
    env.pop("PUBSUB_EMULATOR_HOST")  # the stack starts an emulator of its own
    stack = subprocess.Popen(
        [sys.executable, "-m", "backfill.local.cli", "stack", "--worker-port",
         str(free_port()), "--detector-port", str(free_port())],
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert stack.stdout is not None
        exports = stack.stdout.readline()
        host = exports.split("PUBSUB_EMULATOR_HOST=")[1].split()[0]
        detector = [line for line in (stack.stdout.readline(), stack.stdout.readline())
                    if line.startswith("detector")][0].split()[1]
        published = subprocess.run(
            [sys.executable, "-c", "import json,sys,urllib.request;"
             "r=urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST',"
             " data=b'{\"start_date\": \"2024-11-01\", \"end_date\": \"2024-11-14\"}'));"
             "print(json.load(r)['published'])", detector],
            env={**env, "PUBSUB_EMULATOR_HOST": host}, capture_output=True, text=True,
            timeout=60, check=True)
        assert published.stdout.strip() == "1"
        target = REGISTRY.get("team_offense_game_summary").target
        wait_for(lambda: len(warehouse.read_rows(target, DAY, DAY)) == expected)
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=30)
    assert stack.returncode == 0
    # Nothing it started is still listening: not the emulator, not the functions.
    assert not emulator_ready(host)
    assert not answers(detector)
