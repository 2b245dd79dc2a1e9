"""What a Phase 3 processor is: a pure transform of one game's Phase 2 rows into Phase 3 rows.

A processor reads its Phase 2 source (only the columns it names, under the pipeline's own names),
splits a date's rows into games and computes each game on its own: a game whose rows are bad is
refused with its reason and the date's other games are still written. Backfill stamps every row
it writes with what it was computed from (domain/fingerprint.py: a content fingerprint per input,
made by the warehouse in the very read that fetched the rows), so detection can tell when an
input's content changed, and with the processor's version, so a formula fix recomputes history;
the warehouse hashes each row it writes, so a hand edit shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from backfill.domain.errors import BadData
from backfill.domain.fingerprint import (
    INPUTS,
    PROCESSOR_VERSION,
    READ_FINGERPRINT,
    ROW_HASH,
    Fingerprint,
    Inputs,
    game_inputs,
    schedule_fingerprints,
)
from backfill.domain.games import DEFAULT_GAME_TYPES, GameKey, game_key
from backfill.domain.gaps import (
    GameStat,
    GapRule,
    by_key,
    current_inputs,
    matched,
    spellings_fingerprint,
)
from backfill.domain.sanity import Sanity
from backfill.domain.schedule import Schedule
from backfill.domain.tables import Column, Schema, TableRef
from backfill.domain.window import Window
from backfill.ports import Read, Replace, Row, Scan

# The columns Backfill adds to every Phase 3 table, after the processor's own.
LINEAGE_SCHEMA = (Column(INPUTS, "STRING"), Column(ROW_HASH, "STRING"),
                  Column(PROCESSOR_VERSION, "STRING"))
# Lineage columns of tables written before content fingerprints: a target may keep them (they
# are no longer written, so each date's rewrite leaves them NULL), never counted as foreign.
RETIRED_LINEAGE = (Column("source_processed_at", "TIMESTAMP"), Column("upstream_versions", "STRING"),
                   Column("content_version", "STRING"))
# What a target scan reports per game, from which column.
_TARGET_MAXIMA = (("version", PROCESSOR_VERSION), ("inputs", INPUTS))
# Source columns never part of a fingerprint: when a row was loaded (a reload that changes
# nothing moves it), and the id spelling it is stored under (a game is matched whatever its id,
# and the scan groups by it already: the same rows re-keyed under another spelling are no
# change).
_NOT_CONTENT = ("processed_at", "game_id")


@dataclass(frozen=True)
class GameInput:
    """Everything one game's computation reads."""

    key: GameKey
    game_date: date
    rows: Sequence[Row]      # this game's Phase 2 rows
    history: Sequence[Row]   # Phase 2 rows of the lookback dates before game_date
    upstream: Mapping[str, Sequence[Row]]  # each dependency's Phase 3 rows of this game


@dataclass
class Produced:
    """One date computed: the rows of the games written, and the games refused (bad Phase 2
    data) or waiting (an upstream processor has no rows of them), each id with its reason."""

    rows: list[Row] = field(default_factory=list)
    written: dict[GameKey, str] = field(default_factory=dict)
    refused: dict[GameKey, tuple[str, str]] = field(default_factory=dict)
    waiting: dict[GameKey, tuple[str, str]] = field(default_factory=dict)
    # What each game was computed (or refused) on.
    inputs: dict[GameKey, Inputs] = field(default_factory=dict)


