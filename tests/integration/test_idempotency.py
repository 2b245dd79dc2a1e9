"""A (processor, date) write is atomic and idempotent: at-least-once redeliveries and concurrent
workers leave exactly one copy of each row (the original system's 72-duplicate incident)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date

import requests
from backfill.bootstrap import bootstrap, consumer
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.runner import work_until_drained
from backfill.settings import Settings

from tests.support import PLAYERS, canon, empty, function_server, push_body, rows

DAY = date(2024, 11, 8)


def player_keys(warehouse: DuckDBWarehouse) -> Counter[tuple[str, str]]:
    return Counter((r["game_id"], r["player_lookup"]) for r in rows(warehouse, PLAYERS, DAY))


def test_the_same_request_delivered_twice_and_forced_again_leaves_no_duplicates(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    before = canon(rows(warehouse, PLAYERS, DAY))
    keys = player_keys(warehouse)
    empty(warehouse, PLAYERS, DAY)
    request = Request(processor=PLAYERS, game_date=DAY, reason=Reason.MISSING)
    forced = Request(processor=PLAYERS, game_date=DAY, reason=Reason.MANUAL, force=True)
    app = bootstrap(settings)
    # At least once: the same message published twice, as a publisher retry would, and a rerun.
    app.queue.publish([request])
    app.queue.publish([request, forced])

    summary = work_until_drained(
        app.worker(), lambda handle, n: consumer(settings, handle, n),
        [request.request_id, forced.request_id], concurrency=2, quiet_seconds=1.0,
        timeout_seconds=60)
    app.close()

    assert summary.unaccounted == [] and summary.consumer_error is None
    assert sum(summary.outcomes.values()) == 3
    assert set(summary.outcomes) <= {"succeeded", "skipped"}
    assert summary.outcomes["succeeded"] >= 2  # the first and the forced one compute
    assert player_keys(warehouse) == keys and set(keys.values()) == {1}
    assert canon(rows(warehouse, PLAYERS, DAY)) == before


def test_two_workers_on_the_same_date_at_once_leave_one_copy_of_each_row(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    before = canon(rows(warehouse, PLAYERS, DAY))
    keys = player_keys(warehouse)
    warehouse.close()
    request = Request(processor=PLAYERS, game_date=DAY, reason=Reason.MANUAL, force=True)
    with ExitStack() as servers:
        # Two worker processes, each with its own connection to the one DuckDB file.
        urls = [servers.enter_context(function_server("work", settings)) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda i: requests.post(
                urls[i % 2], data=push_body(request, str(i)), timeout=120), range(8)))
    assert [r.status_code for r in replies] == [200] * 8
    assert {r.json()["outcome"] for r in replies} == {"succeeded"}
    assert player_keys(warehouse) == keys and set(keys.values()) == {1}
    assert canon(rows(warehouse, PLAYERS, DAY)) == before
