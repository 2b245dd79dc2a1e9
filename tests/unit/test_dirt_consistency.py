"""Phase 2 <-> Phase 3 consistency dirt (tests/fixtures/dirt_consistency.py) on DuckDB: each kind
reported with its reason or refused alone, the dates around it written, nothing deleted
unreported, nothing published twice."""

from __future__ import annotations

from backfill.bootstrap import Backfill

from tests.fixtures import dirt_consistency


def test_dirty_phase2_is_reported_or_refused_alone_and_orphans_are_removed(
        filled_app: Backfill) -> None:
    kept = dirt_consistency.plant(filled_app)
    dirt_consistency.assert_detected(filled_app)
    dirt_consistency.assert_cycle_ends_consistent(filled_app, kept)