class Processor(ABC):
    """A transform plus where it reads and writes; the class gives defaults, configuration may
    override them per instance (name, tables, dependencies, priority, version, column names)."""

    name: str
    source: TableRef
    target: TableRef
    schema: Schema            # the processor's own Phase 3 columns (game_id and game_date first)
    source_columns: Schema    # the Phase 2 columns it reads, by Backfill's names, and their types
    depends_on: tuple[str, ...] = ()
    priority: int = 100
    version: str | None = None  # declare one to have every older row recomputed when it changes
    # Source dates before the game's date its computation reads (the context reads 14 days).
    source_lookback_days: int = 0
    game_types: frozenset[str] = DEFAULT_GAME_TYPES
    # Phase 3 rows each counted Phase 2 row gives, and which Phase 2 rows count at all.
    rows_per_source_row: int = 1
    count_source_where: tuple[str, tuple[str, ...]] | None = None
    # Sanity facts of the source (domain/sanity.py): the column naming each counted row's team
    # (every team of a game must have counted rows), one no two counted rows of a game may share.
    source_team_column: str | None = None
    source_unique_column: str | None = None
    # The source is the schedule: appended and reloaded rows, one game each (domain/schedule.py).
    source_is_schedule: bool = False

    def __init__(self, *, name: str | None = None, source: TableRef | None = None,
                 target: TableRef | None = None, depends_on: Sequence[str] | None = None,
                 priority: int | None = None, version: str | None = None,
                 columns: Mapping[str, str] | None = None) -> None:
        # Instance attributes shadow the class defaults when configuration overrides them.
        self.name = name or type(self).name
        self.source = source or type(self).source
        self.target = target or type(self).target
        self.depends_on = tuple(depends_on) if depends_on is not None else type(self).depends_on
        self.priority = type(self).priority if priority is None else priority
        self.version = version if version is not None else type(self).version
        # Backfill's name of a source column -> the pipeline's own name for it.
        self.columns: dict[str, str] = dict(columns or {})

    @abstractmethod
    def compute_game(self, game: GameInput) -> list[Row]:
        """The Phase 3 rows of one game; raise BadData for rows no retry can fix."""

    def split(self, game_date: date, rows: Sequence[Row]) -> dict[GameKey, list[Row]]:
        """A date's source rows by game (an id spelled two ways is still one game)."""
        games: dict[GameKey, list[Row]] = defaultdict(list)
        for row in rows:
            games[game_key(game_date, row["game_id"])].append(row)
        return games

    # -- what the framework reads ---------------------------------------------------------------

    def table_schema(self) -> Schema:
        """Every column of the Phase 3 target table: the processor's own, then Backfill's."""
        return self.schema + LINEAGE_SCHEMA

    def owned_schema(self) -> Schema:
        """The columns a target table may have: the table's, and retired lineage columns."""
        return self.table_schema() + RETIRED_LINEAGE

    def source_read(self, start: date, end: date) -> Read:
        """The source rows a computation reads: the needed columns, under Backfill's names, each
        row with its game's fingerprint."""
        return Read(self.source, start, end, by=self.physical("game_date"),
                    columns=tuple((c.name, self.physical(c.name)) for c in self.source_columns),
                    hashed=self.fingerprinted())

    def source_scan(self, window: Window, fingerprints: bool = True) -> Scan:
        """What detection reads of the Phase 2 source: counted rows, the sanity facts and,
        unless told not to (a benchmark's baseline), each game's fingerprint."""
        names = tuple((c.name, self.physical(c.name)) for c in self.source_columns)
        return Scan(self.source, window, names, self.count_source_where, (),
                    self.source_team_column, self.source_unique_column,
                    hashed=self.fingerprinted() if fingerprints else ())

    def fingerprinted(self) -> tuple[tuple[str, str], ...]:
        """The source columns a game's fingerprint covers: every one read but the load time
        and the id."""
        return tuple((c.name, self.physical(c.name)) for c in self.source_columns
                     if c.name not in _NOT_CONTENT)

    def target_scan(self, window: Window, present: Iterable[str] | None = None) -> Scan:
        """What detection reads of the Phase 3 target: per game its rows, version, recorded
        inputs, content fingerprint and the rows that no longer match their recorded hash;
        `present` leaves out lineage columns a table written before they existed lacks."""
        have = set(present) if present is not None else {c.name for c in LINEAGE_SCHEMA}
        return Scan(self.target, window,
                    maxima=tuple((f, c) for f, c in _TARGET_MAXIMA if c in have),
                    hashed=self._own(), stored_hash=ROW_HASH if ROW_HASH in have else None)

    def target_read(self, start: date, end: date) -> Read:
        """A dependent's read of this processor's Phase 3 rows, each with its game's content
        fingerprint (the one `target_scan` reports)."""
        return Read(self.target, start, end, columns=self._own(), hashed=self._own())

    def replacement(self, start: date, end: date, rows: Sequence[Row],
                    keep: tuple[str, ...] = ()) -> Replace:
        """The write of computed dates: the warehouse hashes each new row over our columns."""
        return Replace(self.target, start, end, rows, self.table_schema(), keep,
                       hash_into=ROW_HASH, hashed=tuple(c.name for c in self.schema))

    def _own(self) -> tuple[tuple[str, str], ...]:
        return tuple((c.name, c.name) for c in self.schema)

    def phase2_stats(self, rows: Iterable[Row]) -> list[GameStat]:
        """The GameStats `source_scan` gives, computed from rows already read (their
        fingerprints as the warehouse attached them to the rows)."""
        if self.source_is_schedule:
            return schedule_stats(Schedule.from_rows(rows))
        games: dict[tuple[str, date], list[Row]] = defaultdict(list)
        for row in rows:
            games[(row["game_id"], row["game_date"])].append(row)
        where = self.count_source_where
        stats = []
        for (game_id, day), game in sorted(games.items()):
            counted = [r for r in game if where is None or r.get(where[0]) in where[1]]
            unique = ({r.get(self.source_unique_column) for r in counted
                       if r.get(self.source_unique_column) is not None}
                      if self.source_unique_column else counted)
            teams = frozenset(r[self.source_team_column] for r in counted
                              if r.get(self.source_team_column) is not None
                              ) if self.source_team_column else frozenset()
            stats.append(GameStat(game_id, day, len(counted),
                                  fingerprint=game[0].get(READ_FINGERPRINT),
                                  teams=teams, repeated=len(counted) - len(unique)))
        return stats

    def gap_rule(self) -> GapRule:
        return GapRule(self.name, str(self.source), self.game_types, self.rows_per_source_row,
                       self.source_lookback_days, self.depends_on, self.version,
                       Sanity(str(self.source), self.count_source_where, self.source_team_column,
                              self.source_unique_column),
                       self.source_is_schedule)

    def physical(self, column: str) -> str:
        """The pipeline's name for one of Backfill's source column names."""
        return self.columns.get(column, column)

    # -- computing a date -----------------------------------------------------------------------

    def produce(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]], schedule: Schedule,
                held_upstream: Mapping[GameKey, str] | None = None) -> Produced:
        """Compute every checked game of `game_date` on its own and stamp its lineage.

        `source_rows` cover the lookback; `upstream` holds each dependency's Phase 3 rows of the
        date; `held_upstream` says why a dependency holds a game in quarantine. A game whose
        Phase 2 rows fail a sanity rule, or that computes to no rows, is refused: its old rows
        are kept, never deleted for want of new ones.
        """
        rule = self.gap_rule()
        types = schedule.types()
        stored = self.phase2_stats(source_rows)
        found = [matched(stat, schedule) for stat in stored]
        keys = {stat.key: game.key for stat, game in zip(stored, found, strict=True)}
        stats = by_key(found)
        sources = game_inputs({k: s.fingerprint for k, s in stats.items()},
                              self.source_lookback_days)
        day_rows = [r for r in source_rows if r["game_date"] == game_date]
        history = [r for r in source_rows if r["game_date"] < game_date]
        by_game = {name: _by_game(game_date, rows) for name, rows in upstream.items()}
        contents = {name: {key: _fingerprint(rows_) for key, rows_ in games.items()}
                    for name, games in by_game.items()}
        produced = Produced()
        games: dict[GameKey, list[Row]] = defaultdict(list)
        for key, rows in self.split(game_date, day_rows).items():
            games[keys.get(key, key)] += rows
        for key, rows in sorted(games.items(), key=lambda kv: str(kv[0])):
            if not rule.checks(types.get(key)):
                continue
            game_id = _game_id(key, stats[key].game_id if key in stats else
                               min(str(r["game_id"]) for r in rows), schedule)
            produced.inputs[key] = current_inputs(rule, key, sources, contents)
            problem = rule.problem(stats[key], schedule) if key in stats else None
            if problem:
                produced.refused[key] = (game_id, problem)
                continue
            lacking = [name for name in self.depends_on if not by_game[name].get(key)]
            if lacking:
                why = (held_upstream or {}).get(key) or f"{lacking[0]} has no rows of this game"
                produced.waiting[key] = (game_id, why)
                continue
            game = GameInput(key, game_date, rows, history,
                             {name: by_game[name][key] for name in self.depends_on})
            try:
                out = self.compute_game(game)
            except BadData as exc:
                produced.refused[key] = (game_id, str(exc))
                continue
            if not out:
                produced.refused[key] = (game_id, f"computed no rows from its {len(rows)} rows "
                                                  f"of {self.source}")
                continue
            for row in out:
                row.update({INPUTS: produced.inputs[key].to_text(),
                            PROCESSOR_VERSION: self.version or ""})
            produced.rows += out
            produced.written[key] = game_id
        return produced

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.source} -> {self.target}>"


