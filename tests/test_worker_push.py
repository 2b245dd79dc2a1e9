"""The worker as deployed: a functions-framework server fed by a push subscription on the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from backfill.adapters.duckdb_warehouse import DuckDBWarehouse
from backfill.adapters.pubsub_queue import PubSubQueue, ensure_topology
from backfill.bootstrap import registry_from_file
from backfill.domain.request import Reason, Request
from backfill.entrypoints.cycle import topology
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
