"""Plant defects in a seeded warehouse: one gap of each reason, and decoys that are no gaps.

`backfill seed --plant`, the demo and the tests break their warehouses here, so what is planted
and which processors must report it are written down once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from backfill.domain.errors import ConfigurationError
from backfill.domain.games import flipped
from backfill.domain.schedule import Schedule
from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.local.seed.league import PHASE2_SCHEMAS, generate_phase2, season
from backfill.local.seeding import compute_phase3, phase2_tables
from backfill.ports import Read, Replace, Row, Warehouse
from backfill.processors.nba_raw import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE
from backfill.processors.registry import Registry


class Case(StrEnum):
    MISSING = "missing"        # team defense: a game's rows deleted
    INCOMPLETE = "incomplete"  # team offense: one of a game's two team rows deleted
    STALE = "stale"            # team box score: a team's turnovers corrected, re-processed later
    UPSTREAM = "upstream"      # a final game never loaded into the box score and gamebook
    DECOYS = "decoys"          # flipped ids, All-Star, preseason, a postponed game: no gaps
    DUPLICATE = "duplicate"    # a gamebook loaded again under the game's other id spelling
    RELOAD = "reload"          # the schedule reloaded, nothing changed: no gap either

    @property
    def upstream_gap(self) -> bool:
        """Reported as an upstream gap, never published: no processor can fix its Phase 2."""
        return self in (Case.UPSTREAM, Case.DUPLICATE)


@dataclass(frozen=True)
class Planted:
    """One planted defect; `processors` must report it (none for a decoy).

    `game_ids` are the ids the report names: the processor's Phase 2 source's (for an upstream
    gap, the date-based id a person would look for); for a decoy, those a false gap would name.
    """

    case: Case
    game_date: date
    game_ids: tuple[str, ...]
    processors: tuple[str, ...]
    what: str


# Each case on its own regular-season game date of the window (by index), so reasons never mix.
_DATE_INDEX = {Case.MISSING: 1, Case.INCOMPLETE: 2, Case.STALE: 3, Case.UPSTREAM: 4,
               Case.DECOYS: 5, Case.DUPLICATE: 6, Case.RELOAD: 7}
_TEAM_PROCESSORS = ("team_offense_game_summary", "team_defense_game_summary")


def plant(warehouse: Warehouse, registry: Registry, window: Window,
          cases: Sequence[Case]) -> list[Planted]:
    """Plant each case in a warehouse seeded over `window` (decoys may fall outside it)."""
    games = regular_games(warehouse, registry, window)
    days = sorted(games)
    if cases and len(days) <= max(_DATE_INDEX[c] for c in cases):
        raise ConfigurationError(f"window {window.start}..{window.end} has {len(days)} "
                                 f"regular-season game dates; planting needs {len(_DATE_INDEX) + 1}")
    planted: list[Planted] = []
    for case in dict.fromkeys(cases):
        day = days[_DATE_INDEX[case]]
        if case is Case.RELOAD:
            planted += _reload(Planter(warehouse, registry), window)
        else:
            planted += _PLANTERS[case](Planter(warehouse, registry), day, games[day])
    return planted


def covering(window: Window, planted: Sequence[Planted]) -> Window:
    """The smallest window holding `window` and every planted date (decoys lie outside seasons)."""
    days = [window.start, window.end, *(p.game_date for p in planted)]
    return Window(min(days), max(days))


def regular_games(warehouse: Warehouse, registry: Registry,
                  window: Window) -> dict[date, list[str]]:
    """The final regular-season games of each date, by date-based id, sorted."""
    schedule = Schedule.from_rows(warehouse.read_rows(registry.schedule_read(window.start,
                                                                             window.end)))
    by_day: dict[date, list[str]] = defaultdict(list)
    for game in schedule.games:
        if game.game_type == "regular_season" and game.final:
            by_day[game.game_date].append(game.date_based_id)
    return {day: sorted(ids) for day, ids in by_day.items()}


@dataclass(frozen=True)
class Planter:
    """Edits one date of a table at a time, on the registry's tables."""

    warehouse: Warehouse
    registry: Registry

    def phase2(self, league_table: TableRef) -> TableRef:
        return phase2_tables(self.registry)[league_table]

    def edit(self, table: TableRef, day: date, change: Callable[[list[Row]], list[Row]]) -> None:
        """Replace one date's rows of `table` with `change(rows)`."""
        target = self.phase2(table) if table in PHASE2_SCHEMAS else table
        self.put(table, day, change(self.warehouse.read_rows(Read(target, day, day))))

    def put(self, table: TableRef, day: date, rows: list[Row]) -> None:
        """Make `rows` one date's rows of a league table (by its default name) or a target
        (written as a processor's write is, each row hashed: a planted gap is never a hand
        edit)."""
        if table in PHASE2_SCHEMAS:
            self.warehouse.write([Replace(self.phase2(table), day, day, rows,
                                          PHASE2_SCHEMAS[table])])
            return
        writer = next(p for p in self.registry.ordered() if p.target == table)
        self.warehouse.write([writer.replacement(day, day, rows)])

    def target(self, name: str) -> TableRef:
        return self.registry.get(name).target


