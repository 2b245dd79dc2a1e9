"""What a Phase 3 processor is: a pure transform of one date of Phase 2 rows into Phase 3 rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date
from typing import ClassVar

from backfill.domain.games import DEFAULT_GAME_TYPES, KeyRule, team_set_key
from backfill.domain.gaps import GapRule
from backfill.domain.tables import Schema, TableRef
from backfill.domain.window import Window
from backfill.ports import GameScan, Row

# Columns every Phase 3 row carries, set by the framework rather than by each transform:
# the source rows' newest processed_at, so a later re-processing of Phase 2 shows up as stale.
SOURCE_PROCESSED_AT = "source_processed_at"
# Phase 2 tables record when a row was (re-)processed in this column.
PROCESSED_AT = "processed_at"

# The schedule says which games exist, of what type (official id), and which are final.
SCHEDULE = TableRef("nba_raw", "nbac_schedule")


def schedule_scan(window: Window) -> GameScan:
    """Each scheduled game of the window: its official id as label, its final rows counted."""
    return GameScan(SCHEDULE, window, count_where=("game_status", ("Final",)),
                    label_column="nba_game_id")


class Processor(ABC):
    """A transform plus where it reads and writes; the class gives defaults, configuration may override.

    `compute` gets the source rows of dates [game_date - source_lookback_days, game_date] and, for
    each processor in `depends_on`, that processor's Phase 3 rows of game_date. It returns the
    Phase 3 rows of game_date only, and must be deterministic: the same inputs give the same rows.
    Raise PermanentError for source data no retry can fix.
    """

    name: ClassVar[str]
    source: ClassVar[TableRef]
    target: ClassVar[TableRef]
    schema: ClassVar[Schema]
    depends_on: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 100
    source_lookback_days: ClassVar[int] = 0
    # Detection rules (DESIGN lessons 4 and 6): which games count, how ids compare, how many
    # Phase 3 rows each counted source row gives, and which source rows count at all.
    game_types: ClassVar[frozenset[str]] = DEFAULT_GAME_TYPES
    game_key: ClassVar[KeyRule] = staticmethod(team_set_key)
    rows_per_source_row: ClassVar[int] = 1
    count_source_where: ClassVar[tuple[str, tuple[str, ...]] | None] = None

    def __init__(self, *, name: str | None = None, source: TableRef | None = None,
                 target: TableRef | None = None, depends_on: Sequence[str] | None = None,
                 priority: int | None = None) -> None:
        # Instance attributes shadow the class defaults when configuration overrides them.
        if name is not None:
            self.name = name  # type: ignore[misc]
        if source is not None:
            self.source = source  # type: ignore[misc]
        if target is not None:
            self.target = target  # type: ignore[misc]
        if depends_on is not None:
            self.depends_on = tuple(depends_on)  # type: ignore[misc]
        if priority is not None:
            self.priority = priority  # type: ignore[misc]

    @abstractmethod
    def compute(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]]) -> list[Row]:
        """The Phase 3 rows of `game_date`."""

    def table_schema(self) -> Schema:
        """Every column of the Phase 3 target table: the processor's own and Backfill's."""
        return self.schema

    def source_scan(self, window: Window) -> GameScan:
        """What detection reads of the Phase 2 source: counted rows, newest processed time."""
        return GameScan(self.source, window, PROCESSED_AT, self.count_source_where)

    def target_scan(self, window: Window) -> GameScan:
        """What detection reads of the Phase 3 target: rows, the source time they were made from."""
        return GameScan(self.target, window, SOURCE_PROCESSED_AT)

    def gap_rule(self) -> GapRule:
        """How detection compares this processor's games."""
        return GapRule(type(self).game_key, self.game_types, self.rows_per_source_row)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.source} -> {self.target}>"
