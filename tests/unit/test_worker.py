"""The worker's whole outcome matrix, in-process: a real DuckDB file, Pub/Sub faked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from backfill.bootstrap import Backfill
from backfill.domain.errors import PermanentError, TransientError
from backfill.domain.outcome import Outcome
from backfill.domain.request import Follower, Reason, Request
from backfill.domain.runs import cancel_row
from backfill.ports import Change, Delivery, Read, Replace, Row, Warehouse
from backfill.service.audit import AuditLog, read_history
from backfill.service.ledger import append, run_rows
from backfill.service.work import WorkResult

from tests.integration.rounds import CountingWarehouse
from tests.unit.conftest import make_app
from tests.unit.fakes import FlakyWarehouse, RecordingQueue

DAY = date(2025, 1, 14)
OFFENSE, PLAYERS = "team_offense_game_summary", "player_game_summary"
NOW = datetime.now(UTC)


def handle(app: Backfill, request: Request | bytes, *, attempt: int | None = None,
           **worker: Any) -> WorkResult:
    handler = app.worker()
    handler.sleep = lambda _: None
    for key, value in worker.items():
        setattr(handler, key, value)
    body = request if isinstance(request, bytes) else request.encode()
    return handler.handle(Delivery(body, {}, attempt, "m-1"))


def empty(app: Backfill, processor: str, day: date = DAY) -> None:
    p = app.registry.get(processor)
    app.warehouse.write([Replace(p.target, day, day, [], p.table_schema())])


def audited(app: Backfill) -> list[dict[str, Any]]:
    """The audit rows this test left (the filled warehouse has those of its filling)."""
    return read_history(app.warehouse, app.ops, since=STARTED[0],
                        until=datetime.now(UTC) + timedelta(minutes=1))


STARTED = [NOW]


@pytest.fixture(autouse=True)
def _started() -> None:
    STARTED[0] = datetime.now(UTC)


def queue(app: Backfill) -> RecordingQueue:
    return cast(RecordingQueue, app.queue)


def test_a_missing_date_succeeds_and_leaves_its_audit_row(filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY, reason=Reason.MISSING,
                                        detection_run_id="run-a"))
    assert (result.outcome, result.rows_written, result.games_written) == (
        Outcome.SUCCEEDED, 4, 2)
    assert result.detail == "missing: 2 games"
    (row,) = audited(filled_app)
    assert (row["outcome"], row["run_id"], row["rows_written"], row["detail"]) == (
        "succeeded", "run-a", 4, "missing: 2 games")


def test_a_complete_date_is_skipped_unless_forced(filled_app: Backfill) -> None:
    assert handle(filled_app, Request(processor=OFFENSE, game_date=DAY)).outcome is \
        Outcome.SKIPPED
    forced = handle(filled_app, Request(processor=OFFENSE, game_date=DAY, force=True))
    assert forced.outcome is Outcome.SUCCEEDED and forced.detail == "forced"


def test_a_dependency_with_a_gap_makes_the_request_wait_then_give_up_on_its_last_chance(
        filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    empty(filled_app, PLAYERS)
    request = Request(processor=PLAYERS, game_date=DAY)
    waiting = handle(filled_app, request, attempt=3)
    assert waiting.outcome is Outcome.RETRY and not waiting.outcome.acknowledged
    assert waiting.error == f"{OFFENSE} is missing for {DAY} (2 games)"
    assert not queue(filled_app).dead_letters and not audited(filled_app)
    last = handle(filled_app, request, attempt=filled_app.settings.max_delivery_attempts)
    assert last.outcome is Outcome.DEAD_LETTERED and last.error_type == "DependencyNotReady"
    assert "gave up on the last delivery attempt" in (last.error or "")
    (body, attributes) = queue(filled_app).dead_letters[-1]
    assert attributes["error_type"] == "DependencyNotReady" and body == request.encode()


def test_a_waiting_request_gives_up_by_its_age_not_by_delivery_attempts(
        filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    empty(filled_app, PLAYERS)
    old = Request(processor=PLAYERS, game_date=DAY,
                  requested_at=datetime.now(UTC) - timedelta(hours=3))
    result = handle(filled_app, old, attempt=2)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert "after waiting 3h00m (limit 2h00m)" in (result.error or "")


@pytest.mark.parametrize(("body", "kind", "problem"), [
    (b'{"processor": "player_game_summary"}', "InvalidRequest", "missing field 'game_date'"),
    (b'{"processor": "nope", "game_date": "2025-01-14"}', "InvalidRequest",
     "unknown processor 'nope'"),
    (b"\xff", "InvalidRequest", "not UTF-8"),
])
def test_a_malformed_request_is_dead_lettered_at_once_with_its_reason(
        filled_app: Backfill, body: bytes, kind: str, problem: str) -> None:
    result = handle(filled_app, body)
    assert (result.outcome, result.error_type, result.attempts) == (Outcome.DEAD_LETTERED, kind,
                                                                   1)
    assert problem in (result.error or "")
    (dead_body, attributes) = queue(filled_app).dead_letters[-1]
    assert dead_body == body and attributes["error_type"] == kind
    assert [r["outcome"] for r in audited(filled_app)] == ["dead_lettered"]


def test_a_push_envelope_that_cannot_be_read_is_dead_lettered_as_it_came(
        filled_app: Backfill) -> None:
    handler = filled_app.worker()
    result = handler.handle(Delivery(b"<html>", problem="push envelope is not JSON"))
    assert (result.outcome, result.error_type) == (Outcome.DEAD_LETTERED, "InvalidEnvelope")
    assert queue(filled_app).dead_letters[-1][0] == b"<html>"


def test_a_dead_letter_that_cannot_be_published_is_not_acknowledged_nor_audited(
        filled_app: Backfill) -> None:
    queue(filled_app).fail_dead_letter = True
    with pytest.raises(TransientError, match="dead-letter topic is down"):
        handle(filled_app, b"{}")
    assert not audited(filled_app)


def test_transient_failures_are_retried_and_a_recovered_write_succeeds(
        filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    flaky = FlakyWarehouse(filled_app.warehouse, TransientError("rate limited"), failures=2)
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY),
                    warehouse=cast(Warehouse, flaky))
    assert (result.outcome, result.attempts) == (Outcome.SUCCEEDED, 3)
    assert [f.text for f in result.failures] == ["TransientError: rate limited"] * 2
    assert [r["outcome"] for r in audited(filled_app)].count("failed_attempt") == 2


def test_transient_failures_past_the_budget_are_dead_lettered_with_the_attempts_made(
        filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    flaky = FlakyWarehouse(filled_app.warehouse, TransientError("backend error"))
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY),
                    warehouse=cast(Warehouse, flaky))
    assert result.outcome is Outcome.DEAD_LETTERED and result.attempts == 8
    assert result.error == "retry budget exhausted after 8 attempts: backend error"


def test_a_permanent_error_is_dead_lettered_on_the_first_attempt(filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    flaky = FlakyWarehouse(filled_app.warehouse, PermanentError("access denied"))
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY),
                    warehouse=cast(Warehouse, flaky))
    assert (result.outcome, result.attempts, result.error) == (
        Outcome.DEAD_LETTERED, 1, "access denied")


def test_a_processor_crash_is_dead_lettered_once_as_a_crash(tmp_path: Path,
                                                           filled_template: Path) -> None:
    config = tmp_path / "processors.toml"
    config.write_text('[[processor]]\nname = "crashing"\nclass = "tests.unit.fakes:'
                      'CrashingProcessor"\ntarget = "nba_analytics.crashing"\n')
    path = tmp_path / "w.duckdb"
    path.write_bytes(filled_template.read_bytes())
    app = make_app(path, processors_file=str(config))
    result = handle(app, Request(processor="crashing", game_date=DAY))
    assert (result.outcome, result.error_type, result.attempts) == (
        Outcome.DEAD_LETTERED, "ProcessorCrash", 1)
    assert result.error == "ZeroDivisionError: division by zero"
    app.close()


def test_a_cancelled_runs_requests_are_acknowledged_unrun(filled_app: Backfill) -> None:
    empty(filled_app, OFFENSE)
    append(filled_app.warehouse, [run_rows(filled_app.ops, [cancel_row("run-c", "tester",
                                                                       datetime.now(UTC))])])
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY,
                                        detection_run_id="run-c"))
    assert result.outcome is Outcome.CANCELLED and result.outcome.acknowledged
    assert not filled_app.warehouse.read_rows(Read(filled_app.registry.get(OFFENSE).target,
                                                   DAY, DAY))
    assert [r["outcome"] for r in audited(filled_app)] == ["cancelled"]


def test_a_hand_typed_request_is_filled_under_a_manual_run_of_its_own(
        filled_app: Backfill) -> None:
    from backfill.service.runs import latest_progress

    empty(filled_app, OFFENSE)
    result = handle(filled_app, b'{"processor": "team_offense_game_summary", '
                                b'"game_date": "2025-01-14"}')
    assert result.outcome is Outcome.SUCCEEDED and result.request is not None
    (found,) = latest_progress(filled_app.warehouse, filled_app.ops, since=STARTED[0],
                               now=datetime.now(UTC), stall_after=timedelta(hours=1))
    run = found.run
    assert run.run_id == result.request.run_id and run.trigger.value == "manual"
    # The games it added are new to the players: their request is counted under the same run.
    assert {p.name: (p.published, p.outstanding) for p in found.processors} == {
        OFFENSE: (1, 0), "player_game_summary": (1, 1)}
    assert audited(filled_app)[0]["run_id"] == run.run_id


class _MeetingWarehouse(FlakyWarehouse):
    """Each write waits for the other delivery's write to start: an instance that appended its
    audit rows one delivery at a time would never get there (a timing a real DuckDB cannot be
    made to show: its writes are quick)."""

    def __init__(self, real: Warehouse) -> None:
        super().__init__(real, TransientError("unused"), failures=0)
        self.meeting = threading.Barrier(2, timeout=5)

    def write(self, changes: Sequence[Change]) -> None:
        self.meeting.wait()
        super().write(changes)


def test_an_instance_serving_two_deliveries_appends_their_audit_rows_side_by_side(
        filled_app: Backfill) -> None:
    meeting = _MeetingWarehouse(filled_app.warehouse)
    audit = AuditLog(cast(Warehouse, meeting), filled_app.ops)
    results = [WorkResult(Outcome.SKIPPED, Request(processor=OFFENSE, game_date=DAY - timedelta(
        days=n), detection_run_id="run-a"), attempts=1) for n in range(2)]
    threads = [threading.Thread(target=audit.record, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert audit.write_failures == 0
    assert sorted(r["game_date"] for r in audited(filled_app)) == [DAY - timedelta(days=1), DAY]


def corrected(app: Backfill) -> Request:
    """PHI's turnovers of DAY corrected and re-processed: the team offense is stale."""
    from backfill.processors.nba_raw import TEAM_BOXSCORE

    from tests.fixtures.changes import correct_turnovers, edit_game
    edit_game(app, TEAM_BOXSCORE, DAY, "20250114_NYK_PHI", correct_turnovers("PHI"))
    return Request(processor=OFFENSE, game_date=DAY, reason=Reason.STALE,
                   detection_run_id="r-chain")


