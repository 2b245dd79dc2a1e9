"""One detection, the chain does the rest: roots published with their followers, each level
published by the worker that wrote the one above, counted under the run; in-process on DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
from backfill.bootstrap import Backfill
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason
from backfill.domain.runs import PUBLISHED
from backfill.ports import Delivery, Read, Replace
from backfill.service.audit import read_history
from backfill.service.detect import detect
from backfill.service.ledger import append, log_rows, run_rows
from backfill.service.runs import find_run, run_progress

from tests.fixtures.changes import WINDOW, candidates, deliver
from tests.unit.fakes import RecordingQueue

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


def test_what_workers_publish_under_a_run_is_counted_from_their_audit_rows_alone(
        filled_app: Backfill) -> None:
    """A redelivered root publishes its follower again (a request of its own to end): the
    run counts both, while the root, audited twice, ended once; no delivery writes the runs
    table, its follow-ups ride the audit row it leaves anyway."""
    empty(filled_app, OFFENSE, PLAYERS)
    report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops,
                    filled_app.queue, WINDOW)
    assert isinstance(filled_app.queue, RecordingQueue)
    (root,) = filled_app.queue.published
    filled_app.queue.published.clear()
    worker = filled_app.worker()
    first, again = (worker.handle(Delivery(root.encode(), root.attributes(), attempt, "m-1"))
                    for attempt in (1, 2))
    assert (first.outcome, again.outcome) == (Outcome.SUCCEEDED, Outcome.SKIPPED)
    assert [r.processor for r in (*first.published, *again.published)] == [PLAYERS, PLAYERS]
    now = datetime.now(UTC)
    run = find_run(filled_app.warehouse, filled_app.ops, report.run_id, now=now)

    def counts() -> dict[str, tuple[int, int, int]]:
        found = run_progress(filled_app.warehouse, filled_app.ops, run,
                             now=datetime.now(UTC), stall_after=timedelta(hours=1))
        assert all(p.published == sum(p.ended.values()) + p.outstanding
                   for p in found.processors)
        return {p.name: (p.published, sum(p.ended.values()), p.outstanding)
                for p in found.processors}

    assert counts() == {OFFENSE: (1, 1, 0), PLAYERS: (2, 0, 2)}
    deliver(filled_app, worker)  # both player requests: one fills the date, one skips
    assert counts() == {OFFENSE: (1, 1, 0), PLAYERS: (2, 2, 0)}
    # The audit subscription writes a row twice now and then (at least once): still done.
    audited = read_history(filled_app.warehouse, filled_app.ops, since=now - timedelta(days=1),
                           until=now + timedelta(days=1), run_id=report.run_id)
    append(filled_app.warehouse, [log_rows(filled_app.ops, [
        r for r in audited if r["published_by_processor"]][:1])])
    assert counts() == {OFFENSE: (1, 1, 0), PLAYERS: (2, 2, 0)}
    events = filled_app.warehouse.read_rows(Read(
        filled_app.ops.runs, now - timedelta(days=1), now + timedelta(days=1), by="recorded_at",
        equals=(("run_id", report.run_id),)))
    assert [e["event"] for e in events] == ["started"]
    assert sorted((r["processor"], r["outcome"], r["published_by_processor"] or "")
                  for r in audited) == sorted([
        (OFFENSE, "succeeded", '{"player_game_summary": 1}'),
        (OFFENSE, "skipped", '{"player_game_summary": 1}'),
        (PLAYERS, "succeeded", ""), (PLAYERS, "skipped", "")])
    # A worker of an earlier version said what it published with a `published` event of the
    # run instead (and no column): a run in flight across the upgrade still counts it.
    append(filled_app.warehouse, [run_rows(filled_app.ops, [{
        "run_id": report.run_id, "event": PUBLISHED, "trigger": None, "started_by": None,
        "window_start": None, "window_end": None, "processors": None, "found": None,
        "published": 1, "deferred": None,
        "published_by_processor": '{"player_game_summary": 1}', "started_at": None,
        "recorded_at": now}])])
    run = find_run(filled_app.warehouse, filled_app.ops, report.run_id, now=now)
    assert counts() == {OFFENSE: (1, 1, 0), PLAYERS: (3, 2, 1)}


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
