"""One detection, the chain does the rest: roots published with their followers, each level
published by the worker that wrote the one above, counted under the run; in-process on DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
from backfill.bootstrap import Backfill
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason
from backfill.ports import Replace
from backfill.service.detect import detect
from backfill.service.runs import find_run, run_progress

from tests.fixtures.changes import WINDOW, candidates, deliver

DAY = date(2025, 1, 14)
OFFENSE, PLAYERS = "team_offense_game_summary", "player_game_summary"


def empty(app: Backfill, *names: str) -> None:
    for name in names:
        p = app.registry.get(name)
        app.warehouse.write([Replace(p.target, DAY, DAY, [], p.table_schema())])


def test_a_dependent_behind_its_upstream_rides_on_it_and_one_detection_fills_both(
        filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE, PLAYERS)
    report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops,
                    filled_app.queue, WINDOW)
    (root,) = report.published
    assert (root.processor, [f.processor for f in root.followers]) == (OFFENSE, [PLAYERS])
    players = next(p for p in report.processors if p.name == PLAYERS).as_dict()
    [pending] = players["pending_upstream"]
    assert (pending["game_date"], pending["upstream"], pending["reason"]) == (
        DAY.isoformat(), OFFENSE, "missing")
    assert pending["game_ids"]

    results = deliver(filled_app)
    assert [(r.request.processor, r.outcome) for r in results if r.request] == [
        (OFFENSE, Outcome.SUCCEEDED), (PLAYERS, Outcome.SUCCEEDED)]  # no wait, no retry
    chained = results[1].request
    assert chained is not None
    assert (chained.run_id, chained.reason, chained.depth) == (report.run_id, Reason.MISSING, 1)
    assert candidates(filled_app) == set()
    now = datetime.now(UTC)
    run = find_run(filled_app.warehouse, filled_app.ops, report.run_id, now=now)
    progress = run_progress(filled_app.warehouse, filled_app.ops, run, now=now,
                            stall_after=timedelta(hours=1))
    assert {p.name: (p.published, p.outstanding) for p in progress.processors} == {
        OFFENSE: (1, 0), PLAYERS: (1, 0)}  # the chained request, counted under its run


def test_a_warm_detector_whose_target_table_was_dropped_reports_it_missing(
        filled_app: Backfill) -> None:
    assert candidates(filled_app) == set()  # every table described, and kept so
    target = filled_app.registry.get(OFFENSE).target
    filled_app.warehouse.close()
    with duckdb.connect(filled_app.warehouse.url.removeprefix("duckdb://")) as con:
        con.execute(f"DROP TABLE {target}")
    report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops, None, WINDOW)
    assert not report.failed
    offense = next(p for p in report.processors if p.name == OFFENSE)
    assert offense.candidates and {c.reason for c in offense.candidates} == {Reason.MISSING}
