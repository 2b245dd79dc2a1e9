"""Each reason a gap can have, planted with the decoys by `backfill seed --plant`, reported by the
real CLI exactly, and nothing for the decoys (flipped ids in Phase 2 and Phase 3, an All-Star
game, preseason games, a postponed game)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from backfill.bootstrap import bootstrap
from backfill.domain.fingerprint import Inputs
from backfill.domain.games import GAME_TYPES, flipped
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason, Request
from backfill.domain.schedule import Schedule
from backfill.domain.tables import OpsTables
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.plant import Case, Planted, covering, plant
from backfill.ports import Delivery, Read
from backfill.processors.nba_raw import GAMEBOOK, SCHEDULE, TEAM_BOXSCORE
from backfill.processors.registry import Registry
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.service.detect import find_gaps
from backfill.settings import Settings

from tests.support import (
    DEFENSE,
    OFFENSE,
    PLAYERS,
    REGISTRY,
    SEED_WINDOW,
    backfill,
    canon,
    json_out,
    rows,
    sql,
    unique_settings,
)


def flags(window: Window) -> list[str]:
    return ["--start-date", window.start.isoformat(), "--end-date", window.end.isoformat()]


def detect_json(settings: Settings, window: Window, *more: str) -> dict[str, Any]:
    result = backfill(settings, "detect", *flags(window), "--dry-run", "--json", *more)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json_out(result)
    return report


def reported(report: dict[str, Any]) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(processor, date, games..., reason) of every candidate; (processor, date, games...) of
    every upstream gap."""
    candidates = {(p["name"], c["game_date"], *c["game_ids"], c["reason"])
                  for p in report["processors"] for c in p["candidates"]}
    upstream = {(p["name"], g["game_date"], *g["game_ids"])
                for p in report["processors"] for g in p["upstream_gaps"]}
    return candidates, upstream


def expected(defect: Planted) -> set[tuple[str, ...]]:
    suffix = () if defect.case.upstream_gap else (defect.case.value,)
    return {(name, defect.game_date.isoformat(), *defect.game_ids, *suffix)
            for name in defect.processors}


@pytest.mark.parametrize("case", [Case.MISSING, Case.INCOMPLETE, Case.STALE, Case.UPSTREAM,
                                  Case.DUPLICATE])
def test_seed_plants_the_defect_and_detect_reports_exactly_it_and_nothing_for_the_decoys(
        case: Case, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    # What planting does to a warehouse seeded the same way (the seed is deterministic).
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [case, Case.DECOYS])
    defect, decoys = planted[0], planted[1:]
    assert defect.case is case and defect.processors and len(decoys) == 4
    fresh = unique_settings(tmp_path / "planted.duckdb")

    seeded = backfill(fresh, "seed", *flags(SEED_WINDOW), "--plant", case.value,
                      "--plant", "decoys")

    assert seeded.returncode == 0, seeded.stderr
    printed = re.findall(r"planted (\w+) (\S+): (.*)", seeded.stdout)
    assert printed == [(p.case.value, p.game_date.isoformat(), p.what) for p in planted]
    window = covering(SEED_WINDOW, planted)
    assert f"detect with --start-date {window.start} --end-date {window.end}" in seeded.stdout
    # The seed wrote the context's 14-day lookback before the window too.
    schedule = DuckDBWarehouse(tmp_path / "planted.duckdb")
    assert min(r["game_date"] for r in schedule.read_rows(Read(
        SCHEDULE, date(2024, 10, 15), SEED_WINDOW.end))) == date(2024, 10, 18)
    schedule.close()

    candidates, upstream = reported(detect_json(fresh, window))

    if case.upstream_gap:
        assert (candidates, upstream) == (set(), expected(defect))
    else:
        assert (candidates, upstream) == (expected(defect), set())
    named = {g for c in candidates for g in c[2:-1]} | {g for u in upstream for g in u[2:]}
    assert not named & {g for d in decoys for g in d.game_ids}


def test_without_the_rules_the_decoys_would_be_gaps(warehouse: DuckDBWarehouse) -> None:
    """The decoys are real traps: ids compared as stored, or every game type checked."""
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.DECOYS])
    flipped_in_phase3, flipped_in_phase2, all_star, preseason = planted
    window = covering(SEED_WINDOW, planted)
    day = flipped_in_phase3.game_date
    box_ids = {r["game_id"] for r in rows(warehouse, TEAM_BOXSCORE, day)}
    defense_ids = {r["game_id"] for r in rows(warehouse, DEFENSE, day)}
    # Compared as stored: the game stored flipped in Phase 3 and the away row stored flipped in
    # Phase 2 would be "missing"; the flipped Phase 3 id would be a game Phase 2 does not have.
    assert box_ids - defense_ids == {flipped_in_phase3.game_ids[0], flipped_in_phase2.game_ids[1]}
    assert defense_ids - box_ids == {flipped(flipped_in_phase3.game_ids[0])}

    class EveryType(TeamDefenseGameSummary):
        name = "every_type_defense"
        game_types = frozenset(GAME_TYPES.values())

    registry = Registry([*REGISTRY.ordered(), EveryType()])
    ops = OpsTables("backfill_ops")
    (naive,) = find_gaps(warehouse, registry, ops, window, [EveryType.name])
    named = {g for c in naive.candidates for g in c.game_ids}
    named |= {g for u in naive.gaps.upstream for g in u.game_ids}
    exhibitions = {g.date_based_id for g in Schedule.from_rows(warehouse.read_rows(
        REGISTRY.schedule_read(window.start, window.end))).games
        if g.game_type in ("preseason", "all_star")}
    # The decoys, and the seed's own preseason games of the lookback before the window.
    assert {*all_star.game_ids, *preseason.game_ids} < exhibitions
    assert named == exhibitions
    (rules,) = find_gaps(warehouse, registry, ops, window, [DEFENSE])
    assert not rules.candidates and not rules.gaps.upstream


