"""Both HTTP functions in-process, through functions-framework's own app and test client: the
statuses Cloud Scheduler and Pub/Sub see, and every malformed kind of push dead-lettered once."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import functions_framework
import pytest
from backfill.bootstrap import Backfill
from backfill.domain.errors import TransientError
from backfill.domain.request import Reason, Request
from backfill.domain.runs import Run, Trigger
from backfill.entrypoints import http
from backfill.entrypoints.logs import (
    TRACE_FIELD,
    CloudLoggingFormatter,
    configure_function_logging,
)
from backfill.ports import Read, Replace, Warehouse
from backfill.processors.nba_raw import GAMEBOOK
from backfill.service.detect import record_run
from backfill.service.runs import recent_runs
from flask.testing import FlaskClient

from tests.fixtures.changes import edit_game, set_value
from tests.unit.fakes import FlakyWarehouse, RecordingQueue

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "malformed"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
OFFENSE = "team_offense_game_summary"


def client(target: str) -> FlaskClient:
    folder = "worker" if target == "work" else "detector"
    app = functions_framework.create_app(target=target,
                                         source=str(REPO / "functions" / folder / "main.py"))
    return app.test_client()


def typed(published_at: datetime, message_id: str, attempt: int) -> dict[str, Any]:
    """A push of a request typed by hand (processor and date only), as Pub/Sub delivers it."""
    envelope = push(b'{"processor": "player_game_summary", "game_date": "2025-01-14"}', attempt)
    envelope["message"].update(messageId=message_id,
                               publishTime=published_at.isoformat().replace("+00:00", "Z"))
    return envelope


def test_a_typed_request_waiting_on_its_dependency_ages_and_is_one_manual_run(
        served: Backfill) -> None:
    for name in (OFFENSE, "player_game_summary"):
        target = served.registry.get(name)
        served.warehouse.write([Replace(target.target, date(2025, 1, 14), date(2025, 1, 14),
                                        [], target.table_schema())])
    worker, now = client("work"), datetime.now(UTC)
    # Redelivered three times: the same request each time, so one manual run, not three.
    for attempt in (1, 2, 3):
        reply = worker.post("/", json=typed(now, "5001", attempt))
        assert (reply.status_code, reply.get_json()["outcome"]) == (503, "retry")
    audit = http._worker().audit
    assert audit is not None
    audit.flush()  # a retry leaves no audit row of its own: its run waits in the buffer
    manual = [run for run in recent_runs(served.warehouse, served.ops,
                                         since=now - timedelta(hours=1), now=now)
              if run.started_by == "message 5001"]
    assert len(manual) == 1 and manual[0].started_at == now
    # Published three hours ago: older than the dependency wait (2 h), so it gives up now.
    reply = worker.post("/", json=typed(now - timedelta(hours=3), "5002", 4))
    answer = reply.get_json()
    assert (reply.status_code, answer["outcome"]) == (200, "dead_lettered"), answer
    assert "gave up after waiting 3h00m" in answer["error"]


@pytest.fixture
def served(filled_app: Backfill, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backfill]:
    """The functions' bodies on the filled warehouse and a recording queue."""
    worker = filled_app.worker()
    monkeypatch.setattr(http, "_app", lambda: filled_app)
    monkeypatch.setattr(http, "_worker", lambda: worker)
    yield filled_app


def push(body: bytes, attempt: int | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"message": {"data": base64.b64encode(body).decode(),
                                            "messageId": "7"}}
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return envelope


def nested(depth: int) -> bytes:
    """JSON nested `depth` deep: past the interpreter's recursion limit, json raises."""
    return b"[" * depth + b"]" * depth


