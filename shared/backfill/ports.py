"""The two ports the services need: a warehouse and a request queue. Adapters implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from backfill.domain.dead_letter import Received
from backfill.domain.errors import PermanentError
from backfill.domain.gaps import GameStat
from backfill.domain.request import Request
from backfill.domain.tables import Schema, TableRef
from backfill.domain.window import Window

Row = dict[str, Any]
# One delivery as a consumer hands it over: body, attributes, delivery attempt (if Pub/Sub says), id.
Delivery = tuple[bytes, dict[str, str], int | None, str]


@dataclass(frozen=True)
class GameScan:
    """What detection reads of one table: only key columns, counted per game.

    `count_where` narrows which rows count (column, allowed values), e.g. only active players.
    `processed_column` names the column whose newest value per game is reported, if any.
    `label_column` names a column whose (greatest) value per game is reported as its label.
    """

    table: TableRef
    window: Window
    processed_column: str | None = None
    count_where: tuple[str, tuple[str, ...]] | None = None
    label_column: str | None = None


def require_dates_within(table: TableRef, start: date, end: date, rows: Sequence[Row]) -> None:
    """Refuse a range replacement whose rows fall outside the range it replaces."""
    if any(not isinstance(row.get("game_date"), date) or not start <= row["game_date"] <= end
           for row in rows):
        raise PermanentError(f"rows for {table} must have game_date in {start}..{end}")


class Warehouse(ABC):
    """Where Phase 2 is read and Phase 3 written. Values always travel as query parameters."""

    url: str
    # True where a query is mostly waiting on a service (BigQuery): independent reads then run at
    # once. False where queries are CPU work in this process (DuckDB): threads would only contend.
    latency_bound: bool = False

    @abstractmethod
    def scan_games(self, scan: GameScan) -> list[GameStat]:
        """One GameStat per (game_date, game_id) in the window. Raises TableNotFound."""

    @abstractmethod
    def read_rows(self, table: TableRef, start: date, end: date) -> list[Row]:
        """Every row of `table` with game_date in [start, end]. Raises TableNotFound."""

    @abstractmethod
    def replace_range(self, table: TableRef, start: date, end: date, rows: Sequence[Row],
                      columns: Schema) -> int:
        """Atomically make `rows` the only rows of dates [start, end] in `table`; idempotent.

        The worker replaces one date; seeding replaces a whole window. Returns the row count.
        """

    @abstractmethod
    def create_table(self, table: TableRef, columns: Schema) -> None:
        """Create `table` (and its dataset) if it does not exist."""

    @abstractmethod
    def load_rows(self, table: TableRef, rows: Sequence[Row], columns: Schema) -> int:
        """Bulk-append rows (audit batches); never one load job per row."""

    @abstractmethod
    def drop_table(self, table: TableRef) -> None:
        """Drop `table` if it exists (demo and tests set up broken warehouses with it)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing open
        """Release what the adapter holds."""


@dataclass
class PublishResult:
    """Message ids of what was published, by request id."""

    message_ids: dict[str, str] = field(default_factory=dict)


class RequestQueue(ABC):
    """Where requests are published and dead letters go."""

    @abstractmethod
    def publish(self, requests: Sequence[Request]) -> PublishResult:
        """Publish every request, waiting for each; raises TransientError if any failed."""

    @abstractmethod
    def dead_letter(self, body: bytes, attributes: dict[str, str]) -> str:
        """Publish a dead letter (the original body, attributes saying why); returns its id."""


class Lease(ABC):
    """Dead letters held for this caller; whatever is not acknowledged goes back on exit."""

    messages: list[Received]

    @abstractmethod
    def acknowledge(self, message_id: str) -> None:
        """Remove one held message from the dead-letter queue for good."""


class DeadLetterInbox(ABC):
    """The dead-letter subscription kept for inspection."""

    @abstractmethod
    def lease(self) -> AbstractContextManager[Lease]:
        """Hold every message now in the queue; unacknowledged ones are released on exit."""


class Progress(Protocol):
    """How a long service call reports: the number of steps once known, then one line a step."""

    def start(self, total: int | None) -> None: ...

    def __call__(self, line: str) -> None: ...


class NoProgress:
    """Progress that shows nothing."""

    def start(self, total: int | None) -> None:
        pass

    def __call__(self, line: str) -> None:
        pass
