"""Each reason a gap can have, planted with the decoys in a real warehouse, through the real CLI.

The warehouse comes from the `warehouse` fixture and reaches the CLI by its URL, so these tests
run on every warehouse adapter the fixture is parametrised over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from backfill.adapters.pubsub_queue import ensure_topology
from backfill.bootstrap import build_worker, registry_from_file
from backfill.domain.games import TYPE_CODES
from backfill.domain.request import Reason, Request
from backfill.domain.window import Window
from backfill.local.cycle import topology
from backfill.local.plant import Case, Planted, covering, plant
from backfill.ports import Warehouse
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.service.gaps import date_gap, processor_gaps
from backfill.service.status import UPSTREAM, coverage
from backfill.service.work import Outcome
from backfill.settings import Settings

from tests.conftest import SEED_WINDOW
from tests.support import unique_settings

REGISTRY = registry_from_file(None)


def backfill(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backfill.local.cli", *args],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=300, check=False)


def window_flags(window: Window) -> list[str]:
    return ["--start-date", window.start.isoformat(), "--end-date", window.end.isoformat()]


def detect_json(warehouse: Warehouse, window: Window, *flags: str) -> dict[str, Any]:
    result = backfill({}, "--warehouse", warehouse.url, "detect", *window_flags(window),
                      "--dry-run", "--json", *flags)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def reported(report: dict[str, Any]) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(processor, date, games, reason) of every candidate; (processor, date, games) upstream."""
    candidates = {(p["name"], c["game_date"], *c["game_ids"], c["reason"])
                  for p in report["processors"] for c in p["candidates"]}
    upstream = {(p["name"], g["game_date"], *g["game_ids"])
                for p in report["processors"] for g in p["upstream_gaps"]}
    return candidates, upstream


def expected(defect: Planted) -> set[tuple[str, ...]]:
    suffix = () if defect.case is Case.UPSTREAM else (defect.case.value,)
    return {(name, defect.game_date.isoformat(), *defect.game_ids, *suffix)
            for name in defect.processors}


@pytest.fixture
def queue_settings(warehouse: Warehouse, pubsub_emulator: str) -> Settings:
    """Queue names of the test's own (created), on the `warehouse` fixture's warehouse."""
    made = replace(unique_settings(Path("unused")), warehouse=warehouse.url)
    ensure_topology(topology(made))
    return made


@pytest.mark.parametrize("case", [Case.MISSING, Case.INCOMPLETE, Case.STALE, Case.UPSTREAM])
def test_detect_reports_exactly_the_planted_defect_and_nothing_for_the_decoys(
        warehouse: Warehouse, case: Case) -> None:
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [case, Case.DECOYS])
    defect = planted[0]
    assert defect.processors and len(planted) == 5  # the defect and four decoys

    candidates, upstream = reported(detect_json(warehouse, covering(SEED_WINDOW, planted)))

    if case is Case.UPSTREAM:
        assert (candidates, upstream) == (set(), expected(defect))
    else:
        assert (candidates, upstream) == (expected(defect), set())


def test_without_the_rules_the_decoys_would_be_gaps(warehouse: Warehouse) -> None:
    """The decoys are real traps: processors comparing raw ids of every game type fall in."""
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.DECOYS])
    window = covering(SEED_WINDOW, planted)

    class Naive(TeamDefenseGameSummary):
        game_types = frozenset(TYPE_CODES)
        game_key = staticmethod(lambda day, game_id: (day, game_id))

    found = processor_gaps(warehouse, Naive(), window)
    named = {g for c in [*found.candidates, *found.upstream] for g in c.game_ids}
    assert named == {g for p in planted for g in p.game_ids}
    assert not processor_gaps(warehouse, TeamDefenseGameSummary(), window).candidates


