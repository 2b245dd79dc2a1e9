"""One measurement each: a function that sets up, times one thing, checks it was done, returns it."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from backfill.adapters.pubsub_queue import Consumer, PubSubQueue, ensure_topology
from backfill.bootstrap import build_worker, registry_from_file
from backfill.domain.gaps import GameStat, GapRule, find_gaps
from backfill.domain.request import Reason, Request
from backfill.domain.window import Window
from backfill.local.cycle import run_cycle, topology
from backfill.ports import Delivery
from backfill.service.work import Outcome, WorkResult
from backfill.settings import Settings
from google.cloud import pubsub_v1

from bench import references
from bench.io_bound import NAME as IO_BOUND
from bench.io_bound import PROCESSORS_TOML
from bench.peak import PREFIX
from bench.warehouses import BUILTIN, Template, open_gaps, remove_phase3

REPO = Path(__file__).resolve().parent.parent


def settings_for(warehouse_path: Path, **changes: object) -> Settings:
    """Settings on one warehouse copy, with topics and subscriptions of its own."""
    suffix = uuid.uuid4().hex[:8]
    return Settings.load({"warehouse": f"duckdb://{warehouse_path}",
                          "requests_topic": f"bench-requests-{suffix}",
                          "requests_subscription": f"bench-runner-{suffix}",
                          "dead_letter_topic": f"bench-dead-{suffix}",
                          "dead_letter_subscription": f"bench-dead-inspect-{suffix}",
                          **changes}, environ={})


class Done(Exception):
    """A measured run did not do everything it was asked: its time would mean nothing."""


# -- row 1 and 6: closing gaps with the real processors ------------------------------------------

def close_with_run(template: Template, folder: Path, window: Window, concurrency: int) -> float:
    """`backfill run --concurrency C` in process: seconds from start to the last gap closed."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    settings = settings_for(warehouse.path)
    started, last = time.monotonic(), [0.0]

    def finished(result: WorkResult) -> None:
        last[0] = time.monotonic()

    outcome = run_cycle(settings, window, concurrency=concurrency, on_result=finished)
    counts = outcome.as_dict()
    if outcome.failed or counts["succeeded"] != len(gaps) or counts["dead_lettered"]:
        raise Done(f"run C={concurrency} did not close {len(gaps)} gaps: {counts}")
    _check_closed(warehouse, window)
    return last[0] - started


def close_with_original(template: Template, folder: Path, window: Window) -> float:
    """The original loop on the same gaps: seconds to the last gap closed."""
    warehouse = template.copy(folder)
    remove_phase3(warehouse, window)
    started = time.monotonic()
    references.original_loop(warehouse, BUILTIN, window)
    elapsed = time.monotonic() - started
    _check_closed(warehouse, window)
    return elapsed


