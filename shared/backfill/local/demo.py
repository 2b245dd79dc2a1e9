"""`make run`: a fresh demo warehouse with gaps of every kind, the full cycle twice, a report.

The gaps: whole dates missing for one processor, single games missing within a date, a range
missing for a processor deployed late, a configured processor whose Phase 2 table is absent
(an error), a game whose gamebook has a corrupt minutes string (the date's other games are filled,
that game is held in quarantine), a team box-score correction that propagates through the team
summaries to the player summaries, a schedule reload that changes nothing (it must publish
nothing), one planted gap of each reason (missing, incomplete, stale, upstream) next to decoys
that must not be reported, and a gamebook loaded twice under two id spellings (reported with its
reason, its player summaries never doubled).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console

from backfill.bootstrap import Backfill, bootstrap
from backfill.domain.games import game_key
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason, Request
from backfill.domain.window import Window
from backfill.local.cycle import CycleOutcome, run_cycle
from backfill.local.plant import Case, Planted, Planter, covering, plant
from backfill.local.render import print_cycle
from backfill.local.seeding import seed
from backfill.local.stack import pubsub_emulator
from backfill.ports import Read, Row
from backfill.processors.nba_raw import GAMEBOOK
from backfill.settings import Settings

SEASON = Window(date(2024, 11, 1), date(2024, 12, 10))
LATE_DEPLOY = date(2024, 11, 20)            # upcoming_team_game_context starts here
DEFENSE_OUTAGE = (date(2024, 11, 8), date(2024, 11, 11))  # team_defense crashed 4 days
SINGLE_GAMES_DATE = date(2024, 11, 27)      # two player_game_summary games lost
POISON_DATE = date(2024, 12, 4)             # a corrupt minutes string in one game's gamebook
PLAYERS = "player_game_summary"
CONTEXT = "upcoming_team_game_context"

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
    poisoned: str                         # the game whose gamebook is corrupt
    window: Window                        # the season and every planted decoy


def build_demo_warehouse(directory: Path) -> tuple[Settings, Expected]:
    """A fresh warehouse file and processors file in `directory`, with the gaps above."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "processors.toml").write_text(PROCESSORS_TOML, encoding="utf-8")
    settings = Settings.load({"warehouse": f"duckdb://{(directory / 'demo.duckdb').resolve()}",
                              "processors_file": str(directory / "processors.toml"),
                              "retry_budget_seconds": 20.0})
    app = bootstrap(settings)
    seed(app.warehouse, app.registry, SEASON)
    expected: dict[tuple[str, date], Reason] = {}

    def drop_games(processor: str, day: date, keep: int | None = None) -> None:
        target = app.registry.get(processor).target
        games = sorted({r["game_id"] for r in app.warehouse.read_rows(Read(target, day, day))})
        kept = set(games[:keep]) if keep is not None else set()
        Planter(app.warehouse, app.registry).edit(
            target, day, lambda rows: [r for r in rows if r["game_id"] in kept])
        expected[(processor, day)] = Reason.MISSING

    for day in Window(*DEFENSE_OUTAGE).dates():
        drop_games("team_defense_game_summary", day)
    drop_games(PLAYERS, SINGLE_GAMES_DATE, keep=len(_games(app, SINGLE_GAMES_DATE)) - 2)
    for day in Window(SEASON.start, LATE_DEPLOY - timedelta(days=1)).dates():
        drop_games("upcoming_team_game_context", day)
    poisoned = corrupt_minutes(app, POISON_DATE)
    drop_games(PLAYERS, POISON_DATE)
    # After the late deploy, so the upcoming context's own gap does not cover the planted games.
    planted = plant(app.warehouse, app.registry, Window(LATE_DEPLOY, SEASON.end), list(Case))
    upstream: dict[str, set[str]] = {}
    for p in planted:
        for name in p.processors:
            if p.case.upstream_gap:
                upstream.setdefault(name, set()).update(p.game_ids)
            else:
                expected[(name, p.game_date)] = Reason(p.case.value)
    app.close()
    return settings, Expected(expected, upstream, planted, poisoned, covering(SEASON, planted))


def _games(app: Backfill, day: date) -> set[str]:
    rows = app.warehouse.read_rows(Read(app.registry.get(PLAYERS).target, day, day))
    return {r["game_id"] for r in rows}


def corrupt_minutes(app: Backfill, day: date) -> str:
    """One active player's minutes become unreadable, as a bad scrape would leave them;
    returns the game's id."""
    victim: dict[str, Row] = {}

    def corrupt(rows: list[Row]) -> list[Row]:
        row = next(r for r in sorted(rows, key=lambda r: r["game_id"])
                   if r["player_status"] == "active")
        row["minutes"] = "3O:12"  # a letter O where a zero should be
        victim["row"] = row
        return rows

    Planter(app.warehouse, app.registry).edit(GAMEBOOK, day, corrupt)
    return str(victim["row"]["game_id"])


def run_demo(directory: str, console: Console) -> bool:
    """Build, run the cycle twice, print the report; True if everything behaved as designed."""
    console.rule("Backfill demo")
    settings, expected = build_demo_warehouse(Path(directory))
    console.print(f"warehouse {settings.warehouse} seeded {SEASON.start}..{SEASON.end}, "
                  "then gaps made; planted:", highlight=False)
    for p in expected.planted:
        console.print(f"  {p.case:<10} {p.game_date}  {p.what}", highlight=False)
    console.print(f"  poison     {POISON_DATE}  {GAMEBOOK}: minutes '3O:12' in game "
                  f"{expected.poisoned}", highlight=False)
    with pubsub_emulator(settings) as settings:
        first = run_cycle(settings, expected.window, concurrency=4)
        second = run_cycle(settings, expected.window, concurrency=4)
    for title, cycle in (("first cycle", first), ("second cycle, right after", second)):
        console.rule(title)
        print_cycle(console, cycle)
    checks = verify(first, second, expected, _duplicated_rows(settings, expected))
    console.rule("checks")
    for ok, text in checks:
        console.print(f"{'[green]ok[/]  ' if ok else '[red]FAIL[/]'} {text}", highlight=False)
    return all(ok for ok, _ in checks)


