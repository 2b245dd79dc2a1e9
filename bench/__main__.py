"""`python -m bench [--smoke] [--runs N] [--write]`: every row of the issue's table, printed.

Each repeat runs every variant once, interleaved, so a comparison is made within one run on the
same machine state; the table shows the median over repeats. `--write` puts the table into
bench/RESULTS.md between its markers. `--smoke` runs tiny sizes in seconds (for `make test`).
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
from backfill.domain.window import Window
from backfill.local.stack import pubsub_emulator
from rich.console import Console

from bench import measures
from bench.io_bound import WAIT_SECONDS
from bench.report import Line, render, write_results
from bench.warehouses import Template, seed_template


@dataclass(frozen=True)
class Sizes:
    season: Window  # rows 1, 3, 6: one full season
    gap_dates: int  # row 1: game dates whose Phase 3 is removed (x4 processors = the gaps)
    seasons: Window  # rows 2, 4, 6: five seasons
    io_dates: int  # row 2: N
    io_concurrency: int
    requests: int  # row 3
    published: int  # row 5, batched
    published_one_by_one: int  # row 5, one result() each (slow: a smaller sample)
    diff_keys: int
    concurrencies: tuple[int, ...] = (1, 4, 8)
    growth: tuple[float, ...] = (0.25, 0.5, 1.0)


FULL = Sizes(season=Window(date(2024, 10, 1), date(2025, 6, 30)), gap_dates=125,
             seasons=Window(date(2020, 10, 1), date(2025, 6, 30)), io_dates=400,
             io_concurrency=16, requests=200, published=10_000, published_one_by_one=500,
             diff_keys=100_000)
SMOKE = Sizes(season=Window(date(2024, 11, 1), date(2024, 11, 10)), gap_dates=4,
              seasons=Window(date(2024, 11, 1), date(2024, 11, 10)), io_dates=4,
              io_concurrency=4, requests=4, published=50, published_one_by_one=5,
              diff_keys=1_000, concurrencies=(4,), growth=(0.5, 1.0))
REGULAR_SEASON_OPENS = date(2024, 10, 22)


class Samples:
    """Every measurement of every repeat, by name; medians on demand."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)

    def take(self, name: str, measure: Callable[..., float], *args: object) -> None:
        self.values[name].append(measure(*args))

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])


def run_bench(sizes: Sizes, runs: int, folder: Path, console: Console) -> list[Line]:
    """Seed, measure every row `runs` times (interleaved), return the table's lines."""
    started = time.monotonic()
    season, seasons = seed_template(folder, sizes.season), seed_template(folder, sizes.seasons)
    console.print(f"seeded {len(season.game_dates)} + {len(seasons.game_dates)} game dates "
                  f"in {time.monotonic() - started:.0f} s", highlight=False)
    gap_window = {f: season.dates_from(max(REGULAR_SEASON_OPENS, sizes.season.start),
                                       max(1, round(f * sizes.gap_dates))) for f in sizes.growth}
    detect_window = {f: _fraction(seasons, f) for f in sizes.growth}
    io_window = seasons.dates_from(sizes.seasons.start, sizes.io_dates)
    gaps = measures.gap_count(season, folder, gap_window[1.0])
    samples = Samples()
    with pubsub_emulator("backfill-local"):
        for repeat in range(runs):
            _repeat(samples, sizes, season, seasons, folder, gap_window, detect_window, io_window)
            console.print(f"repeat {repeat + 1} of {runs} done after "
                          f"{time.monotonic() - started:.0f} s", highlight=False)
    return lines(samples, sizes, gaps, len(seasons.game_dates))


def _repeat(samples: Samples, sizes: Sizes, season: Template, seasons: Template, folder: Path,
            gap_window: dict[float, Window], detect_window: dict[float, Window],
            io_window: Window) -> None:
    full = gap_window[1.0]
    samples.take("original", measures.close_with_original, season, folder, full)
    for c in sizes.concurrencies:
        samples.take(f"limit C={c}", measures.close_with_limit, season, folder, full, c)
        samples.take(f"run C={c}", measures.close_with_run, season, folder, full, c)
    for f in sizes.growth:
        if f != 1.0:
            samples.take(_run_growth(f), measures.close_with_run, season, folder, gap_window[f], 4)
        for original in (False, True):
            wall, rss = measures.detect_process(seasons, folder, detect_window[f], original)
            who = "original" if original else "detect"
            samples.values[f"{who} x{f}"].append(wall)
            samples.values[f"{who} rss x{f}"].append(rss)
    samples.take("io run", measures.io_bound_run, seasons, folder, io_window, sizes.io_concurrency)
    samples.take("skip ms", measures.per_request_ms, season, folder, sizes.requests, False)
    samples.take("malformed ms", measures.per_request_ms, season, folder, sizes.requests, True)
    samples.take("diff", measures.diff_seconds, sizes.diff_keys)
    samples.take("publish batched", measures.publish_rate, folder, sizes.published, True)
    samples.take("publish one by one", measures.publish_rate, folder,
                 sizes.published_one_by_one, False)


