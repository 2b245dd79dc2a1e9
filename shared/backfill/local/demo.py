"""`make run`: a fresh demo warehouse with gaps of every kind, the full cycle twice, a report.

The gaps: whole dates missing for one processor, single games missing within a date, a range
missing for a processor deployed late, a configured processor whose Phase 2 table is absent
(an error), a date whose source data is corrupt (dead-lettered with its reason), and one planted
gap of each reason (missing, incomplete, stale, upstream) with decoys that must not be reported.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console

from backfill.bootstrap import registry_from_file, warehouse_from_url
from backfill.domain.request import Reason
from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.local.cycle import CycleOutcome, run_cycle
from backfill.local.plant import Case, Planted, covering, plant
from backfill.local.seed import PHASE2_SCHEMAS
from backfill.local.seeding import seed
from backfill.local.stack import pubsub_emulator
from backfill.ports import Warehouse
from backfill.processors.registry import Registry
from backfill.settings import Settings

SEASON = Window(date(2024, 11, 1), date(2024, 12, 10))
LATE_DEPLOY = date(2024, 11, 20)            # upcoming_team_game_context starts here
DEFENSE_OUTAGE = (date(2024, 11, 8), date(2024, 11, 11))  # team_defense crashed 4 days
SINGLE_GAMES_DATE = date(2024, 11, 27)      # two player_game_summary games lost
POISON_DATE = date(2024, 12, 4)             # a corrupt minutes string in the gamebook
GAMEBOOK = TableRef("nba_raw", "nbac_gamebook_player_stats")

PROCESSORS_TOML = """\
# A processor configured by a user: balldontlie box scores, whose Phase 2 table was never loaded.
[[processor]]
name = "team_offense_bdl"
class = "backfill.processors.team_offense:TeamOffenseGameSummary"
source = "nba_raw.bdl_team_boxscores"
target = "nba_analytics.team_offense_game_summary_bdl"
priority = 50
"""


@dataclass
class Expected:
    gaps: dict[tuple[str, date], Reason]  # (processor, date) the first detection must find
    upstream: dict[str, set[str]]         # processor -> games it must report as upstream gaps
    planted: list[Planted]
    window: Window                        # the season and every planted decoy


def build_demo_warehouse(directory: Path) -> tuple[Settings, Expected]:
    """A fresh warehouse file and processors file in `directory`, with the gaps above."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "processors.toml").write_text(PROCESSORS_TOML, encoding="utf-8")
    settings = Settings.load({"warehouse": f"duckdb://{(directory / 'demo.duckdb').resolve()}",
                              "processors_file": str(directory / "processors.toml"),
                              "retry_budget_seconds": 20.0})
    warehouse = warehouse_from_url(settings.warehouse)
    registry = registry_from_file(settings.processors_file)
    seed(warehouse, registry, SEASON)
    expected: dict[tuple[str, date], Reason] = {}

    def drop_games(processor: str, day: date, keep: int | None = None) -> None:
        target = registry.get(processor)
        rows = warehouse.read_rows(target.target, day, day)
        games = sorted({r["game_id"] for r in rows})
        kept = set(games[:keep]) if keep is not None else set()
        warehouse.replace_range(target.target, day, day,
                                [r for r in rows if r["game_id"] in kept], target.schema)
        expected[(processor, day)] = Reason.MISSING

    for day in Window(*DEFENSE_OUTAGE).dates():
        drop_games("team_defense_game_summary", day)
    drop_games("player_game_summary", SINGLE_GAMES_DATE, keep=_games(warehouse, registry,
                                                                     SINGLE_GAMES_DATE) - 2)
    for day in Window(SEASON.start, LATE_DEPLOY - timedelta(days=1)).dates():
        drop_games("upcoming_team_game_context", day)
    corrupt_minutes(warehouse, POISON_DATE)
    drop_games("player_game_summary", POISON_DATE)
    # After the late deploy, so the upcoming context's own gap does not cover the planted games.
    planted = plant(warehouse, registry, Window(LATE_DEPLOY, SEASON.end), list(Case))
    upstream: dict[str, set[str]] = {}
    for p in planted:
        for name in p.processors:
            if p.case is Case.UPSTREAM:
                upstream.setdefault(name, set()).update(p.game_ids)
            else:
                expected[(name, p.game_date)] = Reason(p.case.value)
    return settings, Expected(expected, upstream, planted, covering(SEASON, planted))


