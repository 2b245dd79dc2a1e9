"""The operator's commands against the emulator and a real warehouse file: publish by hand,
inspect the dead-letter queue without consuming it, replay it, and read the audit trail."""

from __future__ import annotations

import json
from datetime import date

import pytest
from backfill.adapters.pubsub_queue import Consumer
from backfill.bootstrap import build_worker, registry_from_file
from backfill.domain.request import Reason, Request
from backfill.domain.tables import schema
from backfill.local.cli.main import main
from backfill.local.demo import GAMEBOOK, corrupt_minutes
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.runner import RunSummary, work_until_drained
from backfill.local.seed import PHASE2_SCHEMAS
from backfill.service.audit import AuditLog, audit_table
from backfill.settings import Settings

from tests.support import backfill

REGISTRY = registry_from_file(None)
PLAYERS = REGISTRY.get("player_game_summary")
DAY = date(2024, 11, 6)


def work_queue(settings: Settings, expected: list[str]) -> RunSummary:
    """The local runner's worker on the requests subscription until `expected` are done."""
    worker = build_worker(settings)
    return work_until_drained(
        worker, lambda handle, n: Consumer(settings.project, settings.requests_subscription,
                                           handle, n),
        expected, concurrency=2, quiet_seconds=0.5, timeout_seconds=60)


def request_ids(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines()[1:]]


def test_publish_then_the_worker_fills_the_dates(settings: Settings,
                                                 warehouse: DuckDBWarehouse) -> None:
    warehouse.replace_range(PLAYERS.target, DAY, DAY, [], PLAYERS.schema)
    published = backfill(settings, "publish", "--processor", PLAYERS.name,
                         "--start-date", "2024-11-06", "--end-date", "2024-11-07")
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith("published 2 requests for player_game_summary")
    ids = request_ids(published.stdout)
    assert len(ids) == 2 and all("message" in line for line in published.stdout.splitlines()[1:])

    summary = work_queue(settings, ids)
    # 11-06 was emptied and is filled again; 11-07 was complete and, without --force, skipped.
    assert (summary.outcomes["succeeded"], summary.outcomes["skipped"]) == (1, 1)
    assert len({r["game_id"] for r in warehouse.read_rows(PLAYERS.target, DAY, DAY)}) > 0