def corpus() -> list[tuple[str, bytes]]:
    """Every file of the corpus, and the kinds too big to keep as files (generated)."""
    files = [(name, (CORPUS / name).read_bytes()) for name in EXPECTED if (CORPUS / name).exists()]
    huge = json.dumps({"message": {"data": base64.b64encode(b" " * 10_000_000).decode()}})
    return [*files, ("(generated) 10 MB body", huge.encode()),
            ("(generated) data nested 100,000 deep", json.dumps(push(nested(100_000))).encode()),
            ("(generated) envelope nested 100,000 deep",
             b'{"message": ' + nested(100_000) + b"}")]


def test_each_malformed_kind_is_dead_lettered_once_with_its_reason_and_valid_ones_work(
        served: Backfill) -> None:
    worker = client("work")
    target = served.registry.get(OFFENSE)
    day = date(2025, 1, 14)
    clean = served.warehouse.read_rows(Read(target.target, day, day))
    served.warehouse.write([Replace(target.target, day, day, [], target.table_schema())])
    answers = {}
    for name, body in corpus():
        reply = worker.post("/", data=body, content_type="application/json")
        assert reply.status_code == 200, (name, reply.text)
        answers[name] = reply.get_json()
    valid = Request(processor=OFFENSE, game_date=day, reason=Reason.MANUAL)
    ok = worker.post("/", json=push(valid.encode()))
    assert (ok.status_code, ok.get_json()["outcome"]) == (200, "succeeded")
    assert sorted(map(repr, served.warehouse.read_rows(Read(target.target, day, day)))) == \
        sorted(map(repr, clean))
    for name, reason in EXPECTED.items():
        assert answers[name]["outcome"] == "dead_lettered", name
        assert reason in str(answers[name]["error"]), (name, answers[name])
    letters = cast(RecordingQueue, served.queue).dead_letters
    assert len(letters) == len(EXPECTED)
    assert any(attributes.get("body_bytes") for _, attributes in letters)


def test_the_worker_answers_a_get_with_405_and_asks_for_redelivery_with_503(
        served: Backfill) -> None:
    worker = client("work")
    assert worker.get("/").status_code == 405
    cast(RecordingQueue, served.queue).fail_dead_letter = True
    reply = worker.post("/", json=push(b"{}"))
    assert (reply.status_code, reply.get_json()["outcome"]) == (503, "retry")


def test_a_request_waiting_on_its_dependency_is_redelivered(served: Backfill) -> None:
    for name in (OFFENSE, "player_game_summary"):
        target = served.registry.get(name)
        served.warehouse.write([Replace(target.target, date(2025, 1, 14), date(2025, 1, 14),
                                        [], target.table_schema())])
    waiting = Request(processor="player_game_summary", game_date=date(2025, 1, 14))
    reply = client("work").post("/", json=push(waiting.encode(), attempt=2))
    assert (reply.status_code, reply.get_json()["outcome"]) == (503, "retry")


DETECTOR_CORPUS = CORPUS / "detector"
DETECTOR_EXPECTED: dict[str, str] = json.loads((DETECTOR_CORPUS / "expected.json").read_text())


def detector_corpus() -> list[tuple[str, bytes]]:
    files = [(name, (DETECTOR_CORPUS / name).read_bytes()) for name in DETECTOR_EXPECTED
             if (DETECTOR_CORPUS / name).exists()]
    return [*files, ("(generated) body nested 100,000 deep", nested(100_000))]


def test_the_detector_answers_every_hostile_body_with_a_400_naming_the_problem(
        served: Backfill) -> None:
    """Each kind of the detector's corpus is the caller's fault: a 400 (never a traceback and a
    500 that Cloud Scheduler would retry), and nothing is published."""
    detector = client("detect")
    answers = {name: detector.post("/", data=body) for name, body in detector_corpus()}
    assert sorted(answers) == sorted(DETECTOR_EXPECTED)
    for name, error in DETECTOR_EXPECTED.items():
        reply = answers[name]
        assert reply.status_code == 400, (name, reply.text)
        assert error in reply.get_json()["error"], (name, reply.get_json())
    assert cast(RecordingQueue, served.queue).published == []


