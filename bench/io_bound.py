"""A bench-only processor shaped like a BigQuery job: it waits 200 ms per date, then writes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import date

from backfill.domain.tables import TableRef, schema
from backfill.processors.base import Processor, Row

WAIT_SECONDS = 0.2
NAME = "bench_io_bound"


class IOBoundProcessor(Processor):
    """One row per scheduled game of the date, after waiting as a remote job would."""

    name = NAME
    source = TableRef("nba_raw", "nbac_schedule")
    target = TableRef("bench", "io_bound_game_summary")
    schema = schema(game_id="STRING", game_date="DATE", source_processed_at="TIMESTAMP")

    def compute(self, game_date: date, source_rows: Sequence[Row],
                upstream: Mapping[str, Sequence[Row]]) -> list[Row]:
        """Wait, then one row per game of game_date."""
        time.sleep(WAIT_SECONDS)
        return [{"game_id": r["game_id"], "game_date": game_date} for r in source_rows]


PROCESSORS_TOML = f"""[[processor]]
name = "{NAME}"
class = "bench.io_bound:IOBoundProcessor"
"""