def _duplicated_rows(settings: Settings, expected: Expected) -> tuple[int, int]:
    """The player summaries of the game whose gamebook was loaded twice, and its active
    players in one copy: equal when it was not doubled."""
    duplicate = next(p for p in expected.planted if p.case is Case.DUPLICATE)
    app = bootstrap(settings)
    try:
        day, (game,) = duplicate.game_date, duplicate.game_ids
        key = game_key(day, game)
        written = [r for r in app.warehouse.read_rows(Read(app.registry.get(PLAYERS).target,
                                                           day, day))
                   if game_key(day, r["game_id"]) == key]
        active = [r for r in app.warehouse.read_rows(Read(app.registry.get(PLAYERS).source,
                                                          day, day))
                  if r["game_id"] == game and r["player_status"] == "active"]
    finally:
        app.close()
    return len(written), len(active)


def verify(first: CycleOutcome, second: CycleOutcome, expected: Expected,
           duplicated: tuple[int, int]) -> list[tuple[bool, str]]:
    found = {(c.processor, c.game_date): c.reason for c in first.detection.candidates}
    errors = {p.name for p in first.detection.processors if p.error}
    published = {(r.processor, g) for cycle in (first, second) for r in _published(cycle)
                 for g in r.game_ids}
    decoys = {g for p in expected.planted if p.case is Case.DECOYS for g in p.game_ids}
    reported = ({g for p in first.detection.processors for c in p.candidates for g in c.game_ids}
                | {g for p in first.detection.processors for u in p.gaps.upstream
                   for g in u.game_ids})
    poison = [r for r in first.results if r.request and r.request.game_date == POISON_DATE
              and r.request.processor == PLAYERS]
    stale = next(p for p in expected.planted if p.case is Case.STALE)
    chained = {(r.request.processor, r.request.game_date, r.request.reason, r.outcome)
               for r in first.results if r.request and r.request.depth}
    held = {g for p in second.detection.processors if p.name == PLAYERS
            for q in p.gaps.quarantined for g in q.game_ids}
    reload = next(p for p in expected.planted if p.case is Case.RELOAD)
    context = {(r.processor, r.game_date) for cycle in (first, second) for p in cycle.passes
               for r in p.detection.published if r.processor == CONTEXT
               and r.game_date >= LATE_DEPLOY}
    reasons = sorted({r.value for r in expected.gaps.values()})
    duplicate = next(p for p in expected.planted if p.case is Case.DUPLICATE)
    twice = {u.reason for p in second.detection.processors if p.name == PLAYERS
             for u in p.gaps.upstream if set(u.game_ids) == set(duplicate.game_ids)}
    return [
        (found == expected.gaps,
         f"first detection found exactly the planted gaps ({len(expected.gaps)} dates), "
         f"each with its reason ({', '.join(reasons)})"),
        (all(upstream_games(cycle) == expected.upstream for cycle in (first, second))
         and not published & {(p, g) for p, games in expected.upstream.items() for g in games},
         "the upstream gap was reported by every processor reading the unloaded tables, "
         "both times, and never published"),
        (not decoys & reported, "no decoy (flipped ids in Phase 2 and Phase 3, All-Star game, "
         "preseason games) was reported"),
        (errors == {"team_offense_bdl"}, "the processor without a Phase 2 table is an error"),
        (not first.unaccounted and not second.unaccounted,
         "every published request ended succeeded, skipped, partial or dead-lettered"),
        (len(poison) == 1 and poison[0].outcome is Outcome.PARTIAL
         and set(poison[0].refused) == {expected.poisoned} and poison[0].games_written > 0
         and "3O:12" in poison[0].refused[expected.poisoned],
         f"the corrupt date's other games were written; game {expected.poisoned} alone was "
         "refused, with the player and the value, and held in quarantine"),
        ((PLAYERS, stale.game_date, Reason.UPSTREAM_CHANGED, Outcome.SUCCEEDED) in chained
         and first.quiet_passes == [2],
         "the box-score correction reached the player summaries: team offense and defense were "
         "recomputed, and the worker that changed the team offense published the players of "
         "that game in the same run (the confirming pass found nothing new)"),
        (not context, f"the schedule reload that changed nothing published nothing ({reload.what}):"
         " no upcoming-context date after the late deploy was requested"),
        (len(twice) == 1 and "twice" in next(iter(twice)) and duplicated[0] == duplicated[1] > 0,
         f"the gamebook loaded twice ({duplicate.game_ids[0]}) is reported with its reason, "
         f"never published, its {duplicated[0]} player summaries not doubled"),
        (not second.detection.published and expected.poisoned in held,
         "the second cycle publishes nothing: the quarantined game is reported, not retried"),
    ]


def _published(cycle: CycleOutcome) -> list[Request]:
    """Every request of a cycle: detections' and those workers published down the chain."""
    return ([r for p in cycle.passes for r in p.detection.published]
            + [r for result in cycle.results for r in result.published])


def upstream_games(cycle: CycleOutcome) -> dict[str, set[str]]:
    return {p.name: {g for gap in p.gaps.upstream for g in gap.game_ids}
            for p in cycle.detection.processors if p.gaps.upstream}
