"""What one delivery costs on BigQuery, and how it ends when BigQuery is too slow for its budget.

Rounds are sequential round trips (tests/integration/rounds.py), counted twice: on the port (a
counting warehouse around the BigQuery adapter the worker uses) and on the wire (the recorder
proxy between the real client and the emulator: a job is one call from its jobs.insert to its
last poll). The goal (issue 15): once a process has described its tables, a fresh gap costs one
round of reads, one write, then the audit insert; a skip one round of reads, then the audit.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from backfill.bootstrap import Backfill
from backfill.domain.outcome import Outcome
from backfill.domain.plan import follow_ups
from backfill.domain.request import Reason, Request
from backfill.domain.tables import TableRef, schema
from backfill.domain.window import Window
from backfill.ports import Append, Delivery, Replace
from backfill.service.audit import read_history
from backfill.service.detect import detect
from backfill.service.work import WorkResult

from tests.bigquery_emulator.recorder import Recorder, recording
from tests.fixtures import real_shapes
from tests.integration.emulated import (
    create_ops_tables,
    load_phase2,
    loader,
    make_app,
    new_project,
    settings_for,
)
from tests.integration.rounds import CountingWarehouse, service_calls, waves
from tests.unit.fakes import RecordingQueue

FIRST_DAY, NEXT_DAY = date(2025, 1, 10), date(2025, 1, 11)


def delivered(app: Backfill, counting: CountingWarehouse, recorder: Recorder,
              request: Request) -> tuple[WorkResult, list[list[str]], list[list[str]], int]:
    """Deliver one request; what it cost: the port's rounds (describes left out: the wire
    shows whether they reached BigQuery), the wire's rounds, and the number of jobs."""
    mark = time.monotonic()
    result = app.worker().handle(Delivery(request.encode(), request.attributes()))
    port = [[f"{c.name} {c.table}" for c in wave]
            for wave in waves([c for c in counting.log.since(mark) if c.name != "describe"])]
    calls = service_calls(recorder.since(mark))
    wire = [[c.name if c.name in ("SELECT", "MERGE", "DELETE") else f"{c.name} {c.table}"
             for c in wave] for wave in waves(calls)]
    return result, port, wire, sum(c.name in ("SELECT", "MERGE", "DELETE") for c in calls)


def test_a_fresh_gap_costs_three_rounds_and_a_skip_two_once_tables_are_described(
        bigquery_emulator: str) -> None:
    project = new_project("rounds")
    setup = loader(project, bigquery_emulator)
    load_phase2(setup)
    queue = RecordingQueue()
    detector = make_app(settings_for(project, bigquery_emulator), setup, queue)
    create_ops_tables(setup, detector.ops)  # Terraform's tables
    detect(detector.warehouse, detector.registry, detector.ops, queue,
           Window(FIRST_DAY, NEXT_DAY))
    # Dependencies first on each date; a dependent behind its upstream rides on its request,
    # delivered here right after it, as the upstream's worker publishes it.
    requests = [link for root in queue.published for link in (
        root, *follow_ups(root, detector.registry.graph, ()))]
    assert [r.game_date for r in requests] == [FIRST_DAY] * 4 + [NEXT_DAY] * 4

    with recording(bigquery_emulator) as recorder:
        # The worker's process: its own warehouse, cold, every call counted.
        counting = CountingWarehouse(make_app(settings_for(project, recorder.host)).warehouse)
        worker = make_app(settings_for(project, recorder.host), counting)
        first = [delivered(worker, counting, recorder, r) for r in requests[:4]]
        fresh = [delivered(worker, counting, recorder, r) for r in requests[4:]]
        skip = delivered(worker, counting, recorder, requests[4])
        again = delivered(worker, counting, recorder, requests[7])

    figures = {r.processor: (len(f[2]), f[3], len(n[2]), n[3])
               for r, f, n in zip(requests, first, fresh, strict=False)}
    print("\nrounds and jobs per delivery (first of the process; once described):", figures)
    for result, *_ in first + fresh:
        assert result.outcome is Outcome.SUCCEEDED, result.error
    for request, (_, port, wire, jobs) in zip(requests[4:], fresh, strict=True):
        reads = len(port[0])
        # One round of reads (all queries: no table is described again), one MERGE, the audit
        # row (which says what the delivery published down the chain: no run row of its own).
        assert wire == [["SELECT"] * reads, ["MERGE"], ["tabledata.insertAll backfill_log"]], (
            request.processor, wire)
        assert [len(w) for w in port] == [reads, 1, 1], (request.processor, port)
        assert all(c.startswith(("read_rows", "scan_together")) for c in port[0])
        assert port[1] == [f"write {worker.registry.get(request.processor).target}"]
        assert port[2] == [f"write {worker.ops.log}"]
        assert jobs == reads + 1
    assert any(result.published for result, *_ in fresh)  # the chain's next links among them
    for result, port, wire, jobs in (skip, again):
        assert result.outcome is Outcome.SKIPPED
        assert wire == [["SELECT"] * jobs, ["tabledata.insertAll backfill_log"]], wire
        assert [len(w) for w in port] == [jobs, 1]
    # The first delivery of a process also describes its tables (one round, then cached),
    # and the first of a processor creates its table on the first write.
    for request, (_, _, wire, _) in zip(requests[:4], first, strict=True):
        assert any(call.startswith("tables.get") for call in wire[0]), (request.processor, wire)
        assert len(wire) > 3


