"""Conservation under chaos, short: two worker processes (`backfill worker`) pulling from the
emulator, injected transient and permanent faults, 10% of requests published twice, and two
workers SIGKILLed in the middle of a write (tests/chaos.py; `make soak` runs a whole season)."""

from __future__ import annotations

from pathlib import Path

from tests.chaos import KILLS, run_chaos
from tests.support import SEED_WINDOW


def test_every_request_is_filled_or_dead_lettered_exactly_as_planned(
        warehouse_path: Path, pubsub_emulator: str, tmp_path: Path) -> None:
    figures = run_chaos(warehouse_path, SEED_WINDOW, tmp_path, workers=2, timeout_seconds=180)
    print(f"chaos: {figures.line()}")
    assert figures.problems == []
    assert figures.kills == KILLS
    assert figures.requests >= 90
    assert figures.filled + figures.dead_lettered == figures.requests
    assert figures.dead_lettered >= 1
    assert (figures.lost, figures.duplicates) == (0, 0)
    assert figures.retries > 0 and figures.redeliveries >= KILLS
