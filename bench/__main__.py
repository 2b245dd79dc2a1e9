"""`python -m bench [--smoke] [--runs N] [--write]`: every row of the table, printed.

Each repeat runs every variant once, interleaved, so a comparison is made within one run on the
same machine state; the table shows the median over repeats. `--write` puts the table and the
profiles into bench/RESULTS.md between their markers. `--smoke` runs tiny sizes in seconds (for
`make test`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click
from backfill.domain.window import Window
from backfill.local.cycle import AUDIT_BATCH_ROWS
from backfill.local.stack import pubsub_emulator
from backfill.settings import Settings
from rich.console import Console

from bench import measures
from bench.io_bound import WAIT_SECONDS
from bench.latency import delay_from_environment, publish_delay_from_environment
from bench.measures import FUNCTION, FUNCTION_SHARED, RUNNER
from bench.profiles import profile_detection, profile_run
from bench.report import Line, render, write_results
from bench.warehouses import Template, seed_template


@dataclass(frozen=True)
class Sizes:
    league: Window  # the seeded template: five seasons
    cpu_dates: int  # row 1: game dates whose Phase 3 is emptied (x4 processors = the gaps)
    latency_dates: int  # row 8: the same on the latency wrapper (N = about 4 x this)
    latency_concurrency: int
    original_sample_dates: int | None  # row 8: the original's runs timed (None: all)
    io_dates: int  # row 2: N
    io_concurrency: int
    requests: int  # row 3
    published: int  # row 5, batched
    published_one_by_one: int  # row 5, one result() each (slow: a smaller sample)
    diff_keys: int
    delay: float  # seconds per call of the latency wrapper
    slow_delay: float  # the same, closer to a real BigQuery job (measured once)
    publish_delay: float  # seconds a confirmed publish to the audit topic takes (rows 7, 8)
    concurrency: int = 4
    growth: tuple[float, ...] = (0.25, 0.5, 1.0)


REGULAR_SEASON_OPENS = date(2024, 10, 22)


def full_sizes(delay: float, publish_delay: float, original_full: bool) -> Sizes:
    return Sizes(league=Window(date(2020, 10, 1), date(2025, 6, 30)), cpu_dates=125,
                 latency_dates=52, latency_concurrency=16,
                 original_sample_dates=None if original_full else 2, io_dates=400,
                 io_concurrency=16, requests=200, published=10_000, published_one_by_one=500,
                 diff_keys=100_000, delay=delay, slow_delay=1.0, publish_delay=publish_delay)


SMOKE = Sizes(league=Window(date(2024, 11, 1), date(2024, 11, 10)), cpu_dates=3,
              latency_dates=2, latency_concurrency=4, original_sample_dates=1, io_dates=4,
              io_concurrency=4, requests=4, published=50, published_one_by_one=5,
              diff_keys=1_000, delay=0.02, slow_delay=0.05, publish_delay=0.005,
              growth=(0.5, 1.0))


class Samples:
    """Every measurement of every repeat, by name; medians on demand."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = defaultdict(list)
        self.spent: dict[str, float] = defaultdict(float)  # seconds each measure took, set-up too

    def take(self, name: str, measure: Callable[..., Any], *args: object) -> Any:
        started = time.monotonic()
        value = measure(*args)
        self.spent[name] += time.monotonic() - started
        self.values[name].append(value)
        return value

    def slowest(self, count: int = 6) -> str:
        ranked = sorted(self.spent.items(), key=lambda kv: -kv[1])[:count]
        return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in ranked)

    def median(self, name: str, pick: Callable[[Any], float] = float) -> float:
        return statistics.median(pick(v) for v in self.values[name])

    def last(self, name: str) -> Any:
        return self.values[name][-1]


@dataclass(frozen=True)
class Windows:
    cpu: dict[float, Window]   # rows 1 and 6: the gap window, and its fractions
    latency: Window            # rows 7 and 8
    detect: dict[float, Window]  # rows 4 and 6: five seasons, and fractions of them
    io: Window                 # row 2


