"""The functions adopt the pipeline's own Phase 3 tables under exactly the grants Terraform
gives them, and every Google API call they make is one those grants allow.

The cycle runs through the deployed entry points (functions-framework's app for
functions/detector and functions/worker, in process) on the BigQuery API emulator and the
Pub/Sub emulator, each behind a recording proxy that sees the calls as sent on the wire:
BigQuery's REST calls (tests/bigquery_emulator/recorder.py) and Pub/Sub's gRPC calls
(tests/pubsub_recorder.py). Each call is mapped to the IAM permission it needs, on the table,
dataset, project or topic it names (tests/terraform/permissions.py, from Google's references),
and checked against the roles terraform/iam.tf grants that function's service account (parsed
with python-hcl2, variables at their defaults).

Removing a grant from terraform/iam.tf, or adding a call no grant covers, fails this test with
the call and the permission named. Deleting the worker's Phase 3 grant (resource
"google_bigquery_table_iam_member" "worker_writes_targets") fails it with (checked by hand,
2026-12-03; the last step below checks the same on the parsed grants):

    worker: jobs.insert needs bigquery.tables.getData on nba_analytics.player_game_summary: no grant carries it
    worker: jobs.insert needs bigquery.tables.updateData on nba_analytics.player_game_summary: no grant carries it
    worker: tables.get needs bigquery.tables.get on nba_analytics.player_game_summary: no grant carries it
    worker: tables.patch needs bigquery.tables.update on nba_analytics.player_game_summary: no grant carries it
    ... and the same for the other three Phase 3 tables.

The cycle: the scheduled detection, every request it published pushed to the worker, a message
no one can read (dead-lettered by the worker), and the scheduler's light stalls-only call.
The pipeline's tables here are as the pipeline made them: its own columns, no lineage columns,
every date filled but one per table. The worker adds the lineage columns on first need with
tables.get + tables.patch (never tables.insert or datasets.insert) and fills the gaps; the
emulator's tables.patch does not reach its storage, which the harness works around
(emulated.storing_added_columns).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from backfill.bootstrap import bootstrap, ensure_topology
from backfill.domain.window import Window
from backfill.entrypoints import http
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Read, Replace, Row
from backfill.processors.base import LINEAGE_SCHEMA
from backfill.service.detect import detect, find_gaps
from flask.testing import FlaskClient

from tests.bigquery_emulator.recorder import Recorder
from tests.bigquery_emulator.recorder import recording as recording_bigquery
from tests.fixtures import real_shapes
from tests.fixtures.changes import deliver
from tests.integration.emulated import (
    client,
    create_ops_tables,
    load_phase2,
    loader,
    make_app,
    new_project,
    settings_for,
    storing_added_columns,
)
from tests.pubsub_recorder import GrpcRecorder
from tests.pubsub_recorder import recording as recording_pubsub
from tests.support import pull_all
from tests.terraform.grants import all_grants, custom_roles, grants_of
from tests.terraform.hcl import Module, load_module
from tests.terraform.permissions import Need, bigquery_needs, missing, pubsub_needs

REPO = Path(__file__).resolve().parents[2]
WINDOW = Window(real_shapes.FIRST, real_shapes.LAST)
# The one date of each pipeline table left unfilled.
GAPS = {"team_offense_game_summary": date(2025, 1, 11),
        "team_defense_game_summary": date(2025, 1, 12),
        "player_game_summary": date(2025, 1, 16),
        "upcoming_team_game_context": date(2025, 1, 14)}
SCHEDULER = {"X-CloudScheduler-JobName": "backfill-daily"}


def function(target: str) -> FlaskClient:
    folder = "worker" if target == "work" else "detector"
    app = functions_framework.create_app(target=target,
                                         source=str(REPO / "functions" / folder / "main.py"))
    return app.test_client()


@contextmanager
def harness_pubsub(monkeypatch: pytest.MonkeyPatch, emulator: str) -> Iterator[None]:
    """The harness's own Pub/Sub calls (topics, pulls) straight to the emulator: only the
    functions' calls go through the recorder."""
    with monkeypatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", emulator)
        yield