def test_a_write_that_changed_a_game_publishes_its_dependent_in_the_same_run(
        filled_app: Backfill) -> None:
    result = handle(filled_app, corrected(filled_app))
    assert result.outcome is Outcome.SUCCEEDED
    (follow,) = queue(filled_app).published
    assert (follow.processor, follow.game_date, follow.game_ids, follow.reason) == (
        PLAYERS, DAY, ("20250114_NYK_PHI",), Reason.UPSTREAM_CHANGED)
    assert (follow.run_id, follow.depth) == ("r-chain", 1)
    assert result.published == (follow,)
    assert handle(filled_app, follow).outcome is Outcome.SUCCEEDED
    # A write that changed nothing (recomputed to the same values) publishes nothing.
    again = handle(filled_app, Request(processor=OFFENSE, game_date=DAY, force=True))
    assert again.outcome is Outcome.SUCCEEDED and again.rows_written
    assert queue(filled_app).published == [follow]


def test_a_failed_publish_of_follow_ups_is_a_retry_and_the_redelivery_publishes_them(
        filled_app: Backfill) -> None:
    stale = corrected(filled_app)
    handler = filled_app.worker()
    queue(filled_app).fail_publish = True
    with pytest.raises(TransientError):
        handler.handle(Delivery(stale.encode(), {}, 1, "m-1"))
    assert audited(filled_app) == []  # not over: Pub/Sub delivers it again
    queue(filled_app).fail_publish = False
    redelivered = handler.handle(Delivery(stale.encode(), {}, 2, "m-1"))
    assert redelivered.outcome is Outcome.SKIPPED  # written the first time
    assert [r.processor for r in queue(filled_app).published] == [PLAYERS]


