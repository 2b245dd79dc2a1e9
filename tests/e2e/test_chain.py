"""Event-driven all the way down, on the production topology: the Pub/Sub emulator, both functions
under functions-framework, the push subscription with Terraform's retry backoff, and the worker's
audit rows published to the audit topic, drained into the warehouse as `backfill stack` does
(production's BigQuery subscription). Each time ONE detector trigger, then the queue drains: the
workers publish every further level themselves, and the run counts it from their audit rows."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backfill.bootstrap import audit_drain, bootstrap
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seed.league import PHASE2_SCHEMAS
from backfill.local.stack import drain_audit, free_port
from backfill.ports import Replace
from backfill.processors import formulas
from backfill.processors.nba_raw import GAMEBOOK, TEAM_BOXSCORE
from backfill.service.detect import find_gaps
from backfill.service.runs import find_run, run_progress
from backfill.settings import Settings

from tests.integration.test_worker_push import Overloaded, letters, push_topology
from tests.support import (
    CONTEXT,
    DEFENSE,
    OFFENSE,
    PLAYERS,
    REGISTRY,
    SEED_WINDOW,
    backfill,
    canon,
    empty,
    function_server,
    json_out,
    rows,
    sql,
    start_backfill,
    stop,
    table_of,
    unique_settings,
    wait_for,
)

OPS = OpsTables(Settings().audit_dataset)
TERRAFORM_BACKOFF = {"min_backoff_seconds": 10, "max_backoff_seconds": 600}


class Topology:
    """The worker behind a proxy that counts its answers, the detector, the push subscription."""

    def __init__(self, settings: Settings, warehouse: DuckDBWarehouse, worker: Overloaded,
                 detector: str) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.worker = worker
        self.detector = detector
        self.detector_statuses: list[int] = []

    def trigger(self) -> dict[str, Any]:
        """Cloud Scheduler's call, naming the seeded window; then the run drained."""
        call = urllib.request.Request(self.detector, method="POST", data=json.dumps({
            "start_date": str(SEED_WINDOW.start), "end_date": str(SEED_WINDOW.end)}).encode())
        with urllib.request.urlopen(call, timeout=120) as response:
            self.detector_statuses.append(response.status)
            report: dict[str, Any] = json.load(response)
        assert report["published"], report
        wait_for(lambda: self.outstanding(report["run_id"]) == 0, seconds=240,
                 what=f"run {report['run_id']} drained")
        return report

    def outstanding(self, run_id: str) -> int | None:
        now = datetime.now(UTC)
        try:
            run = find_run(self.warehouse, OPS, run_id, now=now)
        except Exception:  # noqa: BLE001 - the run row may not be written yet
            return None
        return run_progress(self.warehouse, OPS, run, now=now,
                            stall_after=timedelta(hours=1)).outstanding

    def clean(self) -> bool:
        return not [c for p in find_gaps(self.warehouse, REGISTRY, OPS, SEED_WINDOW)
                    for c in p.candidates]


@pytest.fixture
def topology(warehouse_path: Path, warehouse: DuckDBWarehouse,
             pubsub_emulator: str) -> Iterator[Topology]:
    suffix = uuid.uuid4().hex[:8]
    settings = unique_settings(warehouse_path, audit_topic=f"audit-{suffix}",
                               audit_subscription=f"audit-log-{suffix}")
    with function_server("work", settings) as worker_url, \
            function_server("detect", settings) as detector_url:
        proxy = Overloaded(worker_url, k=0)  # forwards every push, counting the answers
        push_topology(settings, proxy.url, **TERRAFORM_BACKOFF)
        drain, stop = audit_drain(settings), threading.Event()
        draining = threading.Thread(target=drain_audit, name="audit-drain", args=(
            bootstrap(settings, warehouse=warehouse), drain, stop))
        draining.start()
        try:
            yield Topology(settings, warehouse, proxy, detector_url)
        finally:
            stop.set()
            draining.join()
            drain.close()
            proxy.close()