def close_with_limit(template: Template, folder: Path, window: Window, concurrency: int) -> float:
    """The limit on the same gaps: seconds to run every (processor, date) once."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    started = time.monotonic()
    references.limit(warehouse, BUILTIN, gaps, concurrency)
    elapsed = time.monotonic() - started
    _check_closed(warehouse, window)
    return elapsed


def gap_count(template: Template, folder: Path, window: Window) -> int:
    return len(remove_phase3(template.copy(folder), window))


def _check_closed(warehouse: object, window: Window, names: list[str] | None = None,
                  registry: object = BUILTIN) -> None:
    left = open_gaps(warehouse, registry, window, names)  # type: ignore[arg-type]
    if left:
        raise Done(f"{left} gaps still open after the run")


# -- row 2: an I/O-bound processor ---------------------------------------------------------------

def io_bound_run(template: Template, folder: Path, window: Window, concurrency: int) -> float:
    """`backfill run` of the 200 ms processor alone: seconds to the last gap closed."""
    warehouse = template.copy(folder)
    processors_file = folder / "io-bound.toml"
    processors_file.write_text(PROCESSORS_TOML, encoding="utf-8")
    registry = registry_from_file(str(processors_file))
    processor = registry.get(IO_BOUND)
    warehouse.create_table(processor.target, processor.schema)
    warehouse.close()
    settings = settings_for(warehouse.path, processors_file=str(processors_file))
    started, last = time.monotonic(), [0.0]

    def finished(result: WorkResult) -> None:
        last[0] = time.monotonic()

    outcome = run_cycle(settings, window, processors=[IO_BOUND], concurrency=concurrency,
                        on_result=finished)
    if outcome.failed or outcome.as_dict()["succeeded"] != len(outcome.detection.published):
        raise Done(f"I/O-bound run did not close its gaps: {outcome.as_dict()}")
    _check_closed(warehouse, window, [IO_BOUND], registry)
    return last[0] - started


# -- row 3: per-request overhead -----------------------------------------------------------------

def per_request_ms(template: Template, folder: Path, count: int, malformed: bool) -> float:
    """Median milliseconds per request through pull, decode, re-check, audit and ack (C=1)."""
    warehouse = template.copy(folder)
    warehouse.close()
    settings = settings_for(warehouse.path)
    ensure_topology(topology(settings))
    worker = build_worker(settings)
    queue = PubSubQueue(settings.project, settings.requests_topic, settings.dead_letter_topic)
    if malformed:
        for future in [queue.publisher.publish(queue.requests_topic, b"{not json")
                       for _ in range(count)]:
            future.result()
    else:
        days = template.game_dates
        queue.publish([Request(processor=BUILTIN.names[i % len(BUILTIN.names)],
                               game_date=days[i % len(days)], reason=Reason.MANUAL)
                       for i in range(count)])
    expected = Outcome.DEAD_LETTERED if malformed else Outcome.SKIPPED
    finished: list[float] = []
    all_done = threading.Event()
    wrong: list[str] = []

    def handle(delivery: Delivery) -> bool:
        result = worker.handle(delivery[0], delivery[1], delivery[2])
        if result.outcome is not expected:
            wrong.append(f"{result.outcome}: {result.error}")
        finished.append(time.monotonic())
        if len(finished) >= count:
            all_done.set()
        return result.outcome.acknowledged

    consumer = Consumer(settings.project, settings.requests_subscription, handle, 1)
    all_done.wait(timeout=300)
    consumer.stop()
    if wrong or len(finished) < count:
        raise Done(f"{len(finished)} of {count} handled; unexpected: {wrong[:3]}")
    gaps = [b - a for a, b in zip(finished, finished[1:], strict=False)]
    return statistics.median(gaps) * 1000 if gaps else 0.0


# -- row 4 and 6: detection at scale -------------------------------------------------------------

def detect_process(template: Template, folder: Path, window: Window,
                   original: bool) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `backfill detect --dry-run --json` (or the original
    detection), each a process of its own."""
    warehouse = template.copy(folder)
    warehouse.close()
    url = f"duckdb://{warehouse.path}"
    command = (["bench.references", url, str(window.start), str(window.end)] if original else
               ["backfill.local.cli", "--warehouse", url, "detect",
                "--start-date", str(window.start), "--end-date", str(window.end), "--dry-run",
                "--json"])
    return _timed_process(command)


def _timed_process(command: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bench.peak", *command], capture_output=True,
                          text=True, env=env, cwd=REPO, check=False)
    elapsed = time.monotonic() - started
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0 or not last.startswith(PREFIX):
        raise Done(f"{command[0]} exited {done.returncode}: {done.stderr[-500:]!r}")
    return elapsed, int(last.removeprefix(PREFIX)) / 1024


def diff_seconds(keys: int) -> float:
    """The in-code comparison alone: `keys` Phase 2 games against Phase 3 missing a tenth."""
    first = date(2020, 10, 1)
    phase2 = [GameStat(f"00224{i:05d}", first + timedelta(days=i % 1500), 2) for i in range(keys)]
    phase3 = [g for i, g in enumerate(phase2) if i % 10]
    started = time.monotonic()
    found = find_gaps("p", phase2, phase3, [], GapRule()).candidates
    elapsed = time.monotonic() - started
    if sum(len(c.game_ids) for c in found) != keys - len(phase3):
        raise Done("the difference found the wrong games")
    return elapsed


# -- row 5: publishing ---------------------------------------------------------------------------

def publish_rate(folder: Path, count: int, batched: bool) -> float:
    """Requests per second to the emulator: the adapter's batching, or one result() each."""
    settings = settings_for(folder / "unused.duckdb")
    ensure_topology(topology(settings))
    requests = [Request(processor="team_offense_game_summary",
                        game_date=date(2024, 11, 1) + timedelta(days=i % 150),
                        reason=Reason.MISSING) for i in range(count)]
    queue = PubSubQueue(settings.project, settings.requests_topic, settings.dead_letter_topic)
    publisher = pubsub_v1.PublisherClient()
    publish: Callable[[], object] = (
        (lambda: queue.publish(requests)) if batched else
        (lambda: [publisher.publish(queue.requests_topic, r.encode(), **r.attributes()).result()
                  for r in requests]))
    started = time.monotonic()
    publish()
    return count / (time.monotonic() - started)