def run_bench(sizes: Sizes, runs: int, folder: Path,
              console: Console) -> tuple[list[Line], list[str]]:
    """Seed, measure every row `runs` times (interleaved), profile; the table's lines and the
    profiles (markdown)."""
    started = time.monotonic()
    league = seed_template(folder, sizes.league)
    console.print(f"seeded {len(league.game_dates)} game dates in "
                  f"{time.monotonic() - started:.0f} s", highlight=False)
    opens = max(REGULAR_SEASON_OPENS, sizes.league.start)
    windows = Windows(
        cpu={f: league.dates_from(opens, max(1, round(f * sizes.cpu_dates)))
             for f in sizes.growth},
        latency=league.dates_from(opens, sizes.latency_dates),
        detect={f: league.window_of(f) for f in sizes.growth},
        io=league.dates_from(sizes.league.start, sizes.io_dates))
    samples = Samples()
    samples.values["cpu gaps"] = [measures.gap_count(league, folder, windows.cpu[1.0])]
    with pubsub_emulator(Settings.load({}, environ={})):
        for repeat in range(runs):
            _repeat(samples, sizes, league, folder, windows, repeat == 0)
            console.print(f"repeat {repeat + 1} of {runs} done after "
                          f"{time.monotonic() - started:.0f} s; slowest so far: "
                          f"{samples.slowest()}", highlight=False)
        profiles = [profile_run(league, folder, windows.cpu[1.0], sizes.concurrency),
                    profile_detection(league, folder, windows.detect[1.0])]
    console.print(f"profiled after {time.monotonic() - started:.0f} s", highlight=False)
    return lines(samples, sizes, windows, len(league.game_dates)), [p.markdown() for p in profiles]


def _repeat(s: Samples, sizes: Sizes, league: Template, folder: Path, w: Windows,
            first: bool) -> None:
    delay, c, publish = sizes.delay, sizes.latency_concurrency, sizes.publish_delay
    # Rows 7 and 8: latency-bound.
    for mode in (FUNCTION, RUNNER):
        s.take(f"trips {mode}", measures.round_trips, league, folder, mode, delay, publish)
        s.take(f"latency {mode}", measures.close_latency, league, folder, w.latency, c, delay,
               mode, True, False, publish)
    s.take("ideal", measures.ideal_latency, league, folder, w.latency, c, delay)
    s.take("chain", measures.correction_chain, league, folder, c, delay)
    s.take("latency no audit", measures.close_latency, league, folder, w.latency, c, delay,
           FUNCTION, False)
    if first:  # what stands in the way, measured once: they take about three minutes
        s.take(f"latency {FUNCTION_SHARED}", measures.close_latency, league, folder, w.latency,
               c, delay, FUNCTION_SHARED, True, False, publish)
        slow = sizes.slow_delay
        s.take("slow latency function", measures.close_latency, league, folder, w.latency, c,
               slow, FUNCTION, True, False, publish)
        s.take("slow latency no audit", measures.close_latency, league, folder, w.latency, c,
               slow, FUNCTION, False)
        s.take("slow ideal", measures.ideal_latency, league, folder, w.latency, c, slow)
    s.take("original latency", measures.original_latency, league, folder, w.latency, delay,
           sizes.original_sample_dates)
    # Rows 1 and 6: CPU-bound.
    s.take("limit", measures.close_with_limit, league, folder, w.cpu[1.0], sizes.concurrency)
    s.take("per date", measures.per_date, league, folder, w.cpu[sizes.growth[0]])
    for f in sizes.growth:
        s.take(f"run x{f}", measures.close_with_run, league, folder, w.cpu[f], sizes.concurrency)
    # Rows 4 and 6: detection.
    for f in sizes.growth:
        s.take(f"cli x{f}", measures.detect_process, league, folder, w.detect[f], "cli")
    for which in ("original", "current", "without"):
        s.take(which, measures.detect_process, league, folder, w.detect[1.0], which)
    s.take("diff", measures.diff_seconds, sizes.diff_keys)
    # Rows 2, 3, 5.
    s.take("io run", measures.io_bound_run, league, folder, w.io, sizes.io_concurrency)
    s.take("skip ms", measures.per_request_ms, league, folder, sizes.requests, False)
    s.take("malformed ms", measures.per_request_ms, league, folder, sizes.requests, True)
    s.take("skip ms batched", measures.per_request_ms, league, folder, sizes.requests, False,
           AUDIT_BATCH_ROWS)
    s.take("malformed ms batched", measures.per_request_ms, league, folder, sizes.requests,
           True, AUDIT_BATCH_ROWS)
    s.take("skip ms published", measures.per_request_ms, league, folder, sizes.requests, False,
           1, True)
    s.take("malformed ms published", measures.per_request_ms, league, folder, sizes.requests,
           True, 1, True)
    s.take("pubsub import", measures.pubsub_import)
    s.take("publish batched", measures.publish_rate, folder, sizes.published, True)
    s.take("publish one by one", measures.publish_rate, folder, sizes.published_one_by_one,
           False)


