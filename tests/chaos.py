"""Conservation under chaos: separate worker processes, injected faults, duplicates, SIGKILLs.

Used by tests/integration/test_chaos.py (a short run in `make test`) and by `make soak` (a whole
season): `python -m tests.chaos --start-date 2024-10-22 --end-date 2025-04-13 --workers 3`.

Every published request must end succeeded, skipped, partial or dead-lettered (conservation, by
request id); exactly the permanently failing dates are dead-lettered; no row is written twice;
and every filled date's rows equal the clean run's (the built-in processor's seeded table).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from backfill.adapters.pubsub_queue import PubSubQueue
from backfill.adapters.pubsub_topology import Topology, create_topology
from backfill.bootstrap import registry_of
from backfill.domain.request import Request
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Read
from backfill.processors.registry import Registry
from backfill.service.detect import find_gaps

from tests.faults import PLAN_VARIABLE, FaultPlan
from tests.support import REPO, environment, pull_all, unique_settings

# Each chaos processor computes like a built-in into a table of its own, which starts empty: the
# built-in's seeded table is the clean run it must match row for row.
CHAOS = {
    "chaos_offense_a": ("FaultyTeamOffense", "team_offense_game_summary"),
    "chaos_offense_b": ("FaultyTeamOffense", "team_offense_game_summary"),
    "chaos_defense_a": ("FaultyTeamDefense", "team_defense_game_summary"),
    "chaos_defense_b": ("FaultyTeamDefense", "team_defense_game_summary"),
    "chaos_player_a": ("FaultyPlayerGameSummary", "player_game_summary"),
    "chaos_upcoming_a": ("FaultyUpcomingContext", "upcoming_team_game_context"),
    "chaos_upcoming_b": ("FaultyUpcomingContext", "upcoming_team_game_context"),
}
KILLS = 2
ACK_DEADLINE_SECONDS = 10
# How a delivery may end, as `backfill worker` prints it; "retry" is not an end.
FILLED = ("succeeded", "skipped", "partial")


@dataclass
class Figures:
    requests: int = 0
    published: int = 0
    filled: int = 0
    dead_lettered: int = 0
    retries: int = 0
    redeliveries: int = 0
    kills: int = 0
    duplicates: int = 0
    lost: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"requests {self.requests}, published {self.published} messages, filled "
                f"{self.filled}, dead-lettered {self.dead_lettered}, retries {self.retries}, "
                f"redeliveries {self.redeliveries}, workers killed mid-write {self.kills}, "
                f"duplicates {self.duplicates}, lost {self.lost} ({self.seconds:.0f} s)")


def processors_file(folder: Path) -> Path:
    path = folder / "chaos-processors.toml"
    path.write_text("".join(
        f'[[processor]]\nname = "{name}"\nclass = "tests.faults:{cls}"\n'
        f'target = "nba_analytics.{name}"\n\n' for name, (cls, _) in CHAOS.items()))
    return path


def plan_faults(keys: list[str], rng: random.Random) -> dict[str, dict[str, Any]]:
    """20% transient (1-2 failures), 5% permanent, and a few slow writes to kill workers in."""
    shuffled = rng.sample(keys, len(keys))
    permanent = shuffled[:max(1, len(keys) // 20)]
    transient = shuffled[len(permanent):len(permanent) + len(keys) // 5]
    slow = shuffled[len(permanent) + len(transient):][:KILLS + 2]
    return {"permanent": dict.fromkeys(permanent, True),
            "transient": {k: rng.choice((1, 2)) for k in transient},
            "slow_write": dict.fromkeys(slow, 1.5)}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "backfill.local", "worker",
                                 "--concurrency", "2"], env=env, stdout=out, cwd=REPO,
                                stderr=subprocess.STDOUT, start_new_session=True)


def outcomes(logs: Path) -> list[dict[str, Any]]:
    """Every delivery the workers finished, one JSON line each (`backfill worker`)."""
    lines = [line for log in logs.glob("worker-*.log") for line in log.read_text().splitlines()]
    return [json.loads(line) for line in lines if line.startswith('{"outcome"')]


def run_chaos(warehouse_path: Path, window: Window, folder: Path, *, workers: int = 2,
              seed: int = 6, timeout_seconds: float = 600.0) -> Figures:
    """Fill every chaos processor's window under faults; return the figures and any problems."""
    started = time.monotonic()
    figures, rng = Figures(), random.Random(seed)
    settings = unique_settings(warehouse_path, processors_file=str(processors_file(folder)),
                               retry_budget_seconds=20.0)
    warehouse = DuckDBWarehouse(warehouse_path)
    registry = registry_of(settings)
    for name in CHAOS:
        warehouse.create_table(registry.get(name).target, registry.get(name).table_schema())
    found = find_gaps(warehouse, registry, OpsTables(settings.audit_dataset), window, list(CHAOS))
    run_id = f"chaos-{uuid.uuid4().hex[:8]}"
    requests = [Request(processor=c.processor, game_date=c.game_date, game_ids=c.game_ids,
                        reason=c.reason, detection_run_id=run_id)
                for result in found for c in result.candidates]
    warehouse.close()
    key_of = {r.request_id: f"{r.processor}/{r.game_date.isoformat()}" for r in requests}
    faults = plan_faults(sorted(key_of.values()), rng)
    plan = FaultPlan.write(folder / "fault-plan.json", faults)
    create_topology(Topology(settings.project, settings.requests_topic,
                             settings.requests_subscription, settings.dead_letter_topic,
                             settings.dead_letter_subscription, settings.max_delivery_attempts,
                             ack_deadline_seconds=ACK_DEADLINE_SECONDS))
    env = environment(settings, **{PLAN_VARIABLE: str(plan.path)})
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    processes = [start_worker(env, logs / f"worker-{i}.log") for i in range(workers)]
    twice = rng.sample(requests, len(requests) // 10)
    messages = requests + twice
    rng.shuffle(messages)
    PubSubQueue(settings.project, settings.requests_topic,
                settings.dead_letter_topic).publish(messages)
    figures.requests, figures.published = len(requests), len(messages)
    dead: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            for marker in list(plan.writing.iterdir()):
                pid = int(marker.read_text() or 0)
                victim = next((p for p in processes if p.pid == pid and p.poll() is None), None)
                if victim is not None and figures.kills < KILLS:
                    os.kill(pid, signal.SIGKILL)  # mid-write: the old rows are already deleted
                    victim.wait()
                    marker.unlink(missing_ok=True)
                    figures.kills += 1
                    processes.append(start_worker(env, logs / f"worker-{len(processes)}.log"))
            dead += _letters(settings, 0.5)
            finished = [o for o in outcomes(logs) if o["outcome"] != "retry"]
            forwarded = [d for d in dead if "CloudPubSubDeadLetterSourceSubscription"
                         in d["attributes"]]
            accounted = {o["request_id"] for o in finished} | {
                json.loads(d["body"])["request_id"] for d in dead}
            if accounted >= set(key_of) and len(finished) + len(forwarded) >= len(messages):
                break
            time.sleep(0.5)
        time.sleep(2)  # let anything redelivered late show up below
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    dead += _letters(settings, 1.0)
    seen = outcomes(logs)
    check(figures, DuckDBWarehouse(warehouse_path), registry, window, key_of, faults, seen, dead)
    attempts = plan.attempts()
    figures.retries = sum(attempts.values()) - len(attempts)
    figures.redeliveries = len(seen) + figures.kills - len(messages)
    figures.seconds = time.monotonic() - started
    return figures


def _letters(settings: Any, wait_seconds: float) -> list[dict[str, Any]]:
    return [{"body": m.message.data, "attributes": dict(m.message.attributes)}
            for m in pull_all(settings, settings.dead_letter_subscription,
                              wait_seconds=wait_seconds)]


def check(figures: Figures, warehouse: DuckDBWarehouse, registry: Registry, window: Window,
          key_of: dict[str, str], faults: dict[str, dict[str, Any]], seen: list[dict[str, Any]],
          dead: list[dict[str, Any]]) -> None:
    """Conservation by request id, the dead-letter set, the rows against the clean run."""
    permanent = set(faults["permanent"])
    dead_ids = {json.loads(d["body"])["request_id"] for d in dead}
    filled_ids = {o["request_id"] for o in seen if o["outcome"] in FILLED}
    figures.filled, figures.dead_lettered = len(filled_ids - dead_ids), len(dead_ids)
    figures.lost = len(set(key_of) - filled_ids - dead_ids)
    if filled_ids & dead_ids:
        figures.problems.append(f"{len(filled_ids & dead_ids)} requests both filled and dead")
    strays = {o["outcome"] for o in seen} - {*FILLED, "dead_lettered", "retry"}
    if strays:
        figures.problems.append(f"unexpected outcomes {sorted(strays)}")
    if {key_of[i] for i in dead_ids} != permanent:
        figures.problems.append(f"dead-lettered {sorted(key_of[i] for i in dead_ids)[:5]}..., "
                                f"expected the permanent failures {sorted(permanent)[:5]}...")
    keys = set(key_of.values())
    for name, (_, clean_name) in CHAOS.items():
        got = warehouse.read_rows(Read(registry.get(name).target, window.start, window.end))
        lines = [json.dumps(r, sort_keys=True, default=str) for r in got]
        figures.duplicates += len(lines) - len(set(lines))
        clean = warehouse.read_rows(Read(registry.get(clean_name).target, window.start,
                                         window.end))
        for day in window.dates():
            key = f"{name}/{day.isoformat()}"
            if key not in keys:
                continue
            mine = sorted(json.dumps(r, sort_keys=True, default=str) for r in got
                          if r["game_date"] == day)
            want = [] if key in permanent else sorted(
                json.dumps(r, sort_keys=True, default=str) for r in clean
                if r["game_date"] == day)
            if mine != want:
                figures.problems.append(f"{key}: {len(mine)} rows, the clean run has {len(want)}")
    warehouse.close()
    if figures.lost:
        figures.problems.append(f"{figures.lost} requests lost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 10, 22))
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2025, 4, 13))
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    from backfill.local.seeding import seed
    from backfill.local.stack import pubsub_emulator
    from backfill.processors.registry import load_registry
    from backfill.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="backfill-soak-"))
    window = Window(args.start_date, args.end_date)
    try:
        with pubsub_emulator(Settings.load({}, environ={})):
            path = folder / "soak.duckdb"
            seeded = DuckDBWarehouse(path)
            seed(seeded, load_registry(None), window)
            seeded.close()
            figures = run_chaos(path, window, folder, workers=args.workers, timeout_seconds=1500)
    finally:
        if not os.environ.get("BACKFILL_KEEP_SOAK"):
            shutil.rmtree(folder, ignore_errors=True)
    print(f"soak: {figures.line()}")
    for problem in figures.problems:
        print(f"soak: PROBLEM {problem}")
    sys.exit(1 if figures.problems or figures.kills < KILLS else 0)


if __name__ == "__main__":
    main()
