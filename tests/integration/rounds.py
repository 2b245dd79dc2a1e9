"""Counting a delivery's round trips: which warehouse calls ran at once and which waited.

A round is one wave of calls that ran at once; a call belongs to the wave after the latest call
that had ended before it started. The number of waves is the number of sequential round trips
on the critical path (the issue's measure: on BigQuery each costs about a second however small).
`CountingWarehouse` records every port call with its start and end (its scoped copies too);
tests/bigquery_emulator/recorder.py records the HTTP calls behind them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from backfill.domain.deadline import Deadline
from backfill.domain.gaps import GameStat
from backfill.domain.tables import Schema, TableInfo, TableRef
from backfill.ports import Change, Read, Row, Scan, Warehouse

from tests.bigquery_emulator.recorder import Exchange


@dataclass(frozen=True)
class Call:
    """One call: what it was, on which table, when it started and ended (monotonic)."""

    name: str
    table: str
    start: float
    end: float


def waves(calls: Sequence[Call]) -> list[list[Call]]:
    """The calls grouped into sequential rounds: a call's round is one more than that of the
    latest-round call that ended before it started (calls that overlap share a round)."""
    level: dict[int, int] = {}
    ordered = sorted(range(len(calls)), key=lambda i: calls[i].start)
    for i in ordered:
        before = [level[j] for j in level if calls[j].end <= calls[i].start]
        level[i] = 1 + max(before, default=0)
    grouped: list[list[Call]] = [[] for _ in range(max(level.values(), default=0))]
    for i in ordered:
        grouped[level[i] - 1].append(calls[i])
    return grouped


@dataclass
class Log:
    """Every call made through a counting warehouse and its scoped copies."""

    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def since(self, mark: float) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.start >= mark]


class CountingWarehouse(Warehouse):
    """A warehouse that records each call it passes on (scoped copies record into the same log)."""

    def __init__(self, inner: Warehouse, log: Log | None = None) -> None:
        self.inner = inner
        self.log = log or Log()
        self.url = inner.url
        self.latency_bound = inner.latency_bound

    @contextmanager
    def _call(self, name: str, *tables: TableRef) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            with self.log.lock:
                self.log.calls.append(Call(name, ",".join(map(str, tables)), start,
                                           time.monotonic()))

    def describe(self, table: TableRef) -> TableInfo | None:
        with self._call("describe", table):
            return self.inner.describe(table)

    def scan_together(self, scans: Sequence[Scan]) -> list[list[GameStat]]:
        with self._call("scan_together", *(scan.table for scan in scans)):
            return self.inner.scan_together(scans)

    def read_rows(self, read: Read) -> list[Row]:
        with self._call("read_rows", read.table):
            return self.inner.read_rows(read)

    def write(self, changes: Sequence[Change]) -> None:
        with self._call("write", *(c.table for c in changes)):
            self.inner.write(changes)

    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        with self._call("create_table", table):
            self.inner.create_table(table, columns, partitioned_by)

    def scoped(self, deadline: Deadline | None = None,
               labels: Mapping[str, str] | None = None) -> CountingWarehouse:
        return CountingWarehouse(self.inner.scoped(deadline, labels), self.log)

    def close(self) -> None:
        self.inner.close()


def service_calls(exchanges: Sequence[Exchange]) -> list[Call]:
    """The HTTP exchanges as calls of the service: a job is one call from its jobs.insert to the
    last request about it (waiting for it, fetching its rows, cancelling it); every other
    request (tables.get, tabledata.insertAll, ...) is a call of its own. A job's `name` is its
    statement's first word (SELECT, MERGE, DELETE; WITH reads as SELECT)."""
    jobs: dict[str, list[Exchange]] = {}
    calls: list[Call] = []
    for exchange in exchanges:
        if exchange.job_id is not None:
            jobs.setdefault(exchange.job_id, []).append(exchange)
        else:
            calls.append(Call(exchange.kind, exchange.path.rsplit("/", 2)[-2]
                              if exchange.kind == "tabledata.insertAll"
                              else exchange.path.rsplit("/", 1)[-1],
                              exchange.start, exchange.end))
    for job in jobs.values():
        inserted = next((e for e in job if e.kind == "jobs.insert"), None)
        sql = inserted.body["configuration"]["query"]["query"] if inserted else "?"
        word = sql.split(None, 1)[0].upper()
        # A read with common table expressions (rows with their fingerprints) is a SELECT.
        calls.append(Call("SELECT" if word == "WITH" else word, sql, min(e.start for e in job),
                          max(e.end for e in job)))
    return sorted(calls, key=lambda c: c.start)
