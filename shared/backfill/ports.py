"""The ports the services need: a warehouse, a request queue, an audit topic, a dead-letter
inbox, progress.

Adapters implement them (adapters/: BigQuery and Pub/Sub; local/: DuckDB). A read, a scan and a
write are value objects, so the SQL each adapter builds from them is a pure function of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from backfill.domain.dead_letter import DeadLetterMessage, Why
from backfill.domain.deadline import Deadline
from backfill.domain.errors import PermanentError
from backfill.domain.gaps import GameStat
from backfill.domain.request import Request
from backfill.domain.tables import Schema, TableInfo, TableRef
from backfill.domain.window import Window

Row = dict[str, Any]
Scalar = str | int | float | bool | date | datetime


@dataclass(frozen=True)
class Read:
    """Rows of one table whose `by` column (its partition column) lies in [start, end].

    `columns` lists (name returned, column of the table); empty means every column as it is.
    `equals` narrows to rows whose column has a value; `newest_first` orders by `by` descending.
    """

    table: TableRef
    start: date | datetime
    end: date | datetime
    by: str = "game_date"
    columns: tuple[tuple[str, str], ...] = ()
    equals: tuple[tuple[str, Scalar], ...] = ()
    newest_first: bool = False
    limit: int | None = None
    # (name, column) each row's hash covers: every row then carries its game's fingerprint
    # (fingerprint.READ_FINGERPRINT), made in the same statement as the rows. Needs `columns`.
    hashed: tuple[tuple[str, str], ...] = ()


# The greatest values a scan may report per game, as GameStat names them.
SCAN_FIELDS = ("version", "inputs")


@dataclass(frozen=True)
class Scan:
    """What detection reads of one table: only key columns, counted per (game_id, game_date).

    `names` renames the logical columns the scan names (game_id, game_date, the count and maxima
    columns) to the table's own. `count_where` counts only rows whose column has one of some
    values (only active players). `maxima` maps a GameStat field to the column whose greatest
    value per game it reports. `teams` names the column whose counted values are the teams a
    game has rows of, `unique` one whose counted values must not repeat in a game (the sanity
    facts of domain/sanity.py). `hashed` lists the (name, column) pairs whose values make each
    game's fingerprint; `stored_hash` is the column where the write recorded each row's hash,
    so the scan counts the rows whose values no longer match it (or repeat another row's).
    """

    table: TableRef
    window: Window
    names: tuple[tuple[str, str], ...] = ()
    count_where: tuple[str, tuple[str, ...]] | None = None
    maxima: tuple[tuple[str, str], ...] = ()
    teams: str | None = None
    unique: str | None = None
    hashed: tuple[tuple[str, str], ...] = ()
    stored_hash: str | None = None

    def column(self, name: str) -> str:
        return dict(self.names).get(name, name)


@dataclass(frozen=True)
class Replace:
    """Make `rows` the only rows of dates [start, end] in `table`, except the games stored under
    the ids in `keep`, whose old rows stay (games refused this time). With `hash_into`, the
    warehouse writes into that column each new row's hash over the `hashed` columns, in SQL
    within the write (the hash a target scan checks the row against)."""

    table: TableRef
    start: date
    end: date
    rows: Sequence[Row]
    columns: Schema
    keep: tuple[str, ...] = ()
    hash_into: str | None = None
    hashed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        stray = next((r for r in self.rows if not isinstance(r.get("game_date"), date)
                      or not self.start <= r["game_date"] <= self.end
                      or r.get("game_id") in self.keep), None)
        if stray is not None:
            raise PermanentError(f"a row for {self.table} of game {stray.get('game_id')} "
                                 f"{stray.get('game_date')} falls outside "
                                 f"{self.start}..{self.end} or in a kept game")


@dataclass(frozen=True)
class Append:
    """Add rows to an append-only table (audit, quarantine, runs): never a load job each.
    `partitioned_by` is the partition column the table is created with if it is missing."""

    table: TableRef
    rows: Sequence[Row]
    columns: Schema
    partitioned_by: str = "game_date"


Change = Replace | Append


class Warehouse(ABC):
    """Where Phase 2 is read and Phase 3 written. Values always travel as query parameters."""

    url: str
    # True where a query is mostly waiting on a service (BigQuery): independent reads then run at
    # once. False where queries are CPU work in this process (DuckDB): threads would only contend.
    latency_bound: bool = False

    @abstractmethod
    def describe(self, table: TableRef) -> TableInfo | None:
        """The table's columns and partitioning, None if it does not exist."""

    @abstractmethod
    def scan_together(self, scans: Sequence[Scan]) -> list[list[GameStat]]:
        """Each scan's GameStats, in the order asked, from one query (one job on BigQuery, one
        plan on DuckDB). Raises TableNotFound if any of their tables is missing."""

    def scan_games(self, scan: Scan) -> list[GameStat]:
        """One GameStat per (game_date, game_id) in the window. Raises TableNotFound."""
        return self.scan_together([scan])[0]

    @abstractmethod
    def read_rows(self, read: Read) -> list[Row]:
        """The rows a read names. Raises TableNotFound."""

    @abstractmethod
    def write(self, changes: Sequence[Change]) -> None:
        """Apply every change; each replacement is atomic and idempotent (DuckDB applies them all
        in one transaction, BigQuery runs them at once, each one statement)."""

    @abstractmethod
    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        """Create `table` (and its dataset if there is none), or add the columns it lacks to
        the table that exists (on BigQuery: tables.get and tables.update only); partitioned by
        the named column, and clustered by game_id where it has one."""

    def scoped(self, deadline: Deadline | None = None,
               labels: Mapping[str, str] | None = None) -> Warehouse:
        """This warehouse with every call cut short at `deadline` and every job labelled (where
        the warehouse has deadlines and labels: BigQuery)."""
        return self

    def forget(self, table: TableRef) -> None:  # noqa: B027 - only adapters that cache
        """Drop what is kept of `table`'s description: it was dropped or recreated since."""

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing open
        """Release what the adapter holds."""


@dataclass(frozen=True)
class Delivery:
    """One message as a push envelope or a pull hands it to the worker. `problem` says why the
    transport could not read it (a push envelope without a message): it is dead-lettered as is."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    delivery_attempt: int | None = None  # what Pub/Sub says, if it does (not the emulator)
    message_id: str = ""
    problem: str | None = None
    published_at: datetime | None = None  # when Pub/Sub accepted it: the same on redelivery


class RequestQueue(ABC):
    """Where requests are published and dead letters go."""

    @abstractmethod
    def publish(self, requests: Sequence[Request]) -> dict[str, str]:
        """Publish every request, waiting for each; message ids by request id. Raises
        TransientError if any failed."""

    @abstractmethod
    def dead_letter(self, delivery: Delivery, why: Why, request: Request | None,
                    timeout: float | None = None) -> str:
        """Publish a dead letter: the original body, attributes saying why; returns its id.
        Raises TransientError if it could not."""


class AuditTopic(ABC):
    """Where audit rows are published when the audit trail rides Pub/Sub: one message a row,
    the row as JSON in the table's own schema (terraform/schemas/backfill_log.json).

    Which way each mode records its audit rows (service/audit.py:AuditLog):
    - a deployed worker (Terraform sets BACKFILL_AUDIT_TOPIC) publishes to the audit topic
      (adapters/pubsub_audit.py:PubSubAuditTopic); a BigQuery subscription writes backfill_log;
    - `backfill stack` publishes the same way to the emulator, which has no BigQuery
      subscriptions: the stack's own pull loop drains the topic into DuckDB (local/stack.py);
    - `backfill run`, `backfill worker` and anything without BACKFILL_AUDIT_TOPIC append the rows
      to the warehouse directly (the warehouse's streaming inserts, or DuckDB).
    """

    @abstractmethod
    def publish(self, rows: Sequence[Row], deadline: Deadline | None = None) -> None:
        """Publish every row, retrying inside `deadline`, and return once Pub/Sub has confirmed
        each. Raises TransientError if any was not confirmed in time."""


class Lease(ABC):
    """Dead letters held for this caller; whatever is not acknowledged goes back on exit."""

    messages: list[DeadLetterMessage]

    @abstractmethod
    def acknowledge(self, message_id: str) -> None:
        """Remove one held message from the dead-letter queue for good."""

    def keep_alive(self) -> None:  # noqa: B027 - optional: leases that can expire extend them
        """Extend the hold on the messages still held (a long replay)."""


class DeadLetterInbox(ABC):
    """The dead-letter subscription kept for inspection."""

    @abstractmethod
    def lease(self) -> AbstractContextManager[Lease]:
        """Hold every message now in the queue; unacknowledged ones are released on exit."""


class Stoppable(Protocol):
    """A running consumer: why it failed (if it did), and how to stop it."""

    error: BaseException | None

    def stop(self) -> None: ...


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