def without_box_score(app: Backfill, keep: Callable[[Row], bool]) -> None:
    """DAY's team box score with only the rows `keep` accepts, as a re-scrape may briefly be."""
    from backfill.processors.nba_raw import TEAM_BOXSCORE

    from tests.fixtures import real_shapes
    rows = app.warehouse.read_rows(Read(TEAM_BOXSCORE, DAY, DAY))
    app.warehouse.write([Replace(TEAM_BOXSCORE, DAY, DAY, [r for r in rows if keep(r)],
                                 real_shapes.SCHEMAS[TEAM_BOXSCORE])])


def test_a_recompute_keeps_a_scheduled_games_rows_while_its_phase2_rows_are_gone(
        filled_app: Backfill) -> None:
    target = filled_app.registry.get(OFFENSE).target

    def rows_of(game: str) -> list[Row]:
        return [r for r in filled_app.warehouse.read_rows(Read(target, DAY, DAY))
                if r["game_id"] == game]

    before = rows_of("20250114_NYK_PHI")
    without_box_score(filled_app, lambda r: r["game_id"] != "20250114_NYK_PHI")
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY, force=True))
    assert (result.outcome, result.games_written) == (Outcome.SUCCEEDED, 1)
    assert len(before) == 2 and rows_of("20250114_NYK_PHI") == before


