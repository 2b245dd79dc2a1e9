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
from backfill.domain.games import flipped, game_type
from backfill.domain.tables import Schema, TableRef
from backfill.domain.window import Window
from backfill.local.seed import PHASE2_SCHEMAS, generate_phase2
from backfill.local.seed.league import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE, season
from backfill.ports import Row, Warehouse
from backfill.processors.registry import Registry


class Case(StrEnum):
    MISSING = "missing"        # team defense: a game's rows deleted
    INCOMPLETE = "incomplete"  # team offense: one of a game's two team rows deleted
    STALE = "stale"            # gamebook: a game re-processed (a stat corrected) after Phase 3 ran
    UPSTREAM = "upstream"      # a final game never loaded into the box score and gamebook
    DECOYS = "decoys"          # flipped ids, an All-Star game, preseason games: no gaps at all


@dataclass(frozen=True)
class Planted:
    """One planted defect; `processors` must report it (none for a decoy).

    A decoy's `game_ids` are the ids a false gap would name (Phase 2's, or the schedule's).
    """

    case: Case
    game_date: date
    game_ids: tuple[str, ...]
    processors: tuple[str, ...]
    what: str


# Each case on its own regular-season game date of the window (by index), so reasons never mix.
_DATE_INDEX = {Case.MISSING: 1, Case.INCOMPLETE: 2, Case.STALE: 3, Case.UPSTREAM: 4,
               Case.DECOYS: 5}


def plant(warehouse: Warehouse, registry: Registry, window: Window,
          cases: Sequence[Case]) -> list[Planted]:
    """Plant each case in a warehouse seeded over `window` (decoys may fall outside it)."""
    games = regular_games(warehouse, window)
    days = sorted(games)
    if cases and len(days) <= max(_DATE_INDEX[c] for c in cases):
        raise ConfigurationError(f"window {window.start}..{window.end} has {len(days)} "
                                 f"regular-season game dates; planting needs {len(_DATE_INDEX) + 1}")
    planted: list[Planted] = []
    for case in dict.fromkeys(cases):
        day = days[_DATE_INDEX[case]]
        planted += _PLANTERS[case](warehouse, registry, day, games[day])
    return planted


def covering(window: Window, planted: Sequence[Planted]) -> Window:
    """The smallest window holding `window` and every planted date (decoys lie outside seasons)."""
    days = [window.start, window.end, *(p.game_date for p in planted)]
    return Window(min(days), max(days))


def regular_games(warehouse: Warehouse, window: Window) -> dict[date, list[str]]:
    """The schedule's regular-season game ids by date, sorted."""
    by_day: dict[date, list[str]] = defaultdict(list)
    for row in warehouse.read_rows(SCHEDULE, window.start, window.end):
        if game_type(row["nba_game_id"]) == "regular_season":
            by_day[row["game_date"]].append(row["game_id"])
    return {day: sorted(ids) for day, ids in by_day.items()}


def edit(warehouse: Warehouse, table: TableRef, columns: Schema, day: date,
         change: Callable[[list[Row]], list[Row]]) -> None:
    """Replace one date's rows of `table` with `change(rows)`."""
    rows = warehouse.read_rows(table, day, day)
    warehouse.replace_range(table, day, day, change(rows), columns)


def _drop_game(game_id: str) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [r for r in rows if r["game_id"] != game_id]


def _missing(warehouse: Warehouse, registry: Registry, day: date,
             games: list[str]) -> list[Planted]:
    processor = registry.get("team_defense_game_summary")
    edit(warehouse, processor.target, processor.schema, day, _drop_game(games[0]))
    return [Planted(Case.MISSING, day, (games[0],), (processor.name,),
                    f"{processor.target}: every row of {games[0]} deleted")]


def _incomplete(warehouse: Warehouse, registry: Registry, day: date,
                games: list[str]) -> list[Planted]:
    processor = registry.get("team_offense_game_summary")
    edit(warehouse, processor.target, processor.schema, day,
         lambda rows: [r for r in rows if r["game_id"] != games[0] or r["is_home"]])
    return [Planted(Case.INCOMPLETE, day, (games[0],), (processor.name,),
                    f"{processor.target}: {games[0]} keeps 1 of its 2 team rows")]


