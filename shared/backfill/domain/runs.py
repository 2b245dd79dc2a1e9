"""Runs: a pass that published requests (a detection, a publish, a replay, a release), as a
first-class object: what it started, how far it got, when it will end, whether it was cancelled.

The runs table is append-only: a `started` row when a pass publishes, a `cancelled` row when an
operator stops it. Progress is counted from the audit trail, request by request, so the counts
always add up: published = ended + outstanding. The next links of a chain a worker publishes
under the run (followers, changed dependents) are counted from the audit too: the delivery's
terminal row says what it published (`published_by_processor`), so recording them costs the
delivery no warehouse round trip of its own.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from backfill.domain.outcome import Outcome
from backfill.domain.tables import schema

STARTED, CANCELLED = "started", "cancelled"
# What workers appended for the follow-ups they published before their audit rows said it (read
# so a run in flight across the upgrade keeps its count; an old worker wrote this and no column,
# a new one the column and no event: never both).
PUBLISHED = "published"
# A request's run started at most this long before or after the request was made.
RUN_SEARCH_DAYS = 2
RUNS_SCHEMA = schema(run_id="STRING", event="STRING", trigger="STRING", started_by="STRING",
                     window_start="DATE", window_end="DATE", processors="STRING",
                     found="INT64", published="INT64", deferred="INT64",
                     published_by_processor="STRING", started_at="TIMESTAMP",
                     recorded_at="TIMESTAMP")
ENDED = (Outcome.SUCCEEDED, Outcome.SKIPPED, Outcome.PARTIAL, Outcome.DEAD_LETTERED,
         Outcome.CANCELLED)
TERMINAL = frozenset(o.value for o in ENDED)  # a delivery's last audit row, by its outcome


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class Trigger(StrEnum):
    SCHEDULED = "scheduled"  # the detector, called by Cloud Scheduler
    CLI = "cli"              # `backfill detect`, `backfill run`
    MANUAL = "manual"        # `backfill publish`, a quarantine release, a hand-typed message
    REPLAY = "replay"        # `backfill dlq replay`


@dataclass(frozen=True)
class Run:
    """What a pass started."""

    run_id: str
    trigger: Trigger
    started_by: str
    started_at: datetime
    # By processor, what the pass itself published (what its workers publish down the chain is
    # counted from their audit rows: progress()).
    published: Mapping[str, int] = field(default_factory=dict)
    found: int = 0
    deferred: int = 0
    window: tuple[date, date] | None = None
    processors: tuple[str, ...] = ()
    cancelled_at: datetime | None = None

    @property
    def total_published(self) -> int:
        return sum(self.published.values())

    def started_row(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "event": STARTED, "trigger": self.trigger.value,
                "started_by": self.started_by,
                "window_start": self.window[0] if self.window else None,
                "window_end": self.window[1] if self.window else None,
                "processors": json.dumps(list(self.processors)), "found": self.found,
                "published": self.total_published, "deferred": self.deferred,
                "published_by_processor": json.dumps(dict(sorted(self.published.items()))),
                "started_at": self.started_at, "recorded_at": self.started_at}


def cancel_row(run_id: str, by: str, at: datetime) -> dict[str, Any]:
    return {"run_id": run_id, "event": CANCELLED, "trigger": None, "started_by": by,
            "window_start": None, "window_end": None, "processors": None, "found": None,
            "published": None, "deferred": None, "published_by_processor": None,
            "started_at": None, "recorded_at": at}


def runs_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Runs from their events, newest first; a cancellation without its start is ignored."""
    started: dict[str, Run] = {}
    cancelled: dict[str, Mapping[str, Any]] = {}
    chained: dict[str, Counter[str]] = {}
    for row in rows:
        if row["event"] == STARTED:
            started[row["run_id"]] = Run(
                row["run_id"], Trigger(row["trigger"]), row.get("started_by") or "",
                row["started_at"], json.loads(row.get("published_by_processor") or "{}"),
                row.get("found") or 0, row.get("deferred") or 0,
                (row["window_start"], row["window_end"]) if row.get("window_start") else None,
                tuple(json.loads(row.get("processors") or "[]")))
        elif row["event"] == PUBLISHED:
            chained.setdefault(row["run_id"], Counter()).update(
                json.loads(row.get("published_by_processor") or "{}"))
        elif row["event"] == CANCELLED:
            first = cancelled.get(row["run_id"])
            if first is None or row["recorded_at"] < first["recorded_at"]:
                cancelled[row["run_id"]] = row
    runs = [replace(run, published=dict(Counter(run.published) + chained[run.run_id]))
            if run.run_id in chained else run for run in started.values()]
    runs = [replace(run, cancelled_at=cancelled[run.run_id]["recorded_at"])
            if run.run_id in cancelled else run for run in runs]
    return sorted(runs, key=lambda r: r.started_at, reverse=True)


