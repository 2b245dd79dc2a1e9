"""One measurement each: a function that sets up, times one thing, checks it was done, returns it."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from backfill.adapters.pubsub_queue import PubSubQueue
from backfill.bootstrap import bootstrap, consumer, ensure_topology, registry_of
from backfill.domain.fingerprint import Fingerprint, Inputs
from backfill.domain.gaps import Evidence, GameStat, GapRule, judge
from backfill.domain.outcome import Outcome
from backfill.domain.request import Follower, Reason, Request
from backfill.domain.schedule import Schedule
from backfill.domain.window import Window
from backfill.local.cycle import AUDIT_BATCH_ROWS, run_cycle
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seed.league import PHASE2_SCHEMAS
from backfill.ports import Delivery, Read, Replace
from backfill.processors.nba_raw import TEAM_BOXSCORE
from backfill.service.detect import detect
from backfill.service.work import WorkResult
from backfill.settings import Settings
from google.cloud import pubsub_v1

from bench import detection, references
from bench.inprocess import Drained, MemoryQueue, app_on, delivery_of, drain
from bench.io_bound import NAME as IO_BOUND
from bench.io_bound import PROCESSORS_TOML
from bench.latency import LatencyAuditTopic, LatencyWarehouse, rounds
from bench.peak import PREFIX
from bench.warehouses import BUILTIN, OPS, Template, open_gaps, remove_phase3

REPO = Path(__file__).resolve().parent.parent
FUNCTION, FUNCTION_SHARED, RUNNER = "function", "function-threads", "runner"
# How each mode audits: a function publishes its delivery's rows to the audit topic and waits
# for the confirmation before it answers (Terraform sets BACKFILL_AUDIT_TOPIC); the local
# runner buffers them and appends them to the warehouse 200 at a time, and what is left when
# drained.
AUDIT_BATCH = {FUNCTION: 1, FUNCTION_SHARED: 1, RUNNER: AUDIT_BATCH_ROWS}
PUBLISHES_AUDIT = {FUNCTION: True, FUNCTION_SHARED: True, RUNNER: False}
# The run the measured requests belong to, as every request `detect`, `publish` and `dlq replay`
# publish names one (a request typed by hand has none: its first delivery also appends a
# manual run's row to the warehouse, one round more).
BENCH_RUN = "bench-run"
# Whether the C threads share one Worker (one process) or have one each: C function instances
# of one request each (terraform's default worker_concurrency = 1) have a Worker each; one
# instance serving C at once (worker_concurrency = C) shares its Worker, as the runner does.
SHARED_WORKER = {FUNCTION: False, FUNCTION_SHARED: True, RUNNER: True}


def settings_for(warehouse_path: Path, audit_topic: bool = False, **changes: object) -> Settings:
    """Settings on one warehouse copy, with topics and subscriptions of its own (and an audit
    topic the worker publishes to, as deployed, if `audit_topic`)."""
    suffix = uuid.uuid4().hex[:8]
    if audit_topic:
        changes = {"audit_topic": f"bench-audit-{suffix}",
                   "audit_subscription": f"bench-audit-log-{suffix}", **changes}
    return Settings.load({"warehouse": f"duckdb://{warehouse_path}",
                          "requests_topic": f"bench-requests-{suffix}",
                          "requests_subscription": f"bench-runner-{suffix}",
                          "dead_letter_topic": f"bench-dead-{suffix}",
                          "dead_letter_subscription": f"bench-dead-inspect-{suffix}",
                          **changes}, environ={})


class Done(Exception):
    """A measured run did not do everything it was asked: its time would mean nothing."""


def _check_closed(warehouse: DuckDBWarehouse, window: Window, names: list[str] | None = None,
                  registry: object = BUILTIN) -> None:
    left = open_gaps(warehouse, window, registry, names)  # type: ignore[arg-type]
    warehouse.close()
    if left:
        raise Done(f"{left} gaps still open after the run")


def warm_latency(warehouse: DuckDBWarehouse, delay: float) -> LatencyWarehouse:
    """The latency wrapper on a warehouse copy, every table the rows touch already described."""
    latency = LatencyWarehouse(DuckDBWarehouse(warehouse.path), delay)
    latency.warm([BUILTIN.schedule, OPS.log, OPS.quarantine, OPS.runs,
                  *(t for p in BUILTIN.ordered() for t in (p.source, p.target))])
    return latency


# -- latency-bound: round trips on one delivery's critical path ------------------------------------

@dataclass(frozen=True)
class RoundTrips:
    """Sequential warehouse rounds of one delivery of each kind (the most any processor took),
    and all warehouse calls it made (cached describes not counted)."""

    fresh: int
    skip: int
    dead_letter: int
    cold: int  # the first delivery of a process: nothing described yet
    fresh_calls: int


def audit_topic_for(mode: str, publish_delay: float | None) -> LatencyAuditTopic | None:
    """The audit topic a mode publishes to (a function's), behind its publish delay."""
    return LatencyAuditTopic(publish_delay) if PUBLISHES_AUDIT[mode] else None


def round_trips(template: Template, folder: Path, mode: str, delay: float,
                publish_delay: float | None = None) -> RoundTrips:
    """One delivery at a time on the latency wrapper, so every call logged while
    `Worker.handle` runs is that delivery's. Per processor: a skip on a complete date first (in
    a fresh process: `cold`), then again (warm), then the fresh gap of an emptied date."""
    warehouse = template.copy(folder)
    middle = len(template.game_dates) // 2
    full_day, gap_day = template.game_dates[middle - 1], template.game_dates[middle]
    gaps = remove_phase3(warehouse, Window(gap_day, gap_day))
    latency = LatencyWarehouse(DuckDBWarehouse(warehouse.path), delay)
    app = app_on(latency, warehouse.path, audit_topic=audit_topic_for(mode, publish_delay))
    worker = app.worker(audit_batch_rows=AUDIT_BATCH[mode])

    def delivered(delivery: Delivery, expected: Outcome) -> tuple[int, int]:
        started = time.monotonic()
        result = worker.handle(delivery)
        calls = latency.ledger.between(started, time.monotonic())
        if result.outcome is not expected:
            raise Done(f"expected {expected.value}, got {result.outcome.value}: {result.error}")
        return rounds(calls), len(calls)

    def request(name: str, day: date) -> Delivery:
        return delivery_of(Request(processor=name, game_date=day, reason=Reason.MISSING,
                                   detection_run_id=BENCH_RUN))

    try:
        cold = delivered(request(BUILTIN.names[0], full_day), Outcome.SKIPPED)[0]
        for name in BUILTIN.names[1:]:  # every table described, as a busy process has them
            delivered(request(name, full_day), Outcome.SKIPPED)
        skip = max(delivered(request(name, full_day), Outcome.SKIPPED)[0]
                   for name in BUILTIN.names)
        fresh = [delivered(request(name, day), Outcome.SUCCEEDED) for name, day in gaps]
        dead = delivered(Delivery(b"{not json", {}), Outcome.DEAD_LETTERED)[0]
        if worker.audit is not None:
            worker.audit.flush()
    finally:
        app.close()
    if {name for name, _ in gaps} != set(BUILTIN.names):
        raise Done(f"expected a gap of every processor on {gap_day}, found {gaps}")
    return RoundTrips(max(r for r, _ in fresh), skip, dead, cold, max(c for _, c in fresh))


# -- latency-bound: closing N date-gaps ------------------------------------------------------------

@dataclass(frozen=True)
class Closed:
    seconds: float
    gaps: int
    retries: int = 0
    calls: int = 0
    attempt_rounds: tuple[int, ...] = ()  # rounds of each delivery attempt's scoped path
    cpu_seconds: float = 0.0  # this process's CPU time meanwhile (DuckDB's work included)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _requests_for(warehouse: DuckDBWarehouse, window: Window) -> list[Request]:
    """The requests detection publishes for the window, in its order (oldest date first,
    dependencies before dependents): detected on plain DuckDB, before any timing."""
    queue = MemoryQueue()
    detect(warehouse, BUILTIN, OPS, queue, window)
    warehouse.close()
    return queue.published


def close_latency(template: Template, folder: Path, window: Window, concurrency: int,
                  delay: float, mode: str, audit: bool = True, waves: bool = False,
                  publish_delay: float | None = None) -> Closed:
    """The real worker, `concurrency` threads, on the latency wrapper: seconds from the first
    delivery to the last result (a runner-mode drain then appends the audit rows left).

    Two bench-only changes measure what stands in the way of the ideal: `audit=False` drops
    the audit append (Worker.audit = None), `waves` hands a processor's requests over only once
    its dependencies' are all done (so none waits and comes back)."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    requests = _requests_for(warehouse, window)
    carried = len(requests) + sum(_riders(r.followers) for r in requests)
    if carried != len(gaps):
        raise Done(f"detection published {carried} requests (followers included) for "
                   f"{len(gaps)} gaps")
    latency = warm_latency(warehouse, delay)
    app = app_on(latency, warehouse.path, audit_topic=audit_topic_for(mode, publish_delay))
    shared = app.worker(audit_batch_rows=AUDIT_BATCH[mode])
    workers = ([shared] * concurrency if SHARED_WORKER[mode] else
               [app.worker(audit_batch_rows=AUDIT_BATCH[mode]) for _ in range(concurrency)])
    if not audit:
        for worker in workers:
            worker.audit = None
    cpu = cpu_seconds()
    try:
        drained = Drained()
        for wave in (_levels(requests) if waves else [requests]):
            drained = drained.then(drain(workers, wave))
        for worker in workers:  # a runner drained appends what its batch still holds
            if worker.audit is not None:
                worker.audit.flush()
        cpu = cpu_seconds() - cpu
    finally:
        app.close()
    outcomes = drained.outcomes()
    if outcomes != {Outcome.SUCCEEDED.value: len(gaps)}:
        raise Done(f"{mode} C={concurrency}: {outcomes}")
    _check_closed(DuckDBWarehouse(warehouse.path), window)
    scoped = latency.ledger.by_scope()
    return Closed(drained.seconds, len(gaps), drained.retries, latency.ledger.count(),
                  tuple(rounds(calls) for calls in scoped.values()), cpu)


def _riders(followers: Sequence[Follower]) -> int:
    return sum(1 + _riders(f.followers) for f in followers)


@dataclass(frozen=True)
class Chain:
    """A correction at the root of the graph: from the trigger to the last level written."""

    seconds: float
    ideal: float
    written: tuple[str, ...]  # the processors written, in the order they ended

    @property
    def levels_text(self) -> str:
        """The processors written, level by level: "a + b, then c"."""
        depth = BUILTIN.graph.depth
        return ", then ".join(" + ".join(sorted(n for n in self.written if depth[n] == level))
                              for level in sorted({depth[n] for n in self.written}))


def correction_chain(template: Template, folder: Path, concurrency: int,
                     delay: float) -> Chain:
    """A team box score corrected on one date; one detection on the latency wrapper, then
    function-mode workers (audit rows published) until the queue is empty, the players published
    by the worker that changed the team offense. The ideal, on a copy corrected alike: the
    same detection, then one read round, compute and one write round per level."""
    middle = template.game_dates[len(template.game_dates) // 2]
    copies = [template.copy(folder) for _ in range(2)]
    for warehouse in copies:
        box = warehouse.read_rows(Read(TEAM_BOXSCORE, middle, middle))
        box[0]["turnovers"] += 2
        box[0]["processed_at"] += timedelta(days=3)
        warehouse.write([Replace(TEAM_BOXSCORE, middle, middle, box,
                                 PHASE2_SCHEMAS[TEAM_BOXSCORE])])
        warehouse.close()
    window = Window(middle, middle)
    latency = warm_latency(copies[0], delay)
    app = app_on(latency, copies[0].path, audit_topic=audit_topic_for(FUNCTION, None))
    workers = [app.worker(audit_batch_rows=AUDIT_BATCH[FUNCTION]) for _ in range(concurrency)]
    # Workers start on the publish, as pushes do, while the detector records its run.
    queue = _Signalling()
    detecting = threading.Thread(target=detect, args=(latency, BUILTIN, OPS, queue, window))
    try:
        started = time.monotonic()
        detecting.start()
        queue.published_once.wait(timeout=120)
        drained = drain(workers, list(queue.published))
        detecting.join()
        seconds = _last_write(latency, started)
    finally:
        app.close()
    written = tuple(r.request.processor for r in drained.results if r.request)
    if drained.outcomes() != {Outcome.SUCCEEDED.value: len(written)} or \
            written[-1] != "player_game_summary" or drained.retries:
        raise Done(f"the correction did not travel the chain: {written}, {drained.outcomes()}, "
                   f"{drained.retries} waits")
    _check_closed(DuckDBWarehouse(copies[0].path), window)
    ideal = warm_latency(copies[1], delay)
    started = time.monotonic()
    detect(ideal, BUILTIN, OPS, None, window)
    references.limit(ideal, BUILTIN, [(name, middle) for name in written], concurrency)
    elapsed = _last_write(ideal, started)
    ideal.close()
    _check_closed(DuckDBWarehouse(copies[1].path), window)
    return Chain(seconds, elapsed, written)


class _Signalling(MemoryQueue):
    """Says when the first requests are out."""

    def __init__(self) -> None:
        super().__init__()
        self.published_once = threading.Event()

    def publish(self, requests: Sequence[Request]) -> dict[str, str]:
        out = super().publish(requests)
        self.published_once.set()
        return out


def _last_write(latency: LatencyWarehouse, started: float) -> float:
    """Seconds from `started` to the end of the last write of the last level."""
    last = str(BUILTIN.get("player_game_summary").target)
    return max(c.end for c in latency.ledger.calls if c.kind == "write" and last in c.table) \
        - started


def _levels(requests: list[Request]) -> list[list[Request]]:
    """The requests by dependency level: processors depending on none first."""
    depth: dict[str, int] = {}
    for p in BUILTIN.ordered():
        depth[p.name] = 1 + max((depth[d] for d in p.depends_on), default=-1)
    return [[r for r in requests if depth[r.processor] == level]
            for level in sorted(set(depth.values()))]


def ideal_latency(template: Template, folder: Path, window: Window, concurrency: int,
                  delay: float) -> Closed:
    """Each date: one read round, the processor's compute, one write round; `concurrency` at a
    time, dependencies' dates in an earlier wave; on the same latency wrapper."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    latency = warm_latency(warehouse, delay)
    started, cpu = time.monotonic(), cpu_seconds()
    references.limit(latency, BUILTIN, gaps, concurrency)
    elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu
    latency.close()
    _check_closed(DuckDBWarehouse(warehouse.path), window)
    return Closed(elapsed, len(gaps), calls=latency.ledger.count(), cpu_seconds=cpu)


def original_latency(template: Template, folder: Path, window: Window, delay: float,
                     sample_dates: int | None) -> references.OriginalRun:
    """The original loop on the latency wrapper (its reads and writes also pay BigQuery's
    describe once per table, as the adapter does)."""
    warehouse = template.copy(folder)
    remove_phase3(warehouse, window)
    latency = warm_latency(warehouse, delay)
    try:
        run = references.original_loop(latency, BUILTIN, window, sample_dates)
    finally:
        latency.close()
    if run.complete:
        _check_closed(DuckDBWarehouse(warehouse.path), window)
    return run


# -- CPU-bound: `backfill run` and the limit on plain DuckDB --------------------------------------

@dataclass(frozen=True)
class Timed:
    """Seconds to the last gap closed, and this process's CPU seconds meanwhile (DuckDB's own
    threads included): near twice the wall, both cores were busy."""

    seconds: float
    cpu_seconds: float

    def __float__(self) -> float:
        return self.seconds


def close_with_run(template: Template, folder: Path, window: Window, concurrency: int,
                   on_result: Callable[[WorkResult], None] | None = None) -> Timed:
    """`backfill run --concurrency C` in process: seconds from start to the last gap closed."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    settings = settings_for(warehouse.path)
    started, last = time.monotonic(), [0.0, 0.0]
    cpu = cpu_seconds()

    def finished(result: WorkResult) -> None:
        last[:] = time.monotonic(), cpu_seconds()
        if on_result is not None:
            on_result(result)

    outcome = run_cycle(settings, window, concurrency=concurrency, on_result=finished)
    counts = outcome.as_dict()
    if outcome.failed or counts["succeeded"] != len(gaps) or counts["dead_lettered"]:
        raise Done(f"run C={concurrency} did not close {len(gaps)} gaps: {counts}")
    _check_closed(DuckDBWarehouse(warehouse.path), window)
    return Timed(last[0] - started, last[1] - cpu)


def close_with_limit(template: Template, folder: Path, window: Window, concurrency: int) -> Timed:
    """The limit on the same gaps: seconds to compute every (processor, date) once."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    started, cpu = time.monotonic(), cpu_seconds()
    references.limit(warehouse, BUILTIN, gaps, concurrency)
    elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu
    _check_closed(warehouse, window)
    return Timed(elapsed, cpu)


@dataclass(frozen=True)
class PerDate:
    """One (processor, date) at C=1 in process on plain DuckDB: milliseconds and warehouse
    calls each, the worker's (no queue) and the limit's."""

    worker_ms: float
    worker_calls: float
    limit_ms: float
    limit_calls: float


def per_date(template: Template, folder: Path, window: Window) -> PerDate:
    """Row 1 taken apart: the worker handed the requests one at a time in process (no queue, no
    concurrency, audit batched as the runner does) against the limit's compute, both through a
    counting wrapper (no delay, reads in sequence as on DuckDB)."""
    warehouse = template.copy(folder)
    gaps = remove_phase3(warehouse, window)
    requests = _requests_for(warehouse, window)
    counted = LatencyWarehouse(DuckDBWarehouse(warehouse.path), 0.0, latency_bound=False)
    app = app_on(counted, warehouse.path)
    worker = app.worker(audit_batch_rows=AUDIT_BATCH_ROWS)
    try:
        started = time.monotonic()
        results = [worker.handle(delivery_of(r)) for r in requests]
        worker_seconds = time.monotonic() - started
        worker_calls = counted.ledger.count()
        if worker.audit is not None:
            worker.audit.flush()
    finally:
        app.close()
    if any(r.outcome is not Outcome.SUCCEEDED for r in results):
        raise Done(f"C=1: {[r.outcome.value for r in results]}")
    warehouse = template.copy(folder)
    remove_phase3(warehouse, window)
    counted = LatencyWarehouse(DuckDBWarehouse(warehouse.path), 0.0, latency_bound=False)
    counted.warm([BUILTIN.schedule, *(t for p in BUILTIN.ordered() for t in (p.source, p.target))])
    started = time.monotonic()
    references.limit(counted, BUILTIN, gaps, 1)
    limit_seconds = time.monotonic() - started
    counted.close()
    n = len(gaps)
    return PerDate(worker_seconds / n * 1000, worker_calls / n, limit_seconds / n * 1000,
                   counted.ledger.count() / n)


def gap_count(template: Template, folder: Path, window: Window) -> int:
    return len(remove_phase3(template.copy(folder), window))


# -- an I/O-bound processor ------------------------------------------------------------------------

def io_bound_run(template: Template, folder: Path, window: Window, concurrency: int) -> Timed:
    """`backfill run` of the 200 ms processor alone: seconds to the last gap closed."""
    warehouse = template.copy(folder)
    processors_file = folder / "io-bound.toml"
    processors_file.write_text(PROCESSORS_TOML, encoding="utf-8")
    settings = settings_for(warehouse.path, processors_file=str(processors_file))
    registry = registry_of(settings)
    processor = registry.get(IO_BOUND)
    warehouse.create_table(processor.target, processor.table_schema())
    warehouse.close()
    started, last = time.monotonic(), [0.0, 0.0]
    cpu = cpu_seconds()

    def finished(result: WorkResult) -> None:
        last[:] = time.monotonic(), cpu_seconds()

    outcome = run_cycle(settings, window, processors=[IO_BOUND], concurrency=concurrency,
                        on_result=finished)
    published = sum(len(p.detection.published) for p in outcome.passes)
    if outcome.failed or outcome.as_dict()["succeeded"] != published or not published:
        raise Done(f"I/O-bound run did not close its gaps: {outcome.as_dict()}")
    _check_closed(DuckDBWarehouse(warehouse.path), window, [IO_BOUND], registry)
    return Timed(last[0] - started, last[1] - cpu)


# -- per-request overhead --------------------------------------------------------------------------

def per_request_ms(template: Template, folder: Path, count: int, malformed: bool,
                   audit_batch_rows: int = 1, published: bool = False) -> float:
    """Median milliseconds per request through pull, decode, re-check, audit and ack, C=1, on
    plain DuckDB. The audit rows are appended to DuckDB `audit_batch_rows` at a time (1:
    `backfill worker`'s way; 200: the runner's), or, if `published`, each delivery's published
    to the emulator's audit topic and confirmed before the ack (`backfill stack`'s way, as
    deployed)."""
    warehouse = template.copy(folder)
    warehouse.close()
    settings = settings_for(warehouse.path, audit_topic=published)
    ensure_topology(settings)
    app = bootstrap(settings)
    worker = app.worker(audit_batch_rows=audit_batch_rows)
    queue = PubSubQueue(settings.project, settings.requests_topic, settings.dead_letter_topic)
    if malformed:
        for future in [queue.publisher.publish(queue.requests_topic, b"{not json")
                       for _ in range(count)]:
            future.result()
    else:
        days = template.game_dates
        queue.publish([Request(processor=BUILTIN.names[i % len(BUILTIN.names)],
                               game_date=days[i % len(days)], reason=Reason.MANUAL,
                               detection_run_id=BENCH_RUN)
                       for i in range(count)])
    expected = Outcome.DEAD_LETTERED if malformed else Outcome.SKIPPED
    finished: list[float] = []
    all_done = threading.Event()
    wrong: list[str] = []

    def handle(delivery: Delivery) -> bool:
        result = worker.handle(delivery)
        if result.outcome is not expected:
            wrong.append(f"{result.outcome}: {result.error}")
        finished.append(time.monotonic())
        if len(finished) >= count:
            all_done.set()
        return result.outcome.acknowledged

    pulling = consumer(settings, handle, 1)
    all_done.wait(timeout=300)
    pulling.stop()
    if worker.audit is not None:
        worker.audit.flush()
    app.close()
    if wrong or len(finished) < count:
        raise Done(f"{len(finished)} of {count} handled; unexpected: {wrong[:3]}")
    gaps = [b - a for a, b in zip(finished, finished[1:], strict=False)]
    return statistics.median(gaps) * 1000 if gaps else 0.0


# -- detection at scale ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Process:
    wall: float      # the whole process
    rss_mb: float    # its peak RSS
    inside: float    # the detection alone (bench.detection), else the whole process


def detect_process(template: Template, folder: Path, window: Window, which: str) -> Process:
    """`backfill detect --dry-run --json` (`cli`) or bench.detection's `current`, `without`,
    `original`, each a process of its own."""
    warehouse = template.copy(folder)
    warehouse.close()
    url = f"duckdb://{warehouse.path}"
    command = (["backfill.local", "--warehouse", url, "detect", "--start-date",
                str(window.start), "--end-date", str(window.end), "--dry-run", "--json"]
               if which == "cli" else
               ["bench.detection", which, url, str(window.start), str(window.end)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bench.peak", *command], capture_output=True,
                          text=True, env=env, cwd=REPO, check=False)
    wall = time.monotonic() - started
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0 or not last.startswith(PREFIX):
        raise Done(f"{command[0]} exited {done.returncode}: {done.stderr[-500:]!r}")
    inside = next((float(line.removeprefix(detection.PREFIX).split()[0])
                   for line in done.stdout.splitlines() if line.startswith(detection.PREFIX)),
                  wall)
    return Process(wall, int(last.removeprefix(PREFIX)) / 1024, inside)


@dataclass(frozen=True)
class ImportCost:
    seconds: float
    rss_mb: float


def pubsub_import() -> ImportCost:
    """What importing the Pub/Sub client adds to a process that already has the CLI's detection
    imported: what `detect --dry-run` saves since `bootstrap.Backfill` makes the Pub/Sub clients
    on first use (it paid it while bootstrap built them up front)."""
    code = ("import time\n"
            "import backfill.local.cli, backfill.local.duckdb_warehouse, backfill.service.detect\n"
            "def peak():\n"
            "    status = open('/proc/self/status').read()\n"
            "    return int(status.split('VmHWM:')[1].split()[0])\n"
            "before, started = peak(), time.monotonic()\n"
            "import google.cloud.pubsub_v1\n"
            "print(time.monotonic() - started, peak() - before)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, check=True)
    seconds, kib = done.stdout.split()
    return ImportCost(float(seconds), int(kib) / 1024)


def diff_seconds(keys: int) -> float:
    """The in-code comparison alone: `keys` Phase 2 games against Phase 3 missing a tenth."""
    first = date(2020, 10, 1)
    phase2 = [GameStat(f"00224{i:05d}", first + timedelta(days=i % 1500), 2,
                       fingerprint=Fingerprint("f")) for i in range(keys)]
    computed = Inputs(None, {"raw.p": Fingerprint("f")}).to_text()
    phase3 = [replace(g, inputs=computed) for i, g in enumerate(phase2) if i % 10]
    window = Window(first, first + timedelta(days=1500))
    started = time.monotonic()
    found = judge(GapRule("p", "raw.p"), Evidence(window, phase2, phase3, Schedule())).candidates
    elapsed = time.monotonic() - started
    if sum(len(c.game_ids) for c in found) != keys - len(phase3):
        raise Done("the difference found the wrong games")
    return elapsed


# -- publishing ------------------------------------------------------------------------------------

def publish_rate(folder: Path, count: int, batched: bool) -> float:
    """Requests per second to the emulator: the adapter's batching, or one result() each."""
    settings = settings_for(folder / "unused.duckdb")
    ensure_topology(settings)
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