def test_a_delivery_out_of_budget_dead_letters_itself_with_its_reason(
        bigquery_emulator: str) -> None:
    """BigQuery answers too slowly for the budget (the recorder holds every job's results
    back): the worker cancels what it started, dead-letters the request itself with the
    reason, and writes its audit rows, all before the budget's finishing reserve is spent."""
    project = new_project("budget")
    setup = loader(project, bigquery_emulator)
    load_phase2(setup)
    budget = 2.0
    with recording(bigquery_emulator) as recorder:
        app = make_app(settings_for(project, recorder.host, retry_budget_seconds=budget))
        create_ops_tables(setup, app.ops)
        recorder.delays["jobs.getQueryResults"] = 30.0
        request = Request(processor="team_offense_game_summary", game_date=NEXT_DAY,
                          reason=Reason.MISSING)
        started, mark = datetime.now(UTC), time.monotonic()
        result = app.worker().handle(Delivery(request.encode(), request.attributes(), 1, "m-1"))
        elapsed = time.monotonic() - mark
        exchanges = recorder.since(mark)

    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.error_type in ("OutOfTime", "TransientError"), result
    assert (result.error or "").startswith(f"retry budget exhausted after {result.attempts} "
                                           "attempts: ")
    # Which call the deadline caught (a job's wait, or a request before it) decides the words.
    assert any(words in (result.error or "") for words in (
        "did not finish in time and was cancelled", "the delivery ran out of time"))
    assert elapsed < budget + 5.0, elapsed  # not the 30 s BigQuery would have taken
    inserted = {e.job_id for e in exchanges if e.kind == "jobs.insert"}
    cancelled = {e.job_id for e in exchanges if e.kind == "jobs.cancel"}
    assert inserted and inserted == cancelled  # nothing left running, no MERGE ever sent
    assert not any(e.body and "MERGE" in str(e.body) for e in exchanges)
    assert isinstance(app.queue, RecordingQueue)
    [(body, attributes)] = app.queue.dead_letters
    assert body == request.encode()
    assert (attributes["error_type"], attributes["dead_lettered_by"]) == (result.error_type,
                                                                          "worker")
    assert attributes["error_message"] == result.error
    audited = read_history(setup, app.ops, since=started,
                           until=datetime.now(UTC) + timedelta(minutes=1))
    assert sorted(r["outcome"] for r in audited) == (
        ["dead_lettered"] + ["failed_attempt"] * result.attempts)
    assert real_shapes.FIRST <= NEXT_DAY <= real_shapes.LAST


def test_the_changes_of_one_write_are_sent_at_once(bigquery_emulator: str) -> None:
    """A write of several changes (a date's rows and the quarantine's news) is one round: each
    change is one statement, atomic on its own, all sent together."""
    project = new_project("write")
    setup = loader(project, bigquery_emulator)
    rows, empty, log = (TableRef("nba_analytics", "rows"), TableRef("nba_analytics", "empty"),
                        TableRef("backfill_ops", "log"))
    columns = schema(game_id="STRING", game_date="DATE")
    logged = schema(request_id="STRING", logged_at="TIMESTAMP")
    for table in (rows, empty):
        setup.create_table(table, columns)
    setup.create_table(log, logged, partitioned_by="logged_at")
    with recording(bigquery_emulator) as recorder:
        warehouse = loader(project, recorder.host)
        for table in (rows, empty, log):
            warehouse.describe(table)  # as a process that has described them
        mark = time.monotonic()
        warehouse.write([
            Replace(rows, NEXT_DAY, NEXT_DAY, [{"game_id": "g1", "game_date": NEXT_DAY}],
                    columns),
            Replace(empty, NEXT_DAY, NEXT_DAY, [], columns),
            Append(log, [{"request_id": "r1", "logged_at": datetime.now(UTC)}], logged,
                   "logged_at")])
        [wave] = waves(service_calls(recorder.since(mark)))
    assert sorted(c.name for c in wave) == ["DELETE", "MERGE", "tabledata.insertAll"]