def test_the_worker_fixes_incomplete_and_stale_games_and_the_next_detection_is_clean(
        warehouse: Warehouse, queue_settings: Settings) -> None:
    offense, player = REGISTRY.get("team_offense_game_summary"), REGISTRY.get("player_game_summary")
    complete = warehouse.read_rows(offense.target, SEED_WINDOW.start, SEED_WINDOW.end)
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.INCOMPLETE, Case.STALE, Case.DECOYS])
    incomplete, stale = planted[0], planted[1]
    window = covering(SEED_WINDOW, planted)
    assert date_gap(warehouse, player, stale.game_date) is not None

    ran = backfill(queue_settings.environment(), "run", *window_flags(window), "--json")

    assert ran.returncode == 0, ran.stderr
    counts = json.loads(ran.stdout)
    assert (counts["detected"], counts["published"], counts["succeeded"]) == (2, 2, 2)
    assert incomplete.game_date in SEED_WINDOW.dates()
    assert warehouse.read_rows(offense.target, SEED_WINDOW.start, SEED_WINDOW.end) == complete
    source = warehouse.read_rows(player.source, stale.game_date, stale.game_date)
    newest = max(r["processed_at"] for r in source if r["game_id"] in stale.game_ids)
    recomputed = [r for r in warehouse.read_rows(player.target, stale.game_date, stale.game_date)
                  if r["game_id"] in stale.game_ids]
    assert recomputed and all(r["source_processed_at"] == newest for r in recomputed)
    assert sum(r["assists"] for r in recomputed) == sum(
        r["assists"] for r in source if r["game_id"] in stale.game_ids and
        r["player_status"] == "active")
    assert reported(detect_json(warehouse, window)) == (set(), set())

    # The worker re-checks with the same rules: the same stale request, now complete, is skipped.
    again = Request(processor=player.name, game_date=stale.game_date, game_ids=stale.game_ids,
                    reason=Reason.STALE)
    assert build_worker(queue_settings).handle(again.encode()).outcome is Outcome.SKIPPED


def test_an_upstream_gap_is_reported_never_published_and_shown_to_status(
        warehouse: Warehouse, queue_settings: Settings) -> None:
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.UPSTREAM, Case.DECOYS])
    window = covering(SEED_WINDOW, planted)

    ran = backfill(queue_settings.environment(), "run", *window_flags(window), "--json")

    assert ran.returncode == 0, ran.stderr
    assert (json.loads(ran.stdout)["detected"], json.loads(ran.stdout)["published"]) == (0, 0)
    assert reported(detect_json(warehouse, window))[1] == expected(planted[0])
    status = {p.name: [(d.game_date, d.gap_games) for d in p.days if d.state == UPSTREAM]
              for p in coverage(warehouse, REGISTRY, window).processors}
    assert status == {p.name: [(planted[0].game_date, planted[0].game_ids)]
                      if p.name in planted[0].processors else [] for p in REGISTRY.ordered()}


def test_an_unreadable_schedule_fails_the_detection_but_still_reports_the_gaps(
        warehouse: Warehouse) -> None:
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.MISSING])
    warehouse.drop_table(REGISTRY.get("upcoming_team_game_context").source)
    result = backfill({}, "--warehouse", warehouse.url, "detect", *window_flags(SEED_WINDOW),
                      "--processor", planted[0].processors[0], "--dry-run", "--json")
    assert result.returncode == 1
    (only,) = json.loads(result.stdout)["processors"]
    assert only["status"] == "ok" and "nba_raw.nbac_schedule" in only["upstream_error"]
    assert [c["reason"] for c in only["candidates"]] == ["missing"]


def test_seed_plants_each_case_on_request(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'planted.duckdb'}"
    seeded = backfill({}, "--warehouse", url, "seed", "--start-date", "2024-11-01",
                      "--end-date", "2024-11-08", "--plant", "stale", "--plant", "upstream")
    assert seeded.returncode == 0, seeded.stderr
    assert "planted stale" in seeded.stdout and "planted upstream" in seeded.stdout
    detected = backfill({}, "--warehouse", url, "detect", "--start-date", "2024-11-01",
                        "--end-date", "2024-11-08", "--dry-run", "--json")
    candidates, upstream = reported(json.loads(detected.stdout))
    assert {c[-1] for c in candidates} == {"stale"}
    assert {u[0] for u in upstream} == {"team_offense_game_summary", "team_defense_game_summary",
                                        PlayerGameSummary.name}

    wrong = backfill({}, "--warehouse", url, "seed", "--start-date", "2024-11-01",
                     "--end-date", "2024-11-08", "--plant", "late")
    assert wrong.returncode == 2 and "--plant" in wrong.stderr