def _run_growth(f: float) -> str:
    return "run C=4" if f == 1.0 else f"run C=4 x{f}"


def _fraction(template: Template, f: float) -> Window:
    count = max(1, round(f * len(template.game_dates)))
    return Window(template.game_dates[0], template.game_dates[count - 1])


def lines(s: Samples, sizes: Sizes, gaps: int, dates: int) -> list[Line]:
    """The table: Backfill's figure, the reference's, their ratio, the goal, whether it is met."""
    m = s.median
    out = [Line("1", f"original loop, {gaps} gaps ({sizes.gap_dates} dates x 4 processors)",
                f"{m('original'):.1f} s", "", "", "", None)]
    for c in sizes.concurrencies:
        speedup, over = m("original") / m(f"run C={c}"), m(f"run C={c}") / m(f"limit C={c}")
        out += [Line("1", f"run --concurrency {c} vs original loop", f"{m(f'run C={c}'):.1f} s",
                     f"{m('original'):.1f} s", f"{speedup:.1f}x faster", ">= 10x",
                     speedup >= 10),
                Line("1", f"run --concurrency {c} vs limit C={c}", f"{m(f'run C={c}'):.1f} s",
                     f"{m(f'limit C={c}'):.1f} s", f"{over:.2f}x", "<= 1.3x", over <= 1.3)]
    ideal = sizes.io_dates * WAIT_SECONDS / sizes.io_concurrency
    out.append(Line("2", f"I/O-bound (200 ms/date), N={sizes.io_dates}, C={sizes.io_concurrency}",
                    f"{m('io run'):.2f} s", f"{ideal:.2f} s ideal",
                    f"{m('io run') / ideal:.2f}x", "<= 1.15x", m("io run") / ideal <= 1.15))
    for name, what in (("skip ms", "already filled (skipped)"), ("malformed ms", "malformed")):
        out.append(Line("3", f"per request, {what}, C=1", f"{m(name):.1f} ms", "", "",
                        "< 10 ms", m(name) < 10))
    detect, original = m("detect x1.0"), m("original x1.0")
    out += [Line("4", f"detect --dry-run --json, {dates} dates x 4 processors",
                 f"{detect:.2f} s", f"{original:.2f} s", f"{detect / original:.2f}x",
                 "<= 1x", detect <= original),
            Line("4", "detect peak RSS", f"{m('detect rss x1.0'):.0f} MB",
                 f"{m('original rss x1.0'):.0f} MB", "", "< 150 MB", m("detect rss x1.0") < 150),
            Line("4", f"difference in code, {sizes.diff_keys:,} game keys",
                 f"{m('diff'):.3f} s", "", "", "< 1 s", m("diff") < 1),
            Line("5", f"publish {sizes.published:,} requests, client batching",
                 f"{m('publish batched'):,.0f}/s",
                 f"{m('publish one by one'):,.0f}/s one result() each",
                 f"{m('publish batched') / m('publish one by one'):.0f}x", ">= 5,000/s",
                 m("publish batched") >= 5000)]
    for key, label in ((_run_growth, "run --concurrency 4"), ("detect x{}".format, "detect")):
        base, first = m(key(sizes.growth[0])), sizes.growth[0]
        growth = ", ".join(f"x{f / first:.0f} data: {m(key(f)) / base:.1f}x"
                           for f in sizes.growth[1:])
        # Ten percent of slack for noise; the ratios themselves are in the table.
        worst = max(m(key(f)) / base / (f / first) for f in sizes.growth[1:])
        out.append(Line("6", f"{label} at " + ", ".join(f"{f:g}" for f in sizes.growth) + " data",
                        " / ".join(f"{m(key(f)):.1f}" for f in sizes.growth) + " s",
                        "", growth, "linear or better", worst <= 1.1))
    return out


@click.command()
@click.option("--smoke", is_flag=True, help="Tiny sizes, one repeat: checks the harness only.")
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--write", is_flag=True, help="Write the table into bench/RESULTS.md.")
def main(smoke: bool, runs: int, write: bool) -> None:
    """Run every benchmark row and print the table."""
    logging.basicConfig(level=logging.ERROR)  # the workers' retry warnings are expected here
    console = Console(width=200)
    sizes, runs = (SMOKE, 1) if smoke else (FULL, runs)
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as folder:
        table = run_bench(sizes, runs, Path(folder), console)
    console.print(render(table, runs))
    if write:
        write_results(table, runs)


if __name__ == "__main__":
    sys.exit(main())
