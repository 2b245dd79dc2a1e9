"""The demo cycle with BigQuery as the warehouse: the real CLI seeds the BigQuery API emulator,
Phase 3 rows are deleted, `detect` reports exactly those games, `run` (detector, Pub/Sub
emulator, worker) restores them identical to what was deleted and audits them."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date

from backfill.adapters.bigquery_warehouse import BigQueryWarehouse
from backfill.service.audit import audit_table, read_history
from backfill.settings import Settings

from tests.support import backfill
from tests.test_cycle import REGISTRY, delete_games

WINDOW = ["--start-date", "2024-11-01", "--end-date", "2024-11-03"]


def test_detect_and_run_close_gaps_in_bigquery(settings: Settings, bigquery_emulator: str) -> None:
    project = f"cycle-{uuid.uuid4().hex[:8]}"
    # The worker gives each BigQuery call a quarter of its budget; leave the emulator room.
    settings = replace(settings, warehouse=f"bigquery://{project}", retry_budget_seconds=60.0)
    seeded = backfill(settings, "seed", *WINDOW)
    assert seeded.returncode == 0, seeded.stderr
    warehouse = BigQueryWarehouse(project)
    day_a, day_b = date(2024, 11, 2), date(2024, 11, 3)
    defense = REGISTRY.get("team_defense_game_summary").target
    players = REGISTRY.get("player_game_summary").target
    deleted = {
        ("team_defense_game_summary", day_a): delete_games(
            warehouse, "team_defense_game_summary", day_a,
            {r["game_id"] for r in warehouse.read_rows(defense, day_a, day_a)}),
        ("player_game_summary", day_b): delete_games(
            warehouse, "player_game_summary", day_b,
            set(sorted({r["game_id"] for r in warehouse.read_rows(players, day_b, day_b)})[:2])),
    }

    detected = backfill(settings, "detect", *WINDOW, "--dry-run", "--json")
    assert detected.returncode == 0, detected.stderr
    found = {(p["name"], c["game_date"]): sorted(c["game_ids"])
             for p in json.loads(detected.stdout)["processors"] for c in p["candidates"]}
    assert found == {(name, day.isoformat()): sorted({r["game_id"] for r in rows})
                     for (name, day), rows in deleted.items()}

    ran = backfill(settings, "run", *WINDOW, "--concurrency", "2", "--json")
    assert ran.returncode == 0, ran.stderr
    counts = json.loads(ran.stdout)
    assert (counts["detected"], counts["published"], counts["succeeded"]) == (2, 2, 2)
    for (name, day), rows in deleted.items():
        games = {row["game_id"] for row in rows}
        restored = [r for r in warehouse.read_rows(REGISTRY.get(name).target, day, day)
                    if r["game_id"] in games]
        assert sorted(map(repr, restored)) == sorted(map(repr, rows))

    again = backfill(settings, "detect", *WINDOW, "--dry-run", "--json")
    assert all(not p["candidates"] for p in json.loads(again.stdout)["processors"])
    # The audit trail reached BigQuery through streaming inserts: one row per request.
    audit = read_history(warehouse, audit_table(settings.audit_dataset))
    assert sorted((r["processor"], r["game_date"], r["outcome"]) for r in audit) == sorted(
        (name, day, "succeeded") for name, day in deleted)