def pipeline_rows(folder: Path, project: str, host: str) -> dict[str, list[Row]]:
    """Phase 3 as the pipeline wrote it, from the same Phase 2: each processor's rows of the
    window (computed by Backfill on DuckDB) with only the processor's own columns."""
    path = folder / "pipeline.duckdb"
    load_phase2(DuckDBWarehouse(path))
    app = make_app(settings_for(project, host, warehouse=f"duckdb://{path}"))
    detect(app.warehouse, app.registry, app.ops, app.queue, WINDOW)
    deliver(app)
    rows = {p.name: [{c.name: r[c.name] for c in p.schema}
                     for r in app.warehouse.read_rows(Read(p.target, WINDOW.start, WINDOW.end))]
            for p in app.registry.ordered()}
    app.close()
    return rows


@pytest.fixture
def recorders(bigquery_emulator: str, pubsub_emulator: str,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, GrpcRecorder]]:
    with recording_bigquery(bigquery_emulator) as bigquery, \
            recording_pubsub(pubsub_emulator) as pubsub:
        bigquery.hooks["tables.patch"] = storing_added_columns(bigquery_emulator)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
        yield bigquery, pubsub


def test_the_functions_adopt_pipeline_tables_through_only_the_calls_their_grants_allow(
        bigquery_emulator: str, recorders: tuple[Recorder, GrpcRecorder], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bigquery, pubsub = recorders
    project = new_project("contract")
    # One Pub/Sub project per test: the emulator is the session's.
    # The worker publishes its audit rows to the audit topic, as Terraform deploys it.
    settings = settings_for(project, bigquery.host, pubsub_emulator_host=pubsub.host,
                            audit_topic=str(load_module().resolve(
                                load_module().of_type("google_pubsub_topic")["audit"]["name"]))
                            ).model_copy(update={"project": project})
    rows = pipeline_rows(tmp_path, project, bigquery_emulator)
    setup = loader(project, bigquery_emulator)  # straight to the emulator: not recorded
    load_phase2(setup)
    detector_app, worker_app = bootstrap(settings), bootstrap(settings)
    create_ops_tables(setup, detector_app.ops)
    for p in detector_app.registry.ordered():
        setup.create_table(p.target, p.schema)  # the pipeline's own table: no lineage columns
        setup.write([Replace(p.target, WINDOW.start, WINDOW.end,
                             [r for r in rows[p.name] if r["game_date"] != GAPS[p.name]],
                             p.schema)])
    worker = worker_app.worker()
    monkeypatch.setattr(http, "_app", lambda: detector_app)
    monkeypatch.setattr(http, "_worker", lambda: worker)
    with harness_pubsub(monkeypatch, pubsub.upstream):
        ensure_topology(settings)

    calls: dict[str, tuple[list[Any], list[Any]]] = {}
    started, mark = time.monotonic(), pubsub.mark()
    reply = function("detect").post("/", json={"start_date": str(WINDOW.start),
                                               "end_date": str(WINDOW.end)}, headers=SCHEDULER)
    assert reply.status_code == 200, reply.text
    found = {(p["name"], c["game_date"], c["reason"]) for p in reply.json["processors"]
             for c in p["candidates"]}
    # The gaps are missing; every other date, written by the pipeline without the inputs
    # Backfill records, is outdated once (recomputed to the same rows, now with them).
    assert {(name, day) for name, day, reason in found if reason == "missing"} == {
        (name, str(day)) for name, day in GAPS.items()}, json.dumps(reply.json)
    assert {reason for *_, reason in found} == {"missing", "outdated"}
    # A dependent's date riding on its upstream's request of that date is a follower of it.
    riding = sum(len(p["pending_upstream"]) for p in reply.json["processors"])
    assert reply.json["published"] + riding == len(found), json.dumps(reply.json)
    calls["detector"] = (bigquery.since(started), pubsub.since(mark))

    worker_calls: tuple[list[Any], list[Any]] = ([], [])
    outcomes = []
    again: list[Any] = []
    # A dependent delivered before its upstream comes back (503); followers the workers
    # publish come as messages of their own.
    for _ in range(2 * len(GAPS)):
        with harness_pubsub(monkeypatch, pubsub.upstream):
            waiting = again + pull_all(settings, settings.requests_subscription)
        if not waiting:
            break
        again = []
        for received in waiting:
            started, mark = time.monotonic(), pubsub.mark()
            answer = function("work").post("/", json={
                "message": {"data": base64.b64encode(received.message.data).decode(),
                            "messageId": received.message.message_id,
                            "attributes": dict(received.message.attributes)},
                "deliveryAttempt": 1})
            worker_calls[0].extend(bigquery.since(started))
            worker_calls[1].extend(pubsub.since(mark))
            if answer.status_code == 503:
                again.append(received)
            else:
                outcomes.append((answer.status_code, answer.json["outcome"]))
    assert not waiting and outcomes == [(200, "succeeded")] * len(found)
    # A message no one can read is dead-lettered by the worker itself (the dead-letter topic).
    started, mark = time.monotonic(), pubsub.mark()
    answer = function("work").post("/", json={"message": {
        "data": base64.b64encode(b"not a request").decode(), "messageId": "typed-1"}})
    assert (answer.status_code, answer.json["outcome"]) == (200, "dead_lettered")
    worker_calls[0].extend(bigquery.since(started))
    worker_calls[1].extend(pubsub.since(mark))
    calls["worker"] = worker_calls
    # The scheduler's frequent light call: only the check for stalled runs.
    started, mark = time.monotonic(), pubsub.mark()
    stalls = function("detect").post("/", json={"stalls_only": True}, headers=SCHEDULER)
    assert stalls.status_code == 200, stalls.text
    calls["detector"][0].extend(bigquery.since(started))
    calls["detector"][1].extend(pubsub.since(mark))

    # Adopted: the lineage columns added in place, the gaps filled, the pipeline's rows kept
    # (recomputed to the same values).
    plain = client(project, bigquery_emulator)
    check = loader(project, bigquery_emulator)
    for p in detector_app.registry.ordered():
        columns = [f.name for f in plain.get_table(f"{project}.{p.target}").schema]
        assert columns == [c.name for c in p.schema + LINEAGE_SCHEMA], p.target
        day = GAPS[p.name]
        filled = check.read_rows(Read(p.target, day, day))
        assert len(filled) == len([r for r in rows[p.name] if r["game_date"] == day]) > 0
        assert all(r["processor_version"] is not None for r in filled), p.target
        kept = [r for r in check.read_rows(Read(p.target, WINDOW.start, WINDOW.end))
                if r["game_date"] != day]
        assert len(kept) == len(rows[p.name]) - len(filled), p.target
    methods = {c.method.rsplit("/", 1)[-1] for c in calls["worker"][1]}
    assert methods == {"Publish"}  # the dead letter and the audit rows, nothing else
    kinds = [e.kind for e in calls["worker"][0]]
    assert kinds.count("tables.patch") == len(GAPS)  # once per table, on first need
    assert "tables.insert" not in kinds and "datasets.insert" not in kinds
    clean = make_app(settings_for(project, bigquery_emulator))
    assert all(not r.candidates for r in find_gaps(clean.warehouse, clean.registry, clean.ops,
                                                   WINDOW))

    # The contract: every call is covered by the grants Terraform gives its function.
    tf = load_module()
    needs = {name: needs_of(tf, *recorded) for name, recorded in calls.items()}
    denied = [f"{name}: {line}" for name, found in needs.items() for line in gaps(tf, name, found)]
    assert not denied, "calls the grants of terraform/iam.tf do not allow:\n" + "\n".join(denied)
    # ...and it can fail: without the worker's Phase 3 grant the adoption and the MERGE are not.
    phase3 = grants_of(tf, "google_bigquery_table_iam_member", tf.resources[
        ("google_bigquery_table_iam_member", "worker_writes_targets")])
    without = gaps(tf, "worker", needs["worker"], leave_out=phase3)
    for p in detector_app.registry.ordered():
        assert (f"tables.patch needs bigquery.tables.update on {p.target}: no grant carries "
                "it") in without
        assert (f"jobs.insert needs bigquery.tables.updateData on {p.target}: no grant "
                "carries it") in without


def needs_of(tf: Module, exchanges: list[Any], grpc_calls: list[Any]) -> list[Need]:
    """What a function's recorded calls need, topics named by their Terraform addresses."""
    topics = {str(tf.resolve(body["name"])): f"google_pubsub_topic.{name}"
              for name, body in tf.of_type("google_pubsub_topic").items()}
    return bigquery_needs(exchanges) + pubsub_needs(grpc_calls, topics)


def gaps(tf: Module, who: str, needs: list[Need],
         leave_out: Sequence[tuple[str, str]] = ()) -> list[str]:
    """What `who` is not granted of `needs` (with the grants `leave_out` removed)."""
    granted = [(target, role) for principal, target, role in all_grants(tf)
               if principal == who and (target, role) not in leave_out]
    return missing(needs, granted, custom_roles(tf))
