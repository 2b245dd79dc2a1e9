"""A bench-only processor shaped like a BigQuery job: it waits 200 ms per date, then writes.

Its compute waits while the warehouse itself answers instantly (plain DuckDB): the row it serves
shows what Backfill adds to a date whose work is waiting, not what round trips cost (the
latency-bound rows do that, bench/latency.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import date

from backfill.domain.games import GameKey
from backfill.domain.schedule import Schedule
from backfill.domain.tables import TableRef, schema
from backfill.processors.base import GameInput, Produced, Row
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

WAIT_SECONDS = 0.2
NAME = "bench_io_bound"


class IOBoundProcessor(UpcomingTeamGameContext):
    """One row per scheduled game of the date, after waiting as a remote job would (the
    context's reading of the schedule, without its lookback)."""

    name = NAME
    target = TableRef("bench", "io_bound_game_summary")
    schema = schema(game_id="STRING", game_date="DATE")
    version: str | None = None  # type: ignore[assignment]
    source_lookback_days = 0
    rows_per_source_row = 1

    def produce(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]], schedule: Schedule,
                held_upstream: Mapping[GameKey, str] | None = None) -> Produced:
        """Wait once for the date, then compute its games."""
        time.sleep(WAIT_SECONDS)
        return super().produce(game_date, source_rows, upstream, schedule, held_upstream)

    def compute_game(self, game: GameInput) -> list[Row]:
        (today,) = Schedule.from_rows(game.rows).games
        return [{"game_id": today.date_based_id, "game_date": game.game_date}]


PROCESSORS_TOML = f"""[[processor]]
name = "{NAME}"
class = "bench.io_bound:IOBoundProcessor"
"""