def _stale(warehouse: Warehouse, registry: Registry, day: date,
           games: list[str]) -> list[Planted]:
    def reprocess(rows: list[Row]) -> list[Row]:
        game = [r for r in rows if r["game_id"] == games[0]]
        for row in game:
            row["processed_at"] += timedelta(days=3)
        corrected = next(r for r in game if r["player_status"] == "active")
        corrected["assists"] += 1  # what the re-processing corrected
        return rows

    edit(warehouse, GAMEBOOK, PHASE2_SCHEMAS[GAMEBOOK], day, reprocess)
    return [Planted(Case.STALE, day, (games[0],), ("player_game_summary",),
                    f"{GAMEBOOK}: {games[0]} re-processed 3 days later, one assist corrected")]


def _upstream(warehouse: Warehouse, registry: Registry, day: date,
              games: list[str]) -> list[Planted]:
    sources = (TEAM_BOXSCORE, GAMEBOOK)
    for table in sources:
        edit(warehouse, table, PHASE2_SCHEMAS[table], day, _drop_game(games[0]))
    affected = [p for p in registry.ordered() if p.source in sources]
    for processor in affected:
        edit(warehouse, processor.target, processor.schema, day, _drop_game(games[0]))
    return [Planted(Case.UPSTREAM, day, (games[0],), tuple(p.name for p in affected),
                    f"{games[0]} is final on the schedule, absent from "
                    f"{TEAM_BOXSCORE} and {GAMEBOOK}")]


def _decoys(warehouse: Warehouse, registry: Registry, day: date,
            games: list[str]) -> list[Planted]:
    old, renamed = games[0], games[1]
    defense = registry.get("team_defense_game_summary")
    edit(warehouse, defense.target, defense.schema, day,
         lambda rows: [{**r, "game_id": flipped(old)} if r["game_id"] == old else r
                       for r in rows])
    edit(warehouse, SCHEDULE, PHASE2_SCHEMAS[SCHEDULE], day,
         lambda rows: [{**r, "game_id": flipped(renamed)} if r["game_id"] == renamed else r
                       for r in rows])
    year = day.year if day.month >= 8 else day.year - 1
    all_star = next(g for g in season(year) if g.game_type == "all_star")
    preseason = next(g for g in season(year) if g.game_type == "preseason")
    # The All-Star game has Phase 2 rows but no Phase 3; the preseason day is on the schedule only.
    for when, tables in ((all_star.day, (SCHEDULE, GAMEBOOK, TEAM_BOXSCORE)),
                         (preseason.day, (SCHEDULE,))):
        phase2 = generate_phase2(when, when)
        for table, columns in PHASE2_SCHEMAS.items():
            warehouse.replace_range(table, when, when,
                                    phase2[table] if table in tables else [], columns)
        for processor in registry.ordered():
            if processor.source in PHASE2_SCHEMAS:
                warehouse.replace_range(processor.target, when, when, [], processor.schema)
    preseason_ids = tuple(sorted(r["game_id"] for r in generate_phase2(
        preseason.day, preseason.day)[SCHEDULE]))
    return [
        Planted(Case.DECOYS, day, (old,), (),
                f"{defense.target}: {old} stored as {flipped(old)} (away/home flipped)"),
        Planted(Case.DECOYS, day, (flipped(renamed),), (),
                f"{SCHEDULE}: {renamed} stored as {flipped(renamed)} (away/home flipped)"),
        Planted(Case.DECOYS, all_star.day, (all_star.game_id,), (),
                f"All-Star game {all_star.nba_game_id}: Phase 2 rows, no Phase 3"),
        Planted(Case.DECOYS, preseason.day, preseason_ids, (),
                f"{len(preseason_ids)} preseason games: final on the schedule, nothing else"),
    ]


_PLANTERS: dict[Case, Callable[[Warehouse, Registry, date, list[str]], list[Planted]]] = {
    Case.MISSING: _missing, Case.INCOMPLETE: _incomplete, Case.STALE: _stale,
    Case.UPSTREAM: _upstream, Case.DECOYS: _decoys,
}