def test_a_poison_request_is_inspected_without_consuming_it_and_replayed_once_fixed(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    original = warehouse.read_rows(GAMEBOOK, DAY, DAY)
    corrupt_minutes(warehouse, DAY)
    warehouse.replace_range(PLAYERS.target, DAY, DAY, [], PLAYERS.schema)
    published = backfill(settings, "publish", "--processor", PLAYERS.name, "--date", str(DAY))
    [request_id] = request_ids(published.stdout)
    assert work_queue(settings, [request_id]).outcomes["dead_lettered"] == 1

    first = backfill(settings, "dlq", "list", "--json")
    second = backfill(settings, "dlq", "list", "--json")
    assert first.returncode == second.returncode == 0, first.stderr
    [letter] = json.loads(first.stdout)
    assert json.loads(second.stdout) == [letter]  # the peek consumed nothing
    assert (letter["processor"], letter["game_date"], letter["request_id"]) == \
        (PLAYERS.name, str(DAY), request_id)
    assert letter["source"] == "worker" and letter["replayable"]
    assert "3O:12" in letter["error"] and letter["attempts"] == 1
    table = backfill(settings, "dlq", "list", "--processor", PLAYERS.name, COLUMNS="250")
    assert letter["message_id"] in table.stdout and "PermanentError" in table.stdout
    shown = json.loads(backfill(settings, "dlq", "show", letter["message_id"]).stdout)
    assert shown["attributes"]["dead_lettered_by"] == "worker"
    assert json.loads(shown["body"])["request_id"] == request_id

    # A replay whose republish fails (the requests topic does not exist) loses nothing.
    broken = backfill(settings, "dlq", "replay", "--all",
                      BACKFILL_REQUESTS_TOPIC="no-such-topic")
    assert broken.returncode == 1
    assert "failed" in broken.stdout and "no-such-topic" in broken.stdout
    assert [d["message_id"] for d in json.loads(backfill(settings, "dlq", "list",
                                                         "--json").stdout)] == \
        [letter["message_id"]]

    warehouse.replace_range(GAMEBOOK, DAY, DAY, original, PHASE2_SCHEMAS[GAMEBOOK])
    replayed = backfill(settings, "dlq", "replay", letter["message_id"])
    assert replayed.returncode == 0, replayed.stderr + replayed.stdout
    assert "1 republished" in replayed.stdout
    assert "replay: 1 to do" in replayed.stderr  # plain progress lines off a terminal
    assert json.loads(backfill(settings, "dlq", "list", "--json").stdout) == []

    assert work_queue(settings, [request_id]).outcomes["succeeded"] == 1
    assert warehouse.read_rows(PLAYERS.target, DAY, DAY)
    detected = json.loads(backfill(settings, "detect", "--start-date", str(DAY), "--end-date",
                                   str(DAY), "--dry-run", "--json").stdout)
    assert all(not p["candidates"] for p in detected["processors"])

    history = backfill(settings, "history", "--processor", PLAYERS.name, "--date", str(DAY),
                       "--json")
    events = [(r["outcome"], r["reason"]) for r in reversed(json.loads(history.stdout))]
    assert events == [("failed_attempt", "manual"), ("dead_lettered", "manual"),
                      ("succeeded", "replay")]


def test_purge_asks_first_and_removes_only_what_was_chosen(settings: Settings) -> None:
    from backfill.bootstrap import queue_from_settings

    queue = queue_from_settings(settings)
    kept, purged = (queue.dead_letter(Request(processor=PLAYERS.name, game_date=DAY,
                                              reason=Reason.MISSING).encode(),
                                      {"error_type": "PermanentError", "error_message": why,
                                       "attempts": "1", "dead_lettered_by": "worker"})
                    for why in ("keep me", "purge me"))
    refused = backfill(settings, "dlq", "purge", purged)  # no terminal, no "y": aborted
    assert refused.returncode == 1
    removed = backfill(settings, "dlq", "purge", purged, "--yes")
    assert removed.returncode == 0 and f"{purged} " in removed.stdout
    left = json.loads(backfill(settings, "dlq", "list", "--json").stdout)
    assert [d["message_id"] for d in left] == [kept]
    assert "purged 0" in backfill(settings, "dlq", "purge", "--older-than", "1d",
                                  "--yes").stdout


def test_an_audit_write_failure_does_not_fail_the_request(settings: Settings,
                                                          warehouse: DuckDBWarehouse) -> None:
    # A table of the right name but the wrong columns: every audit insert fails for real.
    warehouse.create_table(audit_table(settings.audit_dataset), schema(something="STRING"))
    warehouse.replace_range(PLAYERS.target, DAY, DAY, [], PLAYERS.schema)
    worker = build_worker(settings)
    result = worker.handle(Request(processor=PLAYERS.name, game_date=DAY,
                                   reason=Reason.MANUAL).encode())
    assert result.outcome == "succeeded" and result.rows_written > 0
    assert isinstance(worker.audit, AuditLog) and worker.audit.write_failures == 1


@pytest.mark.parametrize(("args", "named"), [
    (["publish", "--processor", "nope", "--date", "2024-11-06"], "team_offense_game_summary"),
    (["publish", "--processor", "team_defense_game_summary", "--date", "2024-13-01"],
     "'2024-13-01' is not a date"),
    (["publish", "--processor", "team_defense_game_summary", "--start-date", "2024-11-09",
      "--end-date", "2024-11-01"], "after end date"),
    (["publish", "--processor", "team_defense_game_summary", "--date", "2999-01-01"],
     "in the future"),
    (["dlq", "replay"], "--all or --processor"),
    (["dlq", "replay", "--processor", "nope"], "nope"),
    (["dlq", "purge", "--older-than", "soon"], "invalid duration 'soon'"),
    (["dlq", "list", "--since", "yesterday"], "neither a date"),
    (["status", "--start-date", "2024-11-01"], "go together"),
    (["history", "--date", "11/06/2024"], "is not a date"),
])
def test_bad_arguments_are_one_line_errors_with_exit_2(
        args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(err.strip().splitlines()) == 1 and named in err, err
