"""Fault injection, for tests only: processors that fail on purpose, following a shared plan.

The plan is a JSON file named by BACKFILL_FAULT_PLAN; attempts are counted in a SQLite file next
to it, so "fails for the first k attempts" holds across redeliveries and worker processes.
Configure them through a processors file (`[[processor]] class = "tests.faults:FaultyTeamOffense"`)
with the repository root on PYTHONPATH. Without BACKFILL_FAULT_PLAN they behave like the built-ins.

Plan keys, each mapping "processor/YYYY-MM-DD" to a value:
- "transient": k, the first k attempts raise TransientError;
- "permanent": true, every attempt raises PermanentError;
- "sleep": seconds, computing the date takes that much longer (a slow processor);
- "slow_write": seconds, the DuckDB write sleeps that long after deleting the date's old rows,
  inside its transaction, having written the worker's pid to `<plan>.writing/<pid>` (to be
  killed there);
- "bad_write": true, the write fails half-way (a row of the wrong type after the delete).

Each date's attempt is counted once, when the worker has computed it (`Processor.produce`), so
the faults act between computing and writing, where the real ones strike.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from backfill.domain.errors import PermanentError, TransientError
from backfill.domain.games import GameKey
from backfill.domain.schedule import Schedule
from backfill.processors.base import Processor, Produced, Row
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

PLAN_VARIABLE = "BACKFILL_FAULT_PLAN"


class FaultPlan:
    """The plan file and its attempt counter, both shared by every process that names them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.faults: dict[str, dict[str, Any]] = json.loads(self.path.read_text())
        self.counter = self.path.with_suffix(".attempts.sqlite")
        self.writing = Path(f"{self.path}.writing")

    @classmethod
    def write(cls, path: Path, faults: Mapping[str, Mapping[str, Any]]) -> FaultPlan:
        path.write_text(json.dumps(faults))
        Path(f"{path}.writing").mkdir(exist_ok=True)
        with sqlite3.connect(path.with_suffix(".attempts.sqlite")) as db:
            db.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT PRIMARY KEY, n INTEGER)")
        return cls(path)

    def fault(self, kind: str, key: str) -> Any:
        return self.faults.get(kind, {}).get(key)

    def attempt(self, key: str) -> int:
        """Count one more attempt of `key` and return its number (1 for the first)."""
        with sqlite3.connect(self.counter, timeout=30, isolation_level=None) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO attempts VALUES (?, 1) "
                       "ON CONFLICT (key) DO UPDATE SET n = n + 1", (key,))
            (n,) = db.execute("SELECT n FROM attempts WHERE key = ?", (key,)).fetchone()
            db.execute("COMMIT")
        return int(n)

    def attempts(self) -> dict[str, int]:
        with sqlite3.connect(self.counter) as db:
            return dict(db.execute("SELECT key, n FROM attempts").fetchall())


class SlowRows(list[Row]):
    """Rows whose first iteration by the warehouse's insert pauses: the date's old rows are then
    deleted and the new ones not yet inserted, inside the write's transaction."""

    seconds: float = 0.0
    marker: Path | None = None
    paused: bool = False

    def __iter__(self) -> Iterator[Row]:
        if not self.paused and self.marker is not None and _inside("_insert"):
            self.paused = True
            self.marker.write_text(str(os.getpid()))
            time.sleep(self.seconds)
            self.marker.unlink(missing_ok=True)
        return super().__iter__()


def _inside(function: str, depth: int = 4) -> bool:
    """True when a caller up to `depth` frames up is `function` (a comprehension is a frame)."""
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


class FaultInjection(Processor):
    """Mix in before a processor class: computes the date like that class, then consults the
    plan (the attempt counted once per date, as the worker computes a date)."""

    def produce(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]], schedule: Schedule,
                held_upstream: Mapping[GameKey, str] | None = None) -> Produced:
        produced = super().produce(game_date, source_rows, upstream, schedule, held_upstream)
        path = os.environ.get(PLAN_VARIABLE)
        if not path:
            return produced
        plan, key = FaultPlan(path), f"{self.name}/{game_date.isoformat()}"
        attempt = plan.attempt(key)
        if plan.fault("sleep", key):
            time.sleep(float(plan.fault("sleep", key)))
        if plan.fault("permanent", key):
            raise PermanentError(f"injected permanent failure of {key}")
        if attempt <= int(plan.fault("transient", key) or 0):
            raise TransientError(f"injected transient failure of {key}, attempt {attempt}")
        if plan.fault("bad_write", key) and produced.rows:
            # After the delete, the insert meets a value of the wrong type and fails.
            number = next(c.name for c in self.schema if c.type in ("INT64", "FLOAT64"))
            produced.rows.append({**produced.rows[0], number: "not a number"})
        if plan.fault("slow_write", key):
            slow = SlowRows(produced.rows)
            slow.seconds = float(plan.fault("slow_write", key))
            slow.marker = plan.writing / str(os.getpid())
            produced.rows = slow
        return produced


class FaultyTeamOffense(FaultInjection, TeamOffenseGameSummary):
    """Team offense, with injected faults."""


class FaultyTeamDefense(FaultInjection, TeamDefenseGameSummary):
    """Team defense, with injected faults."""


class FaultyPlayerGameSummary(FaultInjection, PlayerGameSummary):
    """Player game summary, with injected faults."""


class FaultyUpcomingContext(FaultInjection, UpcomingTeamGameContext):
    """Upcoming team game context, with injected faults."""