def test_the_detector_publishes_reports_and_records_a_scheduled_run(served: Backfill) -> None:
    target = served.registry.get(OFFENSE)
    served.warehouse.write([Replace(target.target, date(2025, 1, 14), date(2025, 1, 14), [],
                                    target.table_schema())])
    reply = client("detect").post(
        "/", json={"start_date": "2025-01-10", "end_date": "2025-01-16"},
        headers={"X-CloudScheduler-JobName": "backfill-daily"})
    assert reply.status_code == 200, reply.text
    report = reply.get_json()
    assert report["published"] == 1
    published = cast(RecordingQueue, served.queue).published
    assert [(r.processor, r.game_date, r.detection_run_id) for r in published] == [
        (OFFENSE, date(2025, 1, 14), report["run_id"])]
    from backfill.service.runs import find_run

    run = find_run(served.warehouse, served.ops, report["run_id"], now=datetime.now(UTC))
    assert (run.trigger.value, run.started_by, run.published) == (
        "scheduled", "backfill-daily", {OFFENSE: 1})
    assert datetime.now(UTC) - run.started_at < timedelta(minutes=1)


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """Every log line of the functions' code, as Cloud Logging reads it (one JSON object)."""
    configure_function_logging()
    lines: list[dict[str, Any]] = []
    formatter = CloudLoggingFormatter()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler, logger = Keep(), logging.getLogger("backfill")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def drop_gamebook(app: Backfill) -> None:
    """The player summaries' Phase 2 table is gone: that processor's detection fails."""
    app.warehouse.close()
    with duckdb.connect(app.warehouse.url.removeprefix("duckdb://")) as con:
        con.execute("DROP TABLE nba_raw.nbac_gamebook_player_stats")


def test_a_pass_with_a_failed_processor_that_published_answers_200_and_logs_the_failure(
        served: Backfill, logged: list[dict[str, Any]]) -> None:
    """Cloud Scheduler retries a 500, and a retry would publish every gap again: so a pass that
    published anything answers 200, and the failure is a `detection_failed` line (alerted)."""
    target = served.registry.get(OFFENSE)
    served.warehouse.write([Replace(target.target, date(2025, 1, 14), date(2025, 1, 14), [],
                                    target.table_schema())])
    drop_gamebook(served)
    detector = client("detect")
    window = {"start_date": "2025-01-10", "end_date": "2025-01-16"}
    reply = detector.post("/", json=window)
    assert reply.status_code == 200, reply.text
    report = reply.get_json()
    assert report["published"] == 1
    failed = [p["name"] for p in report["processors"] if p["status"] == "error"]
    assert failed == ["player_game_summary"]
    [line] = [line for line in logged if line.get("event") == "detection_failed"]
    assert line["severity"] == "ERROR" and line["run_id"] == report["run_id"]
    assert "player_game_summary: TableNotFound" in line["message"]
    # Nothing went out: a 500, and Cloud Scheduler's retry is a clean second try.
    reply = detector.post("/", json={**window, "processors": ["player_game_summary"]})
    assert (reply.status_code, reply.get_json()["published"]) == (500, 0)
    assert len(cast(RecordingQueue, served.queue).published) == 1


