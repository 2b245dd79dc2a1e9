"""A (processor, date) write is atomic and idempotent: redeliveries and concurrent workers leave
exactly one copy of each row (the original system's 72-duplicate incident)."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date

from backfill.bootstrap import build_worker, registry_from_file
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.service.work import Outcome
from backfill.settings import Settings

from tests.support import function_server

REGISTRY = registry_from_file(None)
DAY = date(2024, 11, 8)


def player_keys(warehouse: DuckDBWarehouse) -> Counter[tuple[str, str]]:
    rows = warehouse.read_rows(REGISTRY.get("player_game_summary").target, DAY, DAY)
    return Counter((r["game_id"], r["player_lookup"]) for r in rows)


def push(url: str, request: Request) -> int:
    envelope = {"message": {"data": base64.b64encode(request.encode()).decode(),
                            "attributes": request.attributes(), "messageId": "1"}}
    call = urllib.request.Request(url, data=json.dumps(envelope).encode(), method="POST",
                                  headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(call, timeout=60) as response:
        return int(response.status)


def test_the_same_request_delivered_twice_leaves_no_duplicates(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    before = player_keys(warehouse)
    target = REGISTRY.get("player_game_summary")
    warehouse.replace_range(target.target, DAY, DAY, [], target.schema)
    worker = build_worker(settings)
    request = Request(processor="player_game_summary", game_date=DAY, reason=Reason.MISSING)
    first = worker.handle(request.encode())
    second = worker.handle(request.encode())
    assert (first.outcome, second.outcome) == (Outcome.SUCCEEDED, Outcome.SKIPPED)
    forced = worker.handle(request.model_copy(update={"force": True}).encode())
    assert forced.outcome == Outcome.SUCCEEDED
    assert player_keys(warehouse) == before
    assert set(before.values()) == {1}


def test_two_workers_on_the_same_date_at_once_leave_one_copy_of_each_row(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    before = player_keys(warehouse)
    request = Request(processor="player_game_summary", game_date=DAY, reason=Reason.MANUAL,
                      force=True)
    with ExitStack() as servers:
        urls = [servers.enter_context(function_server("work", settings)) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda i: push(urls[i % 2], request), range(8)))
    assert statuses == [200] * 8
    assert player_keys(warehouse) == before
    assert set(before.values()) == {1}