def lines(s: Samples, sizes: Sizes, w: Windows, dates: int) -> list[Line]:
    """The table: Backfill's figure, the reference's, their ratio, the goal, whether it is met."""
    m = s.median
    out: list[Line] = []
    # -- 1: CPU-bound, plain DuckDB.
    gaps, run, limit = int(s.last("cpu gaps")), m("run x1.0"), m("limit")
    cpu = lambda name: m(name, lambda v: v.cpu_seconds)  # noqa: E731
    out.append(Line("1", f"run --concurrency {sizes.concurrency} vs limit C={sizes.concurrency}, "
                    f"{gaps} gaps ({sizes.cpu_dates} dates x 4 processors), plain DuckDB (CPU "
                    f"{cpu('run x1.0'):.0f} s vs {cpu('limit'):.0f} s)",
                    f"{run:.2f} s", f"{limit:.2f} s", f"{run / limit:.2f}x", "<= 1.3x",
                    run / limit <= 1.3))
    pick = lambda field: m("per date", lambda v: getattr(v, field))  # noqa: E731
    out.append(Line("1", "the same taken apart: per (processor, date) at C=1 in process, no "
                    f"queue ({pick('worker_calls'):.1f} warehouse calls vs "
                    f"{pick('limit_calls'):.1f})", f"{pick('worker_ms'):.1f} ms",
                    f"{pick('limit_ms'):.1f} ms", f"{pick('worker_ms') / pick('limit_ms'):.2f}x",
                    "", None))
    # -- 2: an I/O-bound processor.
    ideal_io = sizes.io_dates * WAIT_SECONDS / sizes.io_concurrency
    out.append(Line("2", f"I/O-bound (200 ms/date), N={sizes.io_dates}, C={sizes.io_concurrency} "
                    f"(CPU {cpu('io run'):.1f} s on {os.cpu_count()} cores)",
                    f"{m('io run'):.2f} s", f"{ideal_io:.2f} s ideal",
                    f"{m('io run') / ideal_io:.2f}x", "<= 1.15x", m("io run") / ideal_io <= 1.15))
    # -- 3: per-request overhead.
    for name, what in (("skip ms", "already filled (skipped)"), ("malformed ms", "malformed")):
        out.append(Line("3", f"per request, {what}, C=1, audit row each (appended to DuckDB: "
                        "`backfill worker`'s way), plain DuckDB",
                        f"{m(name):.1f} ms", "", "", "< 10 ms", m(name) < 10))
    for name, what in (("skip ms published", "skipped"),
                       ("malformed ms published", "malformed")):
        out.append(Line("3", f"the same, {what}, audit row each published to the emulator's "
                        "audit topic, confirmed before the ack (`backfill stack`'s way, as "
                        "deployed)", f"{m(name):.1f} ms", "", "", "", None))
    for name, what in (("skip ms batched", "skipped"), ("malformed ms batched", "malformed")):
        out.append(Line("3", f"the same, {what}, audit rows batched {AUDIT_BATCH_ROWS} at a time "
                        "(the local runner's way)", f"{m(name):.1f} ms", "", "", "", None))
    # -- 4: detection.
    wall = lambda v: v.wall  # noqa: E731
    inside = lambda v: v.inside  # noqa: E731
    cli, original = m("cli x1.0", wall), m("original", wall)
    out.append(Line("4", f"detect --dry-run --json, {dates} dates x 4 processors (processes)",
                    f"{cli:.2f} s", f"{original:.2f} s original", f"{cli / original:.2f}x",
                    "<= 1x", cli <= original))
    current, original_in = m("current", inside), m("original", inside)
    out.append(Line("4", "the same, detection alone (after imports, in its process)",
                    f"{current:.2f} s", f"{original_in:.2f} s original",
                    f"{current / original_in:.2f}x", "", None))
    out.append(Line("4", "importing Pub/Sub, which a dry run no longer pays (the clients are "
                    f"made on first use), +{m('pubsub import', lambda v: v.rss_mb):.0f} MB peak",
                    f"{m('pubsub import', lambda v: v.seconds):.2f} s", "", "", "", None))
    without = m("without", inside)
    out.append(Line("4", "detection with content fingerprints vs without (bench variant: the "
                    "same scans hashing nothing; columns and bytes: bench/fingerprint_cost.py)",
                    f"{current:.2f} s", f"{without:.2f} s", f"{current / without:.2f}x",
                    "<= 1.3x", current / without <= 1.3))
    rss, original_rss = m("cli x1.0", lambda v: v.rss_mb), m("original", lambda v: v.rss_mb)
    out.append(Line("4", "detect peak RSS", f"{rss:.0f} MB", f"{original_rss:.0f} MB original",
                    "", "< 150 MB", rss < 150))
    out.append(Line("4", f"difference in code, {sizes.diff_keys:,} game keys",
                    f"{m('diff'):.3f} s", "", "", "< 1 s", m("diff") < 1))
    # -- 5: publishing.
    batched, single = m("publish batched"), m("publish one by one")
    out.append(Line("5", f"publish {sizes.published:,} requests, client batching",
                    f"{batched:,.0f}/s", f"{single:,.0f}/s one result() each",
                    f"{batched / single:.0f}x", ">= 5,000/s", batched >= 5000))
    # -- 6: linear growth.
    for key, label, pick in (("run x{}", f"run --concurrency {sizes.concurrency}", float),
                             ("cli x{}", "detect", wall)):
        first = sizes.growth[0]
        base = m(key.format(first), pick)
        growth = ", ".join(f"x{f / first:.0f} data: {m(key.format(f), pick) / base:.1f}x"
                           for f in sizes.growth[1:])
        # Ten percent of slack for noise; the ratios themselves are in the table.
        worst = max(m(key.format(f), pick) / base / (f / first) for f in sizes.growth[1:])
        out.append(Line("6", f"{label} at " + ", ".join(f"{f:g}" for f in sizes.growth) + " data",
                        " / ".join(f"{m(key.format(f), pick):.1f}" for f in sizes.growth) + " s",
                        "", growth, "linear or better", worst <= 1.1))
    # -- 7: round trips on a delivery's critical path (latency wrapper).
    delay_ms = f"{sizes.delay * 1000:.0f} ms/call"
    for mode, judged in ((FUNCTION, True), (RUNNER, False)):
        how = (f"function: audit rows published ({sizes.publish_delay * 1000:.0f} ms)"
               if mode == FUNCTION else "local runner: audit rows batched")
        trips = lambda field, mode=mode: m(f"trips {mode}", lambda v: getattr(v, field))  # noqa: E731
        for field, what, goal, ok in (
                ("fresh", "fresh gap", "2", lambda n: n <= 2),
                ("skip", "skip (date already right)", "1", lambda n: n <= 1),
                ("dead_letter", "dead letter (malformed request)", "0", lambda n: n == 0)):
            value = trips(field)
            out.append(Line("7", f"round trips, {what}, {how}", f"{value:.0f}", "", "",
                            goal if judged else f"({goal})" if goal else "",
                            ok(value) if judged and ok else None))
        if mode == FUNCTION:
            out.append(Line("7", "round trips, first delivery of a process (nothing described "
                            "yet), a skip, function", f"{trips('cold'):.0f}", "", "", "", None))
    # -- 8: closing N date-gaps on the latency wrapper.
    closed = s.last(f"latency {FUNCTION}")
    n, c = closed.gaps, sizes.latency_concurrency
    ideal = m("ideal", lambda v: v.seconds)
    ideal_cpu = m("ideal", lambda v: v.cpu_seconds)
    variants = (
        (f"latency {FUNCTION}", "function (a Worker per instance: worker_concurrency = 1; "
         f"audit rows published, {sizes.publish_delay * 1000:.0f} ms)", True),
        (f"latency {RUNNER}", "local runner (one Worker, audit batched)", False),
        ("latency no audit", "function without the audit publish (bench-only)", False),
        (f"latency {FUNCTION_SHARED}", "function, one instance serving all C (one Worker; "
         "one run)", False))
    for name, what, judged in variants:
        seconds, last = m(name, lambda v: v.seconds), s.last(name)
        per_attempt = sorted(last.attempt_rounds)
        detail = (f"{last.retries} waits came back; rounds per attempt median "
                  f"{statistics.median(per_attempt):.0f}, max {max(per_attempt)}; CPU "
                  f"{m(name, lambda v: v.cpu_seconds):.0f} s vs {ideal_cpu:.0f} s")
        out.append(Line("8", f"close N={n} date-gaps, C={c}, {delay_ms}: {what} vs ideal "
                        f"({detail})", f"{seconds:.2f} s", f"{ideal:.2f} s ideal",
                        f"{seconds / ideal:.2f}x", "<= 1.2x" if judged else "",
                        seconds / ideal <= 1.2 if judged else None))
    chain, chain_ideal = m("chain", lambda v: v.seconds), m("chain", lambda v: v.ideal)
    out.append(Line("8", f"a team box-score correction at the root of the graph, {delay_ms}, "
                    "function: one detection, then each level published by the worker above "
                    f"it ({s.last('chain').levels_text}), trigger to the last "
                    "dependent written vs the ideal (the detection, then one read and one "
                    "write round per level)", f"{chain:.2f} s", f"{chain_ideal:.2f} s ideal",
                    f"{chain / chain_ideal:.2f}x", "<= 1.5x", chain / chain_ideal <= 1.5))
    slow_ideal = m("slow ideal", lambda v: v.seconds)
    for name, what, judged in (("slow latency function", "function", True),
                               ("slow latency no audit", "function without the audit publish",
                                False)):
        seconds = m(name, lambda v: v.seconds)
        out.append(Line("8", f"the same at {sizes.slow_delay * 1000:.0f} ms/call: {what} vs "
                        "ideal (one run)", f"{seconds:.2f} s", f"{slow_ideal:.2f} s ideal",
                        f"{seconds / slow_ideal:.2f}x", "<= 1.2x" if judged else "",
                        seconds / slow_ideal <= 1.2 if judged else None))
    original = m("original latency", lambda v: v.seconds)
    sample = s.last("original latency")
    how = ("all runs timed" if sample.complete else
           f"{sum(sample.timed_runs.values())} of its {sum(sample.runs.values())} runs timed, "
           "the rest at their processor's mean")
    for mode, judged in ((FUNCTION, True), (RUNNER, False)):
        seconds = m(f"latency {mode}", lambda v: v.seconds)
        out.append(Line("8", f"close N={n} date-gaps, {delay_ms}: {mode} vs the original loop "
                        f"(per missing game, sequential; {how})", f"{seconds:.2f} s",
                        f"{original:.1f} s original", f"{original / seconds:.0f}x faster",
                        ">= 50x" if judged else "", original / seconds >= 50 if judged else None))
    return out