def test_the_worker_fixes_incomplete_and_stale_games_and_the_next_detection_is_clean(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    clean = rows(warehouse, OFFENSE, SEED_WINDOW.start, SEED_WINDOW.end)
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.INCOMPLETE, Case.STALE, Case.DECOYS])
    incomplete, stale = planted[0], planted[1]
    window = covering(SEED_WINDOW, planted)
    warehouse.close()

    ran = backfill(settings, "run", *flags(window), "--json")

    assert ran.returncode == 0, ran.stderr
    counts = json_out(ran)
    # Offense incomplete; offense and defense stale; then the stale game's players, published
    # by the worker that changed them, and those of the incomplete date, whose restored game
    # is new to them (skipped: their rows were right).
    assert (counts["detected"], counts["published"], counts["followed_up"], counts["succeeded"],
            counts["skipped"]) == (3, 5, 2, 4, 1)
    day = incomplete.game_date
    assert canon(rows(warehouse, OFFENSE, day)) == canon(r for r in clean if r["game_date"] == day)
    (game,) = stale.game_ids
    for name in (OFFENSE, DEFENSE):
        recomputed = [r for r in rows(warehouse, name, stale.game_date) if r["game_id"] == game]
        assert len(recomputed) == 2 and all(r["inputs"] and r["row_hash"] for r in recomputed)
    players = [r for r in rows(warehouse, PLAYERS, stale.game_date) if r["game_id"] == game]
    active = [r for r in rows(warehouse, GAMEBOOK, stale.game_date)
              if r["game_id"] == game and r["player_status"] == "active"]
    assert len(players) == len(active)
    # Every player row records the one content of its team offense game it was computed from.
    offense_content = {Inputs.from_text(r["inputs"]).by_input[OFFENSE]  # type: ignore[union-attr]
                       for r in players}
    assert len(offense_content) == 1 and None not in offense_content
    assert reported(detect_json(settings, window)) == (set(), set())

    # The worker re-checks with the same rules: the same stale request, now complete, is skipped.
    again = Request(processor=PLAYERS, game_date=stale.game_date, game_ids=stale.game_ids,
                    reason=Reason.STALE)
    app = bootstrap(settings)
    assert app.worker().handle(Delivery(again.encode())).outcome is Outcome.SKIPPED
    app.close()


def test_an_upstream_gap_is_reported_never_published_and_shown_by_status(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    planted = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.UPSTREAM, Case.DECOYS])
    defect = planted[0]
    window = covering(SEED_WINDOW, planted)
    warehouse.close()
    assert set(defect.processors) == {OFFENSE, DEFENSE, PLAYERS}

    ran = backfill(settings, "run", *flags(window), "--json")

    assert ran.returncode == 0, ran.stderr
    assert (json_out(ran)["detected"], json_out(ran)["published"]) == (0, 0)
    assert reported(detect_json(settings, window))[1] == expected(defect)
    status = backfill(settings, "status", *flags(window), "--json")
    assert status.returncode == 0, status.stderr
    upstream = {p["name"]: [(d["game_date"], d["gap_games"]) for d in p["days"]
                            if d["state"] == "upstream"]
                for p in json_out(status)["processors"]}
    assert upstream == {name: [(defect.game_date.isoformat(), list(defect.game_ids))]
                        if name in defect.processors else [] for name in REGISTRY.names}


def test_an_unreadable_schedule_fails_the_detection_but_still_reports_the_gaps(
        settings: Settings, warehouse: DuckDBWarehouse, warehouse_path: Path) -> None:
    (defect,) = plant(warehouse, REGISTRY, SEED_WINDOW, [Case.MISSING])
    warehouse.close()
    sql(warehouse_path, f"DROP TABLE {SCHEDULE}")

    result = backfill(settings, "detect", *flags(SEED_WINDOW), "--processor", DEFENSE,
                      "--dry-run", "--json")

    assert result.returncode == 1
    (only,) = json_out(result)["processors"]
    assert only["status"] == "ok" and str(SCHEDULE) in only["upstream_error"]
    assert [(c["game_date"], c["reason"]) for c in only["candidates"]] == \
        [(defect.game_date.isoformat(), "missing")]


def test_seed_refuses_an_unknown_case_naming_the_option(tmp_path: Path) -> None:
    wrong = backfill(unique_settings(tmp_path / "w.duckdb"), "seed", *flags(SEED_WINDOW),
                     "--plant", "late")
    assert wrong.returncode == 2 and "--plant" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w.duckdb").exists()