def schedule_stats(schedule: Schedule) -> list[GameStat]:
    """The schedule's games as a source: one each, whatever number of rows was appended, with
    the fingerprint of its newest row."""
    fingerprints = schedule_fingerprints(schedule)
    return [GameStat(g.game_id, g.game_date, 1, fingerprint=fingerprints[g.key], key=g.key)
            for g in schedule.games]


def _by_game(game_date: date, rows: Sequence[Row]) -> dict[GameKey, list[Row]]:
    games: dict[GameKey, list[Row]] = defaultdict(list)
    for row in rows:
        if row.get("game_date") == game_date:
            games[game_key(game_date, row["game_id"])].append(row)
    return games


def _game_id(key: GameKey, game_id: str, schedule: Schedule) -> str:
    """An id of the game that names its key, so a quarantine hold finds it again: the schedule's
    official id becomes the game's date-based id."""
    scheduled = schedule.find(key)
    if game_key(key[0], game_id) == key or scheduled is None:
        return game_id
    return scheduled.date_based_id


def _fingerprint(rows: Sequence[Row]) -> Fingerprint | None:
    """A dependency game's content, as the warehouse attached it to its rows (one game stored
    under two ids has one fingerprint per id: combined like a scan's)."""
    return spellings_fingerprint({r["game_id"]: r.get(READ_FINGERPRINT) for r in rows}) \
        if rows else None
