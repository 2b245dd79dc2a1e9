"""The operator's commands against the emulator and a real warehouse file: publish by hand, look
at the dead-letter queue without consuming it, replay it once fixed, read the audit trail, hold
and release games in quarantine, and follow a run to its end or stop it (issue 17)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backfill.bootstrap import bootstrap, consumer
from backfill.domain.dead_letter import Why
from backfill.domain.request import Reason, Request
from backfill.domain.runs import RunProgress
from backfill.domain.tables import OpsTables, TableRef
from backfill.local.demo import corrupt_minutes
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.runner import RunSummary, serve, work_until_drained
from backfill.local.seed.league import PHASE2_SCHEMAS
from backfill.ports import Delivery, Replace
from backfill.processors.nba_raw import GAMEBOOK
from backfill.service.runs import find_run, run_progress
from backfill.service.work import WorkResult
from backfill.settings import Settings

from tests.faults import PLAN_VARIABLE, FaultPlan
from tests.support import (
    OFFENSE,
    PLAYERS,
    SEED_WINDOW,
    backfill,
    empty,
    game_ids,
    json_out,
    rows,
    sql,
    start_backfill,
    stop,
    wait_for,
)

DAY = date(2024, 11, 6)
SLOW = "slow_offense"
SLOW_TABLE = TableRef("nba_analytics", SLOW)
# `quarantine list` looks a year back from today by default; these games are of 2024.
ON_DAY = ("--start-date", str(DAY), "--end-date", str(DAY))


def work_queue(settings: Settings, expected: list[str]) -> RunSummary:
    """The runner's worker on the requests subscription until `expected` are done."""
    app = bootstrap(settings)
    try:
        return work_until_drained(app.worker(), lambda handle, n: consumer(settings, handle, n),
                                  expected, concurrency=2, quiet_seconds=0.5,
                                  timeout_seconds=60)
    finally:
        app.close()


def published_ids(stdout: str) -> tuple[str, list[str]]:
    """The run id and the request ids `backfill publish` printed."""
    run = re.search(r"\(run (\w+)\)", stdout)
    assert run, stdout
    return run[1], [line.split()[0] for line in stdout.splitlines() if " message " in line]


def poison(settings: Settings, day: date) -> tuple[str, list[dict[str, Any]]]:
    """One active player's minutes of one game become '3O:12'; returns the game and the
    gamebook rows as they were."""
    app = bootstrap(settings)
    original = rows(app.warehouse, GAMEBOOK, day)
    game = corrupt_minutes(app, day)
    app.close()
    return game, original


def restore(warehouse: DuckDBWarehouse, day: date, gamebook: list[dict[str, Any]]) -> None:
    """The fix: the gamebook as it was, its processed_at unchanged."""
    warehouse.write([Replace(GAMEBOOK, day, day, gamebook, PHASE2_SCHEMAS[GAMEBOOK])])


def test_publish_by_hand_then_the_worker_fills_the_dates(settings: Settings,
                                                         warehouse: DuckDBWarehouse) -> None:
    lost = empty(warehouse, PLAYERS, DAY)
    published = backfill(settings, "publish", "--processor", PLAYERS,
                         "--start-date", str(DAY), "--end-date", str(DAY + timedelta(days=1)))
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith("published 2 requests for player_game_summary (run ")
    run, ids = published_ids(published.stdout)
    assert len(ids) == 2

    summary = work_queue(settings, ids)

    # DAY was emptied and is filled again; the next day was complete and, unforced, skipped.
    assert (summary.outcomes["succeeded"], summary.outcomes["skipped"]) == (1, 1)
    assert len(rows(warehouse, PLAYERS, DAY)) == len(lost)
    shown = json_out(backfill(settings, "runs", "show", run, "--json"))
    assert (shown["trigger"], shown["published"], shown["outstanding"], shown["state"]) == (
        "manual", 2, 0, "done")
    (players,) = shown["processors"]
    assert (players["succeeded"], players["skipped"]) == (1, 1)


