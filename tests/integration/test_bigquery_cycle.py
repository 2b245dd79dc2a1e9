"""The real-shapes cycle on BigQuery (the API emulator, the real client), side by side with the
same fixture on DuckDB in the same test: detection finds exactly the gaps DuckDB finds, the
worker closes them, creating the missing Phase 3 tables partitioned by game_date, both write
the same rows, and the next detection is clean on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backfill.bootstrap import Backfill
from backfill.domain.fingerprint import INPUTS, ROW_HASH
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Read
from backfill.service.audit import read_history
from backfill.service.detect import detect, find_gaps

from tests.fixtures import real_shapes
from tests.fixtures.changes import deliver
from tests.integration.emulated import (
    client,
    load_phase2,
    loader,
    make_app,
    new_project,
    settings_for,
)

WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)


def gaps(app: Backfill) -> list[dict[str, Any]]:
    """Every processor's report, as the detector would print it."""
    return [result.as_dict() for result in find_gaps(app.warehouse, app.registry, app.ops,
                                                     WINDOW)]


def phase3(app: Backfill) -> dict[str, list[str]]:
    """Every Phase 3 value; not the fingerprints and hashes, each engine's own hash function."""
    return {p.name: sorted(repr(sorted((k, v) for k, v in r.items() if k not in _HASHES))
                           for r in app.warehouse.read_rows(
        Read(p.target, WINDOW.start, WINDOW.end))) for p in app.registry.ordered()}


_HASHES = {INPUTS, ROW_HASH}


def test_detection_finds_what_duckdb_finds_and_the_worker_closes_it(
        bigquery_emulator: str, tmp_path: Path) -> None:
    started = datetime.now(UTC)
    project = new_project("cycle")
    load_phase2(loader(project, bigquery_emulator))
    bigquery = make_app(settings_for(project, bigquery_emulator))  # bootstrap builds it
    duck_path = tmp_path / "same.duckdb"
    load_phase2(DuckDBWarehouse(duck_path))
    duckdb = make_app(settings_for(project, bigquery_emulator,
                                   warehouse=f"duckdb://{duck_path}"))
    assert bigquery.warehouse.url == f"bigquery://{project}"
    for table in real_shapes.SCHEMAS:
        info = bigquery.warehouse.describe(table)
        assert info is not None and info.partitioned_by == "game_date", table
    # No Phase 3 table yet: a processor deployed after months of Phase 2.
    assert all(bigquery.warehouse.describe(p.target) is None for p in bigquery.registry.ordered())

    found = gaps(bigquery)
    assert found == gaps(duckdb)
    candidates = [c for p in found for c in p["candidates"]]
    assert {p["status"] for p in found} == {"ok"} and len(candidates) == 4 * 6
    assert {c["reason"] for c in candidates} == {"missing"}

    for app in (bigquery, duckdb):
        report = detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW)
        # The players ride on the team offense's requests; its workers publish them.
        assert len(report.published) == 3 * 6 and not report.failed
        results = deliver(app)
        assert [(r.outcome.value, r.error) for r in results] == [("succeeded", None)] * 24

    plain = client(project, bigquery_emulator)
    for processor in bigquery.registry.ordered():
        # Created on the first write, as Terraform would have: partitioned, clustered.
        made = plain.get_table(f"{project}.{processor.target}")
        assert made.time_partitioning is not None, processor.target
        assert (made.time_partitioning.field, made.clustering_fields) == ("game_date",
                                                                          ["game_id"])
    assert phase3(bigquery) == phase3(duckdb)
    again = gaps(bigquery)
    assert again == gaps(duckdb)
    assert all(not p["candidates"] and not p["waiting"] and p["status"] == "ok" for p in again)
    audited = read_history(bigquery.warehouse, bigquery.ops, since=started,
                           until=datetime.now(UTC) + timedelta(minutes=1))
    assert sorted(r["outcome"] for r in audited) == ["succeeded"] * 24
    assert all(r["logged_at"].tzinfo is not None for r in audited)
