"""Phase 2 <-> Phase 3 consistency dirt (tests/fixtures/dirt_consistency.py) on the BigQuery API
emulator through the real client: the same corpus and end state the unit tier checks on DuckDB,
so the sanity facts' SQL runs on both."""

from __future__ import annotations

from tests.fixtures import dirt_consistency
from tests.integration.emulated import new_project
from tests.integration.test_bigquery_lineage import filled


def test_dirty_phase2_is_reported_or_refused_alone_and_orphans_are_removed(
        bigquery_emulator: str) -> None:
    app = filled(new_project("dirt"), bigquery_emulator)
    kept = dirt_consistency.plant(app)
    dirt_consistency.assert_detected(app)
    dirt_consistency.assert_cycle_ends_consistent(app, kept)