def test_a_poison_game_is_quarantined_inspected_without_consuming_and_replayed_once_fixed(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    game, original = poison(settings, DAY)
    games = game_ids(warehouse, PLAYERS, DAY)
    empty(warehouse, PLAYERS, DAY)
    published = backfill(settings, "publish", "--processor", PLAYERS, "--date", str(DAY))
    _, [request_id] = published_ids(published.stdout)

    summary = work_queue(settings, [request_id])

    # Per-game isolation: the date's other games are written, the poisoned one is held.
    assert dict(summary.outcomes) == {"partial": 1}
    (result,) = summary.results
    assert list(result.refused) == [game] and "3O:12" in result.refused[game]
    assert game_ids(warehouse, PLAYERS, DAY) == sorted(set(games) - {game})
    first = backfill(settings, "dlq", "list", "--json")
    second = backfill(settings, "dlq", "list", "--json")
    assert first.returncode == second.returncode == 0, first.stderr
    [letter] = json_out(first)
    assert json_out(second) == [letter]  # the peek consumed nothing
    assert (letter["processor"], letter["game_date"], letter["request_id"]) == \
        (PLAYERS, str(DAY), request_id)
    assert (letter["source"], letter["replayable"], letter["attempts"]) == ("worker", True, 1)
    assert letter["error"].startswith("GamesRefused: 1 games refused (held in quarantine)")
    # One dead letter naming the game, and in its error the game's reason: player and value.
    assert list(letter["refused"]) == [game]
    assert f"{game}: player " in letter["error"] and "'3O:12'" in letter["error"]
    table = backfill(settings, "dlq", "list", "--processor", PLAYERS)
    assert letter["message_id"] in table.stdout and "GamesRefused" in table.stdout
    shown = json_out(backfill(settings, "dlq", "show", letter["message_id"]))
    assert shown["attributes"]["dead_lettered_by"] == "worker"
    assert shown["attributes"]["refused_games"] == game
    assert json.loads(shown["body"])["request_id"] == request_id
    (held,) = json_out(backfill(settings, "quarantine", "list", *ON_DAY, "--json"))
    assert (held["processor"], held["game_id"], held["state"]) == (PLAYERS, game, "held")
    assert "3O:12" in held["reason"]

    # Fixed (processed_at unchanged: content is what counts): the hold ends, the game is a gap
    # again; the replay releases it and republishes the date.
    restore(warehouse, DAY, original)
    report = json_out(backfill(settings, "detect", "--start-date", str(DAY), "--end-date",
                               str(DAY), "--dry-run", "--json"))
    players = next(p for p in report["processors"] if p["name"] == PLAYERS)
    assert players["quarantined"] == [] and [c["game_ids"] for c in players["candidates"]] == [
        [game]]
    replayed = backfill(settings, "dlq", "replay", letter["message_id"])
    assert replayed.returncode == 0, replayed.stderr + replayed.stdout
    assert "1 republished" in replayed.stdout
    assert "replay: 1 to do" in replayed.stderr  # plain progress lines off a terminal
    replay_run = re.search(r"\(run (\w+)\)", replayed.stdout)
    assert replay_run, replayed.stdout
    assert json_out(backfill(settings, "dlq", "list", "--json")) == []
    assert json_out(backfill(settings, "quarantine", "list", *ON_DAY, "--json")) == []

    assert dict(work_queue(settings, [request_id]).outcomes) == {"succeeded": 1}
    assert game_ids(warehouse, PLAYERS, DAY) == games
    detected = json_out(backfill(settings, "detect", "--start-date", str(DAY), "--end-date",
                                 str(DAY), "--dry-run", "--json"))
    assert all(not p["candidates"] and not p["quarantined"] for p in detected["processors"])
    history = json_out(backfill(settings, "history", "--processor", PLAYERS, "--date", str(DAY),
                                "--json"))
    assert [(r["outcome"], r["reason"]) for r in reversed(history)] == [
        ("partial", "manual"), ("succeeded", "replay")]
    (replay_row,) = json_out(backfill(settings, "history", "--run", replay_run[1], "--json"))
    assert (replay_row["outcome"], replay_row["request_id"]) == ("succeeded", request_id)
    shown_run = json_out(backfill(settings, "runs", "show", replay_run[1], "--json"))
    assert (shown_run["trigger"], shown_run["published"], shown_run["state"]) == (
        "replay", 1, "done")


def test_quarantine_list_and_release_through_the_cli(settings: Settings,
                                                     warehouse: DuckDBWarehouse) -> None:
    game, original = poison(settings, DAY)
    empty(warehouse, PLAYERS, DAY)
    _, ids = published_ids(backfill(settings, "publish", "--processor", PLAYERS, "--date",
                                    str(DAY)).stdout)
    assert dict(work_queue(settings, ids).outcomes) == {"partial": 1}
    listed = backfill(settings, "quarantine", "list", "--processor", PLAYERS, *ON_DAY)
    assert "1 games held in quarantine" in listed.stdout and game in listed.stdout
    assert "3O:12" in listed.stdout
    restore(warehouse, DAY, original)  # a code or data fix that does not re-process Phase 2

    released = backfill(settings, "quarantine", "release", "--processor", PLAYERS, "--date",
                        str(DAY), "--game", game)

    assert released.returncode == 0, released.stderr
    found = re.search(r"released 1 games of player_game_summary 2024-11-06; published request "
                      r"(\S+) \(run (\w+)\)", released.stdout)
    assert found, released.stdout
    assert json_out(backfill(settings, "quarantine", "list", *ON_DAY, "--json")) == []
    assert dict(work_queue(settings, [found[1]]).outcomes) == {"succeeded": 1}
    assert game in game_ids(warehouse, PLAYERS, DAY)
    shown = json_out(backfill(settings, "runs", "show", found[2], "--json"))
    assert (shown["trigger"], shown["published"], shown["outstanding"]) == ("manual", 1, 0)
    again = backfill(settings, "quarantine", "release", "--processor", PLAYERS, "--date",
                     str(DAY))
    assert again.returncode == 1 and "nothing of player_game_summary 2024-11-06 is held" in \
        again.stderr


def test_a_failed_replay_loses_nothing_and_purge_asks_first_and_removes_only_the_chosen(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path,
        tmp_path: Path) -> None:
    empty(warehouse, PLAYERS, DAY)
    warehouse.close()
    app = bootstrap(settings)
    kept, purged = (app.queue.dead_letter(
        Delivery(request.encode(), request.attributes()),
        Why("worker", "PermanentError", why, 1, datetime.now(UTC)), request)
        for request, why in ((Request(processor=PLAYERS, game_date=DAY), "keep me"),
                             (Request(processor=PLAYERS, game_date=DAY), "purge me")))
    app.close()
    # The re-check cannot read the gamebook: nothing is republished, nothing leaves the queue.
    broken = tmp_path / "broken.duckdb"
    shutil.copy(warehouse_path, broken)
    sql(broken, f"DROP TABLE {GAMEBOOK}")
    failed = backfill(settings, "dlq", "replay", "--all", BACKFILL_WAREHOUSE=f"duckdb://{broken}")
    assert failed.returncode == 1
    assert failed.stdout.count("failed") >= 2 and "does not exist" in failed.stdout
    listed = json_out(backfill(settings, "dlq", "list", "--json"))
    assert sorted(d["message_id"] for d in listed) == sorted([kept, purged])

    refused = backfill(settings, "dlq", "purge", purged)  # no terminal, no "y": aborted
    assert refused.returncode == 1 and "aborted" in refused.stderr
    removed = backfill(settings, "dlq", "purge", purged, "--yes")
    assert removed.returncode == 0 and f"{purged} {PLAYERS} {DAY}" in removed.stdout
    left = json_out(backfill(settings, "dlq", "list", "--json"))
    assert [d["message_id"] for d in left] == [kept]
    assert "purged 0" in backfill(settings, "dlq", "purge", "--older-than", "1d",
                                  "--yes").stdout


# -- runs: progress, ETA, cancel (issue 17) -----------------------------------------------------

@pytest.fixture
def slow(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Path]]:
    """Settings adding `slow_offense` (team offense into a table of its own, absent: every
    date of the window is a gap), each date taking a second longer; and the fault plan."""
    processors = tmp_path / "processors.toml"
    processors.write_text(f'[[processor]]\nname = "{SLOW}"\n'
                          'class = "tests.faults:FaultyTeamOffense"\n'
                          f'target = "nba_analytics.{SLOW}"\n')
    plan = FaultPlan.write(tmp_path / "plan.json", {"sleep": {
        f"{SLOW}/{day}": 1.0 for day in SEED_WINDOW.dates()}})
    yield settings.model_copy(update={"processors_file": str(processors)}), plan.path