@click.command()
@click.option("--smoke", is_flag=True, help="Tiny sizes, one repeat: checks the harness only.")
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--write", is_flag=True, help="Write the table into bench/RESULTS.md.")
@click.option("--latency", type=click.FloatRange(0, 10), default=None,
              help="Seconds per call of the latency-bound warehouse "
                   "[default: BENCH_LATENCY_SECONDS, else 0.25].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the table's lines and the profiles to this file as JSON.")
@click.option("--original-full", is_flag=True,
              help="Time every run of the original loop on the latency warehouse (about 15 "
                   "minutes a repeat) instead of two dates per processor.")
def main(smoke: bool, runs: int, write: bool, latency: float | None, json_path: str | None,
         original_full: bool) -> None:
    """Run every benchmark row and print the table."""
    logging.basicConfig(level=logging.ERROR)  # the workers' retry warnings are expected here
    console = Console(width=200)
    delay = delay_from_environment() if latency is None else latency
    sizes, runs = ((SMOKE, 1) if smoke else
                   (full_sizes(delay, publish_delay_from_environment(), original_full), runs))
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as folder:
        table, profiles = run_bench(sizes, runs, Path(folder), console)
    console.print(render(table, runs))
    for profile in profiles:
        console.print(profile, highlight=False, markup=False)
    if write:
        write_results(table, runs, profiles)
    if json_path:
        Path(json_path).write_text(json.dumps(
            {"lines": [dataclasses.asdict(line) for line in table], "profiles": profiles},
            indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