def _drop_game(game_id: str) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [r for r in rows if r["game_id"] != game_id]


def _missing(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    name = "team_defense_game_summary"
    planter.edit(planter.target(name), day, _drop_game(games[0]))
    return [Planted(Case.MISSING, day, (games[0],), (name,),
                    f"{planter.target(name)}: every row of {games[0]} deleted")]


def _incomplete(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    name = "team_offense_game_summary"
    planter.edit(planter.target(name), day,
                 lambda rows: [r for r in rows if r["game_id"] != games[0] or not r["is_home"]])
    return [Planted(Case.INCOMPLETE, day, (games[0],), (name,),
                    f"{planter.target(name)}: {games[0]} keeps 1 of its 2 team rows")]


def _stale(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    def correct(rows: list[Row]) -> list[Row]:
        home = next(r for r in rows if r["game_id"] == games[0] and r["is_home"])
        home["turnovers"] += 2  # what the re-processing corrected
        home["processed_at"] += timedelta(days=3)
        return rows

    planter.edit(TEAM_BOXSCORE, day, correct)
    return [Planted(Case.STALE, day, (games[0],), _TEAM_PROCESSORS,
                    f"{TEAM_BOXSCORE}: {games[0]} home turnovers corrected 3 days later (the "
                    "player summaries follow once the team offense is recomputed)")]


def _upstream(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    sources = (TEAM_BOXSCORE, GAMEBOOK)
    for table in sources:
        planter.edit(table, day, _drop_game(games[0]))
    affected = [p for p in planter.registry.ordered()
                if p.source in {planter.phase2(t) for t in sources}]
    for processor in affected:
        planter.edit(processor.target, day, _drop_game(games[0]))
    return [Planted(Case.UPSTREAM, day, (games[0],), tuple(p.name for p in affected),
                    f"{games[0]} is final on the schedule, absent from "
                    f"{TEAM_BOXSCORE} and {GAMEBOOK}")]


def _decoys(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    in_phase3, in_phase2 = games[0], games[1]
    defense = "team_defense_game_summary"

    def flip_one(rows: list[Row]) -> list[Row]:
        away = next(r for r in rows if r["game_id"] == in_phase2 and not r["is_home"])
        away["game_id"] = flipped(in_phase2)
        return rows

    planter.edit(TEAM_BOXSCORE, day, flip_one)
    # Stored that way since before Phase 3 was computed: what those rows are computed from.
    league = {planter.phase2(t) for t in PHASE2_SCHEMAS}
    compute_phase3(planter.warehouse, planter.registry, Window(day, day),
                   [p for p in planter.registry.ordered() if p.source in league])
    planter.edit(planter.target(defense), day,
                 lambda rows: [{**r, "game_id": flipped(in_phase3)} if r["game_id"] == in_phase3
                               else r for r in rows])
    year = day.year if day.month >= 8 else day.year - 1
    games_of_season = season(year)
    all_star = next(g for g in games_of_season if g.game_type == "all_star")
    preseason = next(g for g in games_of_season if g.game_type == "preseason")
    # The All-Star game has Phase 2 rows but no Phase 3; the preseason day is on the schedule only.
    for when, kept in ((all_star.day, (SCHEDULE, GAMEBOOK, TEAM_BOXSCORE)),
                       (preseason.day, (SCHEDULE,))):
        phase2 = generate_phase2(when, when)
        for table in PHASE2_SCHEMAS:
            planter.put(table, when, phase2[table] if table in kept else [])
        for processor in planter.registry.ordered():
            if processor.source in {planter.phase2(t) for t in PHASE2_SCHEMAS}:
                planter.put(processor.target, when, [])
    preseason_ids = tuple(sorted(g.game_id for g in games_of_season
                                 if g.day == preseason.day and g.game_type == "preseason"))
    return [
        Planted(Case.DECOYS, day, (in_phase3,), (),
                f"{planter.target(defense)}: {in_phase3} stored as {flipped(in_phase3)} "
                "(away/home flipped)"),
        Planted(Case.DECOYS, day, (in_phase2, flipped(in_phase2)), (),
                f"{TEAM_BOXSCORE}: {in_phase2}'s away row stored as {flipped(in_phase2)}"),
        Planted(Case.DECOYS, all_star.day, (all_star.game_id,), (),
                f"All-Star game {all_star.nba_game_id}: Phase 2 rows, no Phase 3"),
        Planted(Case.DECOYS, preseason.day, preseason_ids, (),
                f"{len(preseason_ids)} preseason games: final on the schedule, nothing else"),
    ]


def _duplicate(planter: Planter, day: date, games: list[str]) -> list[Planted]:
    """The real gamebook processor deletes by its own game_id only, so a game loaded again under
    its other spelling keeps both copies: every player listed twice."""
    game = games[0]
    planter.edit(GAMEBOOK, day, lambda rows: rows + [
        {**r, "game_id": flipped(game), "processed_at": r["processed_at"] + timedelta(hours=6)}
        for r in rows if r["game_id"] == game])
    return [Planted(Case.DUPLICATE, day, (min(game, flipped(game)),),
                    tuple(p.name for p in planter.registry.ordered()
                          if p.source == planter.phase2(GAMEBOOK)),
                    f"{GAMEBOOK}: {game} loaded again as {flipped(game)} (every player twice)")]


def _reload(planter: Planter, window: Window) -> list[Planted]:
    """The real `nbac_schedule` reload: every game of the window (and the lookback before it)
    deleted and loaded again, one row each as its newest says, with a new `processed_at`."""
    lookback = max((p.source_lookback_days for p in planter.registry.ordered()), default=0)
    start, table = window.start - timedelta(days=lookback), planter.phase2(SCHEDULE)
    rows = planter.warehouse.read_rows(Read(table, start, window.end))
    newest: dict[tuple[str, date], Row] = {}
    for row in rows:
        key = (row["game_id"], row["game_date"])
        seen = newest.get(key)
        if seen is None or (row["processed_at"], row["game_status"]) > (
                seen["processed_at"], seen["game_status"]):
            newest[key] = row
    at = max(r["processed_at"] for r in rows) + timedelta(days=1)
    reloaded = [{**r, "processed_at": at} for r in reversed(list(newest.values()))]
    planter.warehouse.write([Replace(table, start, window.end, reloaded,
                                     PHASE2_SCHEMAS[SCHEDULE])])
    return [Planted(Case.RELOAD, window.end, (), (),
                    f"{SCHEDULE}: {len(reloaded)} games of {start}..{window.end} deleted and "
                    "loaded again unchanged, processed_at moved")]


_PLANTERS: dict[Case, Callable[[Planter, date, list[str]], list[Planted]]] = {
    Case.MISSING: _missing, Case.INCOMPLETE: _incomplete, Case.STALE: _stale,
    Case.UPSTREAM: _upstream, Case.DECOYS: _decoys, Case.DUPLICATE: _duplicate,
}