def detect_slow(settings: Settings) -> tuple[str, int]:
    result = backfill(settings, "detect", "--start-date", str(SEED_WINDOW.start),
                      "--end-date", str(SEED_WINDOW.end), "--processor", SLOW, "--json")
    assert result.returncode == 0, result.stderr
    report = json_out(result)
    return report["run_id"], report["published"]


def progress(settings: Settings, run_id: str) -> RunProgress:
    """The run's progress read in-process (polling by subprocess would cost a second a look)."""
    warehouse = DuckDBWarehouse(Path(settings.warehouse.removeprefix("duckdb://")))
    ops = OpsTables(settings.audit_dataset)
    now = datetime.now(UTC)
    try:
        return run_progress(warehouse, ops, find_run(warehouse, ops, run_id, now=now), now=now,
                            stall_after=timedelta(hours=1))
    finally:
        warehouse.close()


def slow_dates(warehouse: DuckDBWarehouse) -> set[date]:
    """The dates `slow_offense` has rows of."""
    return {r["game_date"] for r in rows(warehouse, SLOW_TABLE, SEED_WINDOW.start,
                                         SEED_WINDOW.end)}


def test_a_runs_progress_adds_up_mid_way_has_an_eta_and_ends_equal_to_the_audit_trail(
        slow: tuple[Settings, Path], warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    settings, plan = slow
    warehouse.close()
    run_id, published = detect_slow(settings)
    assert published >= 10
    worker = start_backfill(settings, "worker", "--concurrency", "1",
                            log=tmp_path / "worker.log", **{PLAN_VARIABLE: str(plan)})
    try:
        wait_for(lambda: progress(settings, run_id).ended >= 2, seconds=60, what="2 ended")
        mid = json_out(backfill(settings, "runs", "show", run_id, "--json"))
        wait_for(lambda: progress(settings, run_id).outstanding == 0, seconds=120,
                 what="the drain")
    finally:
        stop(worker)
    assert (mid["published"], mid["state"], mid["trigger"]) == (published, "running", "cli")
    assert 0 < mid["ended"] < published
    assert mid["ended"] + mid["outstanding"] == mid["published"]
    (slow_mid,) = mid["processors"]
    assert slow_mid["succeeded"] + slow_mid["outstanding"] == published
    assert mid["rate_per_minute"] > 0
    assert mid["eta"] is not None and datetime.fromisoformat(mid["eta"]) > datetime.now(UTC) - \
        timedelta(minutes=1)

    done = json_out(backfill(settings, "runs", "show", run_id, "--json"))
    assert (done["outstanding"], done["ended"], done["state"]) == (0, published, "done")
    trail = json_out(backfill(settings, "history", "--run", run_id, "--limit", "1000", "--json"))
    ended = Counter(r["outcome"] for r in trail if r["outcome"] != "failed_attempt")
    (slow_done,) = done["processors"]
    assert ended == {"succeeded": published} == {
        k: v for k, v in slow_done.items() if k in ended}
    assert {r["run_id"] for r in trail} == {run_id}
    text = backfill(settings, "runs", "show", run_id)
    assert f"{published} of {published} ended, 0 outstanding" in text.stdout
    assert slow_dates(warehouse) == {date.fromisoformat(r["game_date"]) for r in trail}


def test_a_cancelled_run_drains_in_seconds_writes_nothing_more_and_its_gaps_come_back(
        slow: tuple[Settings, Path], warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    settings, plan = slow
    warehouse.close()
    run_id, published = detect_slow(settings)
    worker = start_backfill(settings, "worker", "--concurrency", "1",
                            log=tmp_path / "worker.log", **{PLAN_VARIABLE: str(plan)})
    try:
        wait_for(lambda: progress(settings, run_id).ended >= 2, seconds=60, what="2 ended")
        cancelled = backfill(settings, "runs", "cancel", run_id)
        at = time.monotonic()
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"cancelled run {run_id} ({published} requests published)" in cancelled.stdout
        wait_for(lambda: progress(settings, run_id).outstanding == 0, seconds=30,
                 what="the cancelled run to drain")
        drained = time.monotonic() - at
    finally:
        stop(worker)
    # Left alone, each remaining request had a second of work; cancelled, they drain at once.
    shown = json_out(backfill(settings, "runs", "show", run_id, "--json"))
    (counts,) = shown["processors"]
    assert shown["state"] == "cancelled, drained" and shown["cancelled_at"]
    assert counts["succeeded"] + counts["cancelled"] == published
    assert counts["cancelled"] >= published - 5
    assert counts["cancelled"] > 6 > drained  # they had a second of work each
    trail = json_out(backfill(settings, "history", "--run", run_id, "--limit", "1000", "--json"))
    by_outcome: dict[str, set[date]] = {}
    for row in trail:
        by_outcome.setdefault(row["outcome"], set()).add(date.fromisoformat(row["game_date"]))
    assert len(by_outcome["cancelled"]) == counts["cancelled"]
    # Rows already written stay; nothing was written for the cancelled requests.
    assert slow_dates(warehouse) == by_outcome["succeeded"]
    assert not slow_dates(warehouse) & by_outcome["cancelled"]
    # The next detection finds exactly what the cancel left undone.
    again = json_out(backfill(settings, "detect", "--start-date", str(SEED_WINDOW.start),
                              "--end-date", str(SEED_WINDOW.end), "--processor", SLOW,
                              "--dry-run", "--json"))
    (slow_report,) = again["processors"]
    assert {date.fromisoformat(c["game_date"]) for c in slow_report["candidates"]} == \
        by_outcome["cancelled"]


def test_a_message_typed_with_the_gcloud_cli_without_a_reason_is_filled_under_a_manual_run(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    lost = empty(warehouse, OFFENSE, DAY)
    warehouse.close()
    host = settings.pubsub_emulator_host
    assert host
    gcloud = subprocess.run(
        ["gcloud", "pubsub", "topics", "publish", settings.requests_topic,
         f'--message={{"processor": "{OFFENSE}", "game_date": "{DAY}"}}'],
        env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
             "CLOUDSDK_CORE_PROJECT": settings.project,
             "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{host}/",
             "CLOUDSDK_AUTH_ACCESS_TOKEN": "emulator",  # any token: the emulator checks none
             "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        capture_output=True, text=True, timeout=120, check=False)
    assert gcloud.returncode == 0, gcloud.stderr
    message_id = re.search(r"messageIds:\s*- '(\w+)'", gcloud.stdout)
    assert message_id, gcloud.stdout

    app = bootstrap(settings)
    results: list[WorkResult] = []
    done = threading.Event()

    # The typed request, then the players' request its write publishes under the same run.
    def finished(result: WorkResult) -> None:
        results.append(result)
        if len(results) == 2:
            done.set()

    serving = threading.Thread(target=serve, args=(app.worker(), lambda handle, n: consumer(
        settings, handle, n), done), kwargs={"concurrency": 1, "on_result": finished})
    serving.start()
    serving.join(timeout=60)
    app.close()
    assert not serving.is_alive()

    result, follow_up = results
    assert result.outcome == "succeeded", result.error
    assert result.request is not None and result.request.reason is Reason.MANUAL
    assert result.request.detection_run_id is None
    run_id = result.request.run_id
    assert run_id.startswith("manual-")
    assert len(rows(warehouse, OFFENSE, DAY)) == len(lost)
    (run,) = [r for r in json_out(backfill(settings, "runs", "--json")) if r["run_id"] == run_id]
    # The games it wrote are new to the players: the worker published their request under the
    # same run, and the run counts both.
    assert follow_up.request is not None and follow_up.request.run_id == run_id
    assert (follow_up.request.processor, follow_up.request.reason) == (
        PLAYERS, Reason.UPSTREAM_CHANGED)
    assert (run["trigger"], run["started_by"], run["published"], run["outstanding"]) == (
        "manual", f"message {message_id[1]}", 2, 0)
    trail = json_out(backfill(settings, "history", "--run", run_id, "--json"))
    assert sorted((r["processor"], r["reason"]) for r in trail) == sorted(
        [(OFFENSE, "manual"), (PLAYERS, "upstream_changed")])