def test_one_trigger_brings_every_dependency_level_up_to_date(
        topology: Topology, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    # (a) A team box score corrected three days later: two more turnovers for one home team.
    day = date(2024, 11, 7)
    box = rows(warehouse, TEAM_BOXSCORE, day)
    home = min((r for r in box if r["is_home"]), key=lambda r: r["team_abbr"])
    home["turnovers"] += 2
    home["processed_at"] += timedelta(days=3)
    warehouse.write([Replace(TEAM_BOXSCORE, day, day, box, PHASE2_SCHEMAS[TEAM_BOXSCORE])])
    before = {r["player_lookup"]: r["usage_rate"] for r in rows(warehouse, PLAYERS, day)
              if r["team_abbr"] == home["team_abbr"]}

    report = topology.trigger()

    assert report["published"] == 2  # the two team summaries: the players follow on their own
    teams = {r["team_abbr"]: r for r in rows(warehouse, OFFENSE, day)}
    gamebook = {(r["team_abbr"], r["player_lookup"]): r for r in rows(warehouse, GAMEBOOK, day)}
    after = {}
    for player in rows(warehouse, PLAYERS, day):
        line, totals = gamebook[(player["team_abbr"], player["player_lookup"])], \
            teams[player["team_abbr"]]
        assert player["usage_rate"] == formulas.usage_rate(
            line["field_goals_attempted"], line["free_throws_attempted"], line["turnovers"],
            formulas.parse_minutes(line["minutes"]), totals["team_minutes"],
            totals["fg_attempted"], totals["ft_attempted"], totals["turnovers"]), player
        if player["team_abbr"] == home["team_abbr"]:
            after[player["player_lookup"]] = player["usage_rate"]
    assert after.keys() == before.keys() and any(before.values())
    assert all(after[p] < before[p] for p in after if before[p])  # recomputed, not copied
    shown = json_out(backfill(topology.settings, "runs", "show", report["run_id"], "--json"))
    by_processor = {p["processor"]: p for p in shown["processors"]}
    assert by_processor[PLAYERS]["published"] == by_processor[PLAYERS]["succeeded"] == 1
    assert shown["outstanding"] == 0
    assert topology.clean()

    # (b) Every Phase 3 row of a window removed, every processor.
    lost = Window(date(2024, 11, 9), date(2024, 11, 11))
    days = [lost.start + timedelta(days=n) for n in range(3)]
    removed = {name: empty(warehouse, name, *days) for name in (OFFENSE, DEFENSE, PLAYERS,
                                                                 CONTEXT)}
    assert all(removed.values())

    report = topology.trigger()

    pending = {(p["name"], g["game_date"]) for p in report["processors"]
               for g in p["pending_upstream"]}
    assert pending == {(PLAYERS, str(d)) for d in days}  # rode on the team offense
    for name, gone in removed.items():
        restored = rows(warehouse, name, lost.start, lost.end)
        assert canon(restored) == canon(gone), name
    assert topology.clean()

    # (c) A Phase 3 table dropped while the functions are warm (they described it).
    warehouse.close()
    sql(warehouse_path, f"DROP TABLE {table_of(OFFENSE)}")

    report = topology.trigger()

    offense = next(p for p in report["processors"] if p["name"] == OFFENSE)
    assert offense["status"] == "ok" and {c["reason"] for c in offense["candidates"]} == \
        {"missing"}
    assert rows(warehouse, OFFENSE, SEED_WINDOW.start, SEED_WINDOW.end)
    assert topology.clean()

    # No 5xx from the detector, no dead letter, and not one delivery that had to wait on a
    # dependency (a 503) nor any other retry: every push was answered 200 the first time.
    assert topology.detector_statuses == [200, 200, 200]
    assert set(topology.worker.statuses) == {200}, topology.worker.statuses
    assert set(topology.worker.deliveries.values()) == {1}
    assert letters(topology.settings, wait_seconds=2) == []


def test_backfill_stack_names_its_window_backoff_and_logs_and_keeps_the_logs(
        warehouse_path: Path, tmp_path: Path, pubsub_emulator: str) -> None:
    settings = unique_settings(warehouse_path, push_min_backoff_seconds=5)
    logs = tmp_path / "stack-logs"
    stack = start_backfill(settings, "stack", "--worker-port", str(free_port()),
                           "--detector-port", str(free_port()), "--logs", str(logs),
                           "--start-date", "2024-11-01", "--end-date", "2024-11-14")
    try:
        assert stack.stdout is not None
        printed = [stack.stdout.readline() for _ in range(5)]
        trigger = next(line for line in printed if line.startswith("detector"))
        body = json.loads(trigger.split(" -d ", 1)[1].strip().strip("'"))
        assert body == {"start_date": "2024-11-01", "end_date": "2024-11-14"}
        call = urllib.request.Request(trigger.split()[1], method="POST",
                                      data=json.dumps({**body, "dry_run": True}).encode())
        with urllib.request.urlopen(call, timeout=120) as response:
            assert response.status == 200
    finally:
        assert stop(stack) == 0
    worker = next(line for line in printed if line.startswith("worker"))
    assert "redelivery backoff 5-600 s" in worker
    assert any(str(logs) in line for line in printed)
    # Kept after a clean stop, with what the detector logged of its pass.
    assert (logs / "worker.log").exists()
    assert "detection" in (logs / "detector.log").read_text()