def test_the_light_call_only_checks_for_stalled_runs(served: Backfill,
                                                     logged: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    record_run(served.warehouse, served.ops,
               Run("stuck0000001", Trigger.CLI, "test", now - timedelta(hours=2), {OFFENSE: 3}, 3))
    reply = client("detect").post("/", json={"stalls_only": True})
    assert reply.status_code == 200, reply.text
    assert "stuck0000001" in reply.get_json()["stalled"]
    assert [line["run_id"] for line in logged if line.get("event") == "run_stalled"] == \
        reply.get_json()["stalled"]
    assert cast(RecordingQueue, served.queue).published == []


def test_dead_letters_are_logged_for_the_alerts_a_refused_game_apart_as_a_warning(
        served: Backfill, logged: list[dict[str, Any]]) -> None:
    """The dead-letter alert counts new dead letters from these lines; a game refused into
    quarantine (dead-lettered by design) is a warning of its own, never that alert."""
    worker = client("work")
    assert worker.post("/", json=push(b'{"processor": "nope"}')).status_code == 200
    edit_game(served, GAMEBOOK, date(2025, 1, 14), "20250114_NYK_PHI",
              set_value("phione", minutes="3O:12"), True)
    players = Request(processor="player_game_summary", game_date=date(2025, 1, 14),
                      reason=Reason.STALE)
    reply = worker.post("/", json=push(players.encode()))
    assert reply.get_json()["outcome"] == "partial"
    lines = [line for line in logged if line.get("event") == "dead_lettered"]
    assert [(line["severity"], line["error_type"]) for line in lines] == [
        ("ERROR", "InvalidRequest"), ("WARNING", "GamesRefused")]
    assert (lines[1]["request_id"], lines[1]["run_id"], lines[1]["processor"]) == (
        players.request_id, players.run_id, "player_game_summary")


TRACE = "105445aa7843bc8bf206b12000100000"


def test_log_lines_carry_the_requests_trace_and_retry_warnings_its_fields(
        served: Backfill, logged: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloud Logging nests a line under its request's entry by `logging.googleapis.com/trace`;
    a retry warning names the request it retries."""
    target = served.registry.get(OFFENSE)
    served.warehouse.write([Replace(target.target, date(2025, 1, 14), date(2025, 1, 14), [],
                                    target.table_schema())])
    worker = served.worker()
    worker.warehouse = cast(Warehouse, FlakyWarehouse(served.warehouse,
                                                      TransientError("rate limited"), 2))
    worker.sleep = lambda _: None
    monkeypatch.setattr(http, "_worker", lambda: worker)
    request = Request(processor=OFFENSE, game_date=date(2025, 1, 14), reason=Reason.MISSING)
    reply = client("work").post("/", json=push(request.encode()),
                                headers={"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"})
    assert reply.get_json()["outcome"] == "succeeded"
    trace = f"projects/{served.settings.project}/traces/{TRACE}"
    assert logged and all(line.get(TRACE_FIELD) == trace for line in logged)
    retries = [line for line in logged if line["logger"] == "backfill.retry"]
    assert [line["attempt"] for line in retries] == [1, 2]
    assert all((line["processor"], line["game_date"], line["request_id"], line["run_id"]) ==
               (OFFENSE, "2025-01-14", request.request_id, request.run_id) for line in retries)
    # The W3C header does as well; outside a request, no trace.
    before = len(logged)
    client("detect").post("/", json={"start_date": "2025-01-10", "end_date": "2025-01-16"},
                          headers={"traceparent":
                                   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    logging.getLogger("backfill.test").warning("outside any request")
    traces = [line.get(TRACE_FIELD) for line in logged[before:]]
    assert len(traces) >= 2 and traces[-1] is None
    assert set(traces[:-1]) == {
        f"projects/{served.settings.project}/traces/0af7651916cd43dd8448eb211c80319c"}


def test_a_misconfigured_deployment_is_a_500_never_the_callers_fault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_WAREHOUSE", f"duckdb://{tmp_path}/absent.duckdb")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # never dialled: nothing to publish
    http._app.cache_clear()
    http._worker.cache_clear()
    try:
        reply = client("detect").post("/", data=b"{}")
        assert reply.status_code == 500
        assert "absent.duckdb does not exist" in reply.get_json()["error"]
        monkeypatch.setenv("BACKFILL_PROCESSORS_FILE", str(tmp_path / "none.toml"))
        http._app.cache_clear()
        reply = client("work").post("/", json=push(b"{}"))
        assert reply.status_code == 500 and "none.toml does not exist" in reply.get_json()["error"]
    finally:
        http._app.cache_clear()
        http._worker.cache_clear()