def test_a_partial_write_publishes_no_follower_for_the_games_it_refused(
        filled_app: Backfill) -> None:
    without_box_score(filled_app, lambda r: (r["game_id"], r["team_abbr"]) != (
        "20250114_NYK_PHI", "PHI"))
    rider = Follower(processor=PLAYERS, reason=Reason.MISSING,
                     game_ids=("20250114_GSW_LAC", "20250114_PHI_NYK"))  # flipped: same game
    result = handle(filled_app, Request(processor=OFFENSE, game_date=DAY, force=True,
                                        followers=(rider,)))
    assert result.outcome is Outcome.PARTIAL and set(result.refused) == {"20250114_NYK_PHI"}
    (follow,) = queue(filled_app).published
    assert (follow.processor, follow.game_ids) == (PLAYERS, ("20250114_GSW_LAC",))


def test_a_request_further_down_a_chain_than_the_graph_allows_is_dead_lettered_as_a_bug(
        filled_app: Backfill) -> None:
    result = handle(filled_app, Request(processor=PLAYERS, game_date=DAY, depth=2))
    assert (result.outcome, result.error_type) == (Outcome.DEAD_LETTERED, "ChainTooDeep")
    assert queue(filled_app).dead_letters and not queue(filled_app).published


def test_a_warm_worker_whose_target_table_was_dropped_recreates_it_in_the_same_delivery(
        filled_app: Backfill) -> None:
    handler = filled_app.worker()
    skipped = handler.handle(Delivery(Request(processor=OFFENSE, game_date=DAY).encode()))
    assert skipped.outcome is Outcome.SKIPPED  # the table is described, and kept so
    target = filled_app.registry.get(OFFENSE).target
    filled_app.warehouse.close()
    import duckdb
    with duckdb.connect(filled_app.warehouse.url.removeprefix("duckdb://")) as con:
        con.execute(f"DROP TABLE {target}")
    result = handler.handle(Delivery(Request(processor=OFFENSE, game_date=DAY,
                                             reason=Reason.MISSING).encode()))
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.rows_written == len(filled_app.warehouse.read_rows(Read(target, DAY, DAY)))
    assert not queue(filled_app).dead_letters


def test_on_duckdb_a_skip_reads_no_rows_and_a_computation_reads_them_once_judged(
        filled_app: Backfill) -> None:
    """A DuckDB query is CPU work, mostly planning (a millisecond or more for a few rows): the
    rows to compute from are read only once the date is to be computed. (BigQuery reads them
    with the rest, in one round: tests/integration/test_bigquery_deliveries.py.)"""
    counting = CountingWarehouse(filled_app.warehouse)
    handler = filled_app.worker()
    handler.warehouse = counting
    offense = filled_app.registry.get(OFFENSE)
    source, target = str(offense.source), str(offense.target)

    skipped = handler.handle(Delivery(Request(processor=OFFENSE, game_date=DAY).encode()))
    calls = [(c.name, c.table) for c in counting.log.calls]
    assert skipped.outcome is Outcome.SKIPPED
    assert ("scan_together", f"{source},{target}") in calls  # both sides of the re-check, one query
    assert ("read_rows", source) not in calls and ("read_rows", target) not in calls

    empty(filled_app, OFFENSE)
    counting.log.calls.clear()
    filled = handler.handle(Delivery(Request(processor=OFFENSE, game_date=DAY,
                                             reason=Reason.MISSING).encode()))
    calls = [(c.name, c.table) for c in counting.log.calls]
    assert (filled.outcome, filled.rows_written) == (Outcome.SUCCEEDED, 4)
    judged = calls.index(("scan_together", f"{source},{target}"))
    assert calls.index(("read_rows", source)) > judged
    assert calls.index(("read_rows", target)) > judged
