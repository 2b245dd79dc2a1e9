"""What dominates: the CPU-bound run's worker threads and the detection of five seasons, profiled
(bench/profiling.py) once after the timed repeats, so the profiler's overhead touches no figure."""

from __future__ import annotations

import pstats
import time
from dataclasses import dataclass
from pathlib import Path

from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.service.detect import detect

from bench.measures import close_with_run
from bench.profiling import Share, cumulative, profile_threads, self_time, top
from bench.warehouses import BUILTIN, OPS, Template

CUMULATIVE, SELF = "cumulative", "self"
# (what it is, the function's label, which of its times): cumulative time, so nested calls count
# in their stage, unless said otherwise.
Stage = tuple[str, str] | tuple[str, str, str]

# DuckDB's methods are pybind11 functions, which cProfile does not see as calls of their own:
# a query's time is the self time of the adapter's function that runs it (scan_together, read_rows,
# _insert, _delete), so the adapter's functions stand for DuckDB here.
DELIVERY_STAGES: tuple[Stage, ...] = (
    ("service/work.py:handle (the delivery)", "service/work.py:handle"),
    ("service/gather.py:gather (describes + the re-check's reads)", "service/gather.py:gather"),
    ("service/decide.py:decide (the re-check)", "service/decide.py:decide"),
    ("service/gather.py:rows_to_compute (the rows a computation reads, once judged)",
     "service/gather.py:rows_to_compute"),
    ("processors/base.py:produce (the processor's compute)", "processors/base.py:produce"),
    ("service/ledger.py:append (the write)", "service/ledger.py:append"),
    ("service/audit.py:record (audit rows, flushed in batches)", "service/audit.py:record"),
    ("local/duckdb_warehouse.py:read_rows (query + rows to dicts)",
     "local/duckdb_warehouse.py:read_rows"),
    ("local/duckdb_warehouse.py:scan_together (query + GameStats)",
     "local/duckdb_warehouse.py:scan_together"),
    ("local/duckdb_warehouse.py:write (transaction)", "local/duckdb_warehouse.py:write"),
    ("local/duckdb_warehouse.py:_connection, its own time: waiting for the write lock",
     "local/duckdb_warehouse.py:_connection", SELF),
    ("local/duckdb_warehouse.py:_open (opening the file again)",
     "local/duckdb_warehouse.py:_open"),
)
DETECTION_STAGES: tuple[Stage, ...] = (
    ("service/detect.py:detect", "service/detect.py:detect"),
    ("service/detect.py:_read_window (every read)", "service/detect.py:_read_window"),
    ("local/duckdb_warehouse.py:scan_together (7 scans: query + GameStats)",
     "local/duckdb_warehouse.py:scan_together"),
    ("adapters/sql.py:game_stat (result rows to GameStats)", "adapters/sql.py:game_stat"),
    ("service/detect.py:_schedule (schedule read + Schedule.from_rows)",
     "service/detect.py:_schedule"),
    ("local/duckdb_warehouse.py:_open (opening the file again)",
     "local/duckdb_warehouse.py:_open"),
    ("domain/gaps.py:judge (the comparison, 4 processors)", "domain/gaps.py:judge"),
    ("domain/fingerprint.py:game_inputs", "domain/fingerprint.py:game_inputs"),
    ("domain/gaps.py:upstream_gaps", "domain/gaps.py:upstream_gaps"),
    ("domain/schedule.py:types (every game keyed, on the first call)", "domain/schedule.py:types"),
    ("domain/gaps.py:game_gap", "domain/gaps.py:game_gap"),
    ("domain/gaps.py:by_key", "domain/gaps.py:by_key"),
)
# Where a worker thread waits for its next delivery rather than working one.
_IDLE = ("threading.py:wait", "queue.py:get", "<method 'acquire'", "thread.py:_worker",
         "<method 'get' of '_queue.SimpleQueue'")


@dataclass
class Profile:
    title: str
    wall: float
    reference: str
    reference_seconds: float
    threads: list[str]
    stages: list[Share]
    by_self: list[Share]

    def markdown(self) -> str:
        lines = [f"**{self.title}**: {self.wall:.2f} s wall under the profiler; shares are of "
                 f"{self.reference} ({self.reference_seconds:.2f} s, summed over threads "
                 f"{', '.join(self.threads)}).", "",
                 "| stage (cumulative) | s | share |", "|---|---|---|"]
        lines += [f"| {s.function} | {s.seconds:.2f} | {s.share:.0%} |" for s in self.stages]
        lines += ["", "| function (self time) | s | share |", "|---|---|---|"]
        lines += [f"| `{s.function}` | {s.seconds:.2f} | {s.share:.0%} |" for s in self.by_self]
        return "\n".join(lines) + "\n"


def _stages(stats: pstats.Stats, reference: float, stages: tuple[Stage, ...]) -> list[Share]:
    out = []
    for stage in stages:
        name, label = stage[0], stage[1]
        seconds = (self_time(stats, label) if stage[2:] == (SELF,)
                   else cumulative(stats, label.__eq__))
        out.append(Share(name, seconds, seconds / reference if reference else 0.0))
    return out


def profile_run(template: Template, folder: Path, window: Window, concurrency: int) -> Profile:
    """`backfill run --concurrency C` on plain DuckDB, every worker thread profiled."""
    started = time.monotonic()
    with profile_threads(include_caller=False) as found:
        close_with_run(template, folder, window, concurrency)
    wall = time.monotonic() - started
    stats = found.stats(("backfill-worker",))
    if stats is None:
        raise RuntimeError(f"no worker thread was profiled; threads: {found.thread_names()}")
    handle = cumulative(stats, lambda f: f == "service/work.py:handle")
    return Profile(f"`backfill run --concurrency {concurrency}`, worker threads", wall,
                   "the time the worker threads spent in Worker.handle", handle,
                   ["backfill-worker-*"], _stages(stats, handle, DELIVERY_STAGES),
                   top(stats, handle, exclude=lambda f: f.startswith(_IDLE)))


def profile_detection(template: Template, folder: Path, window: Window) -> Profile:
    """`detect` (dry run) of every processor over `window`, every thread profiled (on DuckDB the
    reads run one after another in the calling thread; DuckDB's own threads are native)."""
    warehouse = template.copy(folder)
    warehouse.close()
    fresh = DuckDBWarehouse(warehouse.path)
    started = time.monotonic()
    with profile_threads() as found:
        detect(fresh, BUILTIN, OPS, None, window)
    wall = time.monotonic() - started
    fresh.close()
    stats = found.stats(("MainThread", "backfill-read"))
    assert stats is not None
    total = cumulative(stats, lambda f: f == "service/detect.py:detect")
    return Profile(f"detection of {window.start}..{window.end}", wall, "detect", total,
                   found.thread_names(), _stages(stats, total, DETECTION_STAGES),
                   top(stats, total))