@dataclass(frozen=True)
class ProcessorProgress:
    """One processor's requests of a run: published, how each ended, what is still out."""

    name: str
    published: int
    ended: Mapping[str, int]  # outcome -> requests
    quarantined: int  # games held in quarantine by its requests

    @property
    def outstanding(self) -> int:
        return max(0, self.published - sum(self.ended.values()))

    def as_dict(self) -> dict[str, Any]:
        return {"processor": self.name, "published": self.published,
                **{o.value: self.ended.get(o.value, 0) for o in ENDED},
                "quarantined": self.quarantined, "outstanding": self.outstanding}


@dataclass(frozen=True)
class RunProgress:
    """How far a run got: per processor, the pace over the last minutes, and an ETA."""

    run: Run
    processors: tuple[ProcessorProgress, ...]
    rate_per_minute: float
    last_ended_at: datetime | None
    now: datetime
    stall_after: timedelta

    @property
    def published(self) -> int:
        return sum(p.published for p in self.processors)

    @property
    def outstanding(self) -> int:
        return sum(p.outstanding for p in self.processors)

    @property
    def ended(self) -> int:
        return self.published - self.outstanding

    @property
    def eta(self) -> datetime | None:
        """When the outstanding requests should be done at the recent pace; None if unknown."""
        if not self.outstanding:
            return self.now
        if self.rate_per_minute <= 0:
            return None
        return self.now + timedelta(minutes=self.outstanding / self.rate_per_minute)

    @property
    def stalled(self) -> bool:
        """Requests are outstanding and none has ended for `stall_after` (nor since the start)."""
        moved = self.last_ended_at or self.run.started_at
        return (self.outstanding > 0 and self.run.cancelled_at is None
                and self.now - moved >= self.stall_after)

    @property
    def state(self) -> str:
        if self.run.cancelled_at is not None:
            return "cancelled" if self.outstanding else "cancelled, drained"
        if not self.outstanding:
            return "done"
        return "stalled" if self.stalled else "running"

    def as_dict(self) -> dict[str, Any]:
        run = self.run
        return {"run_id": run.run_id, "trigger": run.trigger.value, "started_by": run.started_by,
                "started_at": run.started_at.isoformat(),
                "window": ({"start_date": run.window[0].isoformat(),
                            "end_date": run.window[1].isoformat()} if run.window else None),
                "found": run.found, "deferred": run.deferred, "published": self.published,
                "ended": self.ended, "outstanding": self.outstanding, "state": self.state,
                "stalled": self.stalled, "rate_per_minute": round(self.rate_per_minute, 2),
                "eta": self.eta.isoformat() if self.eta else None,
                "cancelled_at": run.cancelled_at.isoformat() if run.cancelled_at else None,
                "processors": [p.as_dict() for p in self.processors]}


def progress(run: Run, audit_rows: Sequence[Mapping[str, Any]], *, now: datetime,
             rate_window: timedelta, stall_after: timedelta) -> RunProgress:
    """Count a run's requests from its audit rows: published, what its start published plus what
    every delivery published down the chain (a redelivery that published again did publish
    again: each is a request to end); ended, each request's newest terminal outcome. A row
    written twice (the audit subscription delivers at least once) changes neither."""
    published = Counter(run.published)
    deliveries: set[tuple[str, datetime]] = set()  # a delivery's terminal row: request, time
    final: dict[str, Mapping[str, Any]] = {}
    for row in audit_rows:
        if row.get("outcome") not in TERMINAL or not row.get("request_id"):
            continue  # a message too malformed to name its request published nothing
        if (row["request_id"], row["logged_at"]) not in deliveries:
            deliveries.add((row["request_id"], row["logged_at"]))
            published.update(json.loads(row.get("published_by_processor") or "{}"))
        seen = final.get(row["request_id"])
        if seen is None or row["logged_at"] >= seen["logged_at"]:
            final[row["request_id"]] = row
    ended: dict[str, Counter[str]] = {}
    quarantined: Counter[str] = Counter()
    for row in final.values():
        ended.setdefault(row["processor"], Counter())[row["outcome"]] += 1
        quarantined[row["processor"]] += row.get("games_refused") or 0
    names = sorted(set(published) | set(ended))
    recent = [r for r in final.values() if r["logged_at"] >= now - rate_window]
    last = max((r["logged_at"] for r in final.values()), default=None)
    return RunProgress(
        run, tuple(ProcessorProgress(n, published[n], dict(ended.get(n, {})),
                                     quarantined[n]) for n in names),
        len(recent) / (rate_window.total_seconds() / 60), last, now, stall_after)
