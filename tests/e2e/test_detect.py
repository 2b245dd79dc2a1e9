"""`backfill detect` publishing through the real CLI: the cap, the order, the run it records, and
the topology it makes on a fresh emulator so nothing it publishes is dropped."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from backfill.domain.request import decode_request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import (
    DEFENSE,
    OFFENSE,
    PLAYERS,
    SEED_WINDOW,
    backfill,
    empty,
    json_out,
    pull_all,
    unique_settings,
)

WINDOW = ["--start-date", str(SEED_WINDOW.start), "--end-date", str(SEED_WINDOW.end)]


def published(settings: Settings) -> list[tuple[date, str, str | None]]:
    requests = [decode_request(m.message.data, today=date(2024, 11, 20))
                for m in pull_all(settings, settings.requests_subscription)]
    return sorted((r.game_date, r.processor, r.detection_run_id) for r in requests)


def test_max_messages_publishes_oldest_dates_first_dependencies_first_and_records_the_run(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    days = [date(2024, 11, 3), date(2024, 11, 2)]
    empty(warehouse, PLAYERS, *days)
    empty(warehouse, OFFENSE, *days)
    warehouse.close()

    result = backfill(settings, "detect", *WINDOW, "--max-messages", "1", "--json")

    assert result.returncode == 0, result.stderr
    report = json_out(result)
    assert (report["published"], report["deferred"]) == (1, 1)
    run = report["run_id"]
    # The players ride on the team offense of their date; deferred: the later date's.
    assert published(settings) == [(date(2024, 11, 2), OFFENSE, run)]
    players = next(p for p in report["processors"] if p["name"] == PLAYERS)
    assert [(g["game_date"], g["upstream"]) for g in players["pending_upstream"]] == [
        ("2024-11-02", OFFENSE), ("2024-11-03", OFFENSE)]
    (listed,) = json_out(backfill(settings, "runs", "--json"))
    assert (listed["run_id"], listed["trigger"], listed["found"], listed["published"],
            listed["deferred"], listed["outstanding"], listed["state"]) == (
        run, "cli", 4, 1, 1, 1, "running")
    assert listed["window"] == {"start_date": str(SEED_WINDOW.start),
                                "end_date": str(SEED_WINDOW.end)}


def test_detect_on_a_fresh_emulator_makes_the_topology_so_nothing_it_publishes_is_dropped(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    fresh = unique_settings(warehouse_path)  # its topics and subscriptions do not exist yet
    empty(warehouse, DEFENSE, date(2024, 11, 6))
    warehouse.close()

    result = backfill(fresh, "detect", *WINDOW, "--json")

    assert result.returncode == 0, result.stderr
    assert json_out(result)["published"] == 1
    assert [(d, p) for d, p, _ in published(fresh)] == [(date(2024, 11, 6), DEFENSE)]
