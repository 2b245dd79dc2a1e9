"""A latency-bound warehouse: the DuckDB adapter behind a fixed delay per call, as on BigQuery;
and the audit topic a deployed worker publishes to, behind a delay of its own.

On BigQuery a query costs about a second however small it is; here every warehouse call waits
`delay` seconds (default 0.25, `BENCH_LATENCY_SECONDS`) before DuckDB answers it. The wrapper says
`latency_bound = True`, so the worker issues its independent reads at once (service/reads.py), as
it does on BigQuery. It also keeps what BigQuery's adapter keeps per process: the tables described
so far. A describe of a known table costs nothing, and, as BigQuery's `_require_partitioned` does,
a read, scan or replacement of a table not yet described costs a describe round first.

The audit topic (`LatencyAuditTopic`) waits `BENCH_PUBSUB_SECONDS` (default 0.03) per publish,
what a confirmed Pub/Sub publish costs; it is not a warehouse call, so it is in no round.

Counting rounds: every call that waits is logged with its start and end. Calls whose intervals
overlap are one round (they were in flight together); a call that starts after every earlier one
has ended starts a new round. That is the number of sequential round trips on the path that made
the calls, as long as the calls logged are that path's alone. The bookkeeping is kept simple:

- the round-trip rows hand the worker one delivery at a time, so every call logged between the
  start and the end of `Worker.handle` belongs to that delivery (`Ledger.between`);
- each `scoped()` copy logs under a scope of its own, and the worker scopes the warehouse once per
  delivery attempt (service/work.py), so under concurrency an attempt's gather-and-write path is
  its scope's calls (`Ledger.by_scope`); the audit flush scopes a copy of its own.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from backfill.domain.deadline import Deadline
from backfill.domain.errors import TableNotFound
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableInfo, TableRef
from backfill.ports import AuditTopic, Change, Read, Replace, Row, Scan, Warehouse

DEFAULT_DELAY_SECONDS = 0.25
# A Pub/Sub publish, confirmed: tens of milliseconds (BENCH_PUBSUB_SECONDS).
DEFAULT_PUBLISH_SECONDS = 0.03
T = TypeVar("T")


def delay_from_environment(default: float = DEFAULT_DELAY_SECONDS) -> float:
    return float(os.environ.get("BENCH_LATENCY_SECONDS", default))


def publish_delay_from_environment(default: float = DEFAULT_PUBLISH_SECONDS) -> float:
    return float(os.environ.get("BENCH_PUBSUB_SECONDS", default))


class LatencyAuditTopic(AuditTopic):
    """The audit topic as a deployed worker publishes to it: each publish (a delivery's rows go
    in one batch, one Publish call) waits `delay` before it is confirmed. Not a warehouse call:
    it counts in no round, only in the time the delivery takes. The rows are counted, not kept
    (the BigQuery subscription writes them, off the delivery's path)."""

    def __init__(self, delay: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay = publish_delay_from_environment() if delay is None else delay
        self.publishes = 0
        self.rows = 0
        self._sleep = sleep
        self._lock = threading.Lock()

    def publish(self, rows: Sequence[Row], deadline: Deadline | None = None) -> None:
        self._sleep(self.delay)
        with self._lock:
            self.publishes += 1
            self.rows += len(rows)


@dataclass(frozen=True)
class Call:
    """One warehouse call that waited out the delay."""

    kind: str          # describe, scan_together, read_rows, write, create_table
    table: str
    scope: int         # the scoped() copy that made it (0: the unscoped warehouse)
    labels: tuple[tuple[str, str], ...]
    start: float
    end: float


def rounds(calls: Iterable[Call]) -> int:
    """Sequential rounds: overlapping calls merged into one, counted in order of start."""
    count, reach = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.start):
        if call.start >= reach:
            count += 1
            reach = call.end
        else:
            reach = max(reach, call.end)
    return count


@dataclass
class Ledger:
    """Every waiting call of one wrapper and all its scoped copies, and the describe cache they
    share (BigQuery keeps one per process: every scoped copy shares its `_Shared`)."""

    calls: list[Call] = field(default_factory=list)
    cached_describes: int = 0
    described: dict[TableRef, TableInfo] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _scopes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def log(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def new_scope(self) -> int:
        with self._lock:
            return next(self._scopes)

    def between(self, start: float, end: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.start >= start and c.end <= end]

    def by_scope(self, labelled_only: bool = True) -> dict[int, list[Call]]:
        """Calls grouped by the scoped copy that made them (only the worker's, which label
        their jobs with the processor, when `labelled_only`)."""
        grouped: dict[int, list[Call]] = {}
        with self._lock:
            for call in self.calls:
                if call.scope and (call.labels or not labelled_only):
                    grouped.setdefault(call.scope, []).append(call)
        return grouped

    def count(self) -> int:
        with self._lock:
            return len(self.calls)


class LatencyWarehouse(Warehouse):
    """`inner` (a DuckDB warehouse) with every call delayed; see the module's docstring."""

    latency_bound = True

    def __init__(self, inner: Warehouse, delay: float | None = None,
                 ledger: Ledger | None = None, scope: int = 0,
                 labels: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 latency_bound: bool = True) -> None:
        self.inner = inner
        # False makes this a counting wrapper (with no delay: plain DuckDB, reads in sequence).
        self.latency_bound = latency_bound
        self.url = inner.url
        self.delay = delay_from_environment() if delay is None else delay
        self.ledger = ledger or Ledger()
        self.scope = scope
        self.labels = tuple(sorted((labels or {}).items()))
        self._sleep = sleep
        self._clock = clock

    # -- the port ---------------------------------------------------------------------------------

    def describe(self, table: TableRef) -> TableInfo | None:
        known = self.ledger.described.get(table)
        if known is not None:
            with self.ledger._lock:
                self.ledger.cached_describes += 1
            return known
        return self._described(table)

    def scan_together(self, scans: Sequence[Scan]) -> list[list[GameStat]]:
        for scan in scans:
            self._known(scan.table)
        return self._timed("scan_together", ",".join(str(s.table) for s in scans),
                           lambda: self.inner.scan_together(scans))

    def read_rows(self, read: Read) -> list[Row]:
        self._known(read.table)
        return self._timed("read_rows", read.table, lambda: self.inner.read_rows(read))

    def write(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        # BigQuery runs a write's statements at once: one round, after describing (at once too)
        # the replaced tables it does not know yet.
        unknown = {c.table for c in changes if isinstance(c, Replace)} - set(self.ledger.described)
        if unknown:
            self._describe_together(sorted(unknown))
        self._timed("write", ",".join(sorted({str(c.table) for c in changes})),
                    lambda: self.inner.write(changes))

    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        self.ledger.described.pop(table, None)
        self._timed("create_table", table,
                    lambda: self.inner.create_table(table, columns, partitioned_by))

    def scoped(self, deadline: Deadline | None = None,
               labels: Mapping[str, str] | None = None) -> LatencyWarehouse:
        return LatencyWarehouse(self.inner.scoped(deadline, labels), self.delay, self.ledger,
                                self.ledger.new_scope(), {**dict(self.labels), **(labels or {})},
                                self._sleep, self._clock, self.latency_bound)

    def close(self) -> None:
        self.inner.close()

    def warm(self, tables: Iterable[TableRef]) -> None:
        """Describe `tables` without waiting, as a process that has been working a while has
        (the rows compare steady states; a cold process's extra round is measured apart)."""
        for table in tables:
            info = self.inner.describe(table)
            if info is not None:
                self.ledger.described[table] = info

    # -- the model --------------------------------------------------------------------------------

    def _described(self, table: TableRef) -> TableInfo | None:
        info = self._timed("describe", table, lambda: self.inner.describe(table))
        if info is not None:
            self.ledger.described[table] = info
        return info

    def _known(self, table: TableRef) -> None:
        """A query on a table BigQuery's adapter has not described yet describes it first."""
        if table not in self.ledger.described and self._described(table) is None:
            raise TableNotFound(f"table {table} does not exist in {self.url}")

    def _describe_together(self, tables: list[TableRef]) -> None:
        threads = [threading.Thread(target=self._described, args=(t,)) for t in tables]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _timed(self, kind: str, table: object, call: Callable[[], T]) -> T:
        start = self._clock()
        try:
            self._sleep(self.delay)
            return call()
        finally:
            self.ledger.log(Call(kind, str(table), self.scope, self.labels, start, self._clock()))