def _games(warehouse: Warehouse, registry: Registry, day: date) -> int:
    rows = warehouse.read_rows(registry.get("player_game_summary").target, day, day)
    return len({r["game_id"] for r in rows})


def corrupt_minutes(warehouse: Warehouse, day: date) -> None:
    """One active player's minutes become unreadable, as a bad scrape would leave them."""
    rows = warehouse.read_rows(GAMEBOOK, day, day)
    victim = next(r for r in rows if r["player_status"] == "active")
    victim["minutes"] = "3O:12"  # a letter O where a zero should be
    warehouse.replace_range(GAMEBOOK, day, day, rows, PHASE2_SCHEMAS[GAMEBOOK])


def run_demo(directory: str, console: Console) -> bool:
    """Build, run the cycle twice, print the report; True if everything behaved as designed."""
    console.rule("Backfill demo")
    settings, expected = build_demo_warehouse(Path(directory))
    console.print(f"warehouse {settings.warehouse} seeded {SEASON.start}..{SEASON.end}, "
                  "then gaps made; planted:", highlight=False)
    for p in expected.planted:
        console.print(f"  {p.case:<10} {p.game_date}  {p.what}", highlight=False)
    with pubsub_emulator(settings.project):
        first = run_cycle(settings, expected.window, concurrency=4)
        second = run_cycle(settings, expected.window, concurrency=4)
    for title, cycle in (("first cycle", first), ("second cycle, right after", second)):
        console.rule(title)
        cycle.print(console)
    checks = verify(first, second, expected)
    console.rule("checks")
    for ok, text in checks:
        console.print(f"{'[green]ok[/]  ' if ok else '[red]FAIL[/]'} {text}", highlight=False)
    return all(ok for ok, _ in checks)


def verify(first: CycleOutcome, second: CycleOutcome, expected: Expected) -> list[tuple[bool, str]]:
    found = {(c.processor, c.game_date): c.reason for c in first.detection.candidates}
    errors = {p.name for p in first.detection.processors if p.error}
    poison = [r for r in first.run.results if r.outcome == "dead_lettered"]
    left = {(c.processor, c.game_date) for c in second.detection.candidates}
    published = {(r.processor, g) for r in first.detection.published + second.detection.published
                 for g in r.game_ids}
    decoys = {g for p in expected.planted if p.case is Case.DECOYS for g in p.game_ids}
    reported = {g for p in first.detection.processors for c in [*p.candidates, *p.upstream_gaps]
                for g in c.game_ids}
    reasons = sorted({r.value for r in expected.gaps.values()})
    return [
        (found == expected.gaps,
         f"first detection found exactly the planted gaps ({len(expected.gaps)} dates), "
         f"each with its reason ({', '.join(reasons)})"),
        (all(upstream_games(cycle) == expected.upstream for cycle in (first, second))
         and not published & {(p, g) for p, games in expected.upstream.items() for g in games},
         "the upstream gap was reported by every processor reading the unloaded tables, "
         "both times, and never published"),
        (not decoys & reported, "no decoy (flipped ids, All-Star game, preseason games) "
         "was reported"),
        (errors == {"team_offense_bdl"}, "the processor without a Phase 2 table is an error"),
        (not first.run.unaccounted and not second.run.unaccounted,
         "every published request ended succeeded, skipped or dead-lettered"),
        ([(r.request.processor, r.request.game_date) for r in poison if r.request]
         == [("player_game_summary", POISON_DATE)], "only the corrupt date was dead-lettered"),
        (left == {("player_game_summary", POISON_DATE)},
         "the second detection finds only what could not be fixed (missing, incomplete and "
         "stale games were all processed)"),
    ]


def upstream_games(cycle: CycleOutcome) -> dict[str, set[str]]:
    return {p.name: {g for gap in p.upstream_gaps for g in gap.game_ids}
            for p in cycle.detection.processors if p.upstream_gaps}
