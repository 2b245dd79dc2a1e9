"""Coverage: `backfill status` as numbers, and its HTML page rendered in real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from backfill.bootstrap import queue_from_settings, registry_from_file
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import backfill

REGISTRY = registry_from_file(None)
DEFENSE = REGISTRY.get("team_defense_game_summary")
PLAYERS = REGISTRY.get("player_game_summary")
MISSING_DAY, DEAD_DAY, PARTIAL_DAY = date(2024, 11, 5), date(2024, 11, 9), date(2024, 11, 12)
WINDOW = ["--start-date", "2024-11-01", "--end-date", "2024-11-14"]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile, nothing fetched in the background."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: `make browser` installs it"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=False)


def make_gaps(settings: Settings, warehouse: DuckDBWarehouse) -> None:
    """A missing date, a dead-lettered date, and a date missing one game of several."""
    warehouse.replace_range(DEFENSE.target, MISSING_DAY, MISSING_DAY, [], DEFENSE.schema)
    warehouse.replace_range(PLAYERS.target, DEAD_DAY, DEAD_DAY, [], PLAYERS.schema)
    rows = warehouse.read_rows(PLAYERS.target, PARTIAL_DAY, PARTIAL_DAY)
    lost = min(r["game_id"] for r in rows)
    warehouse.replace_range(PLAYERS.target, PARTIAL_DAY, PARTIAL_DAY,
                            [r for r in rows if r["game_id"] != lost], PLAYERS.schema)
    # The worker's own kind of dead letter, published the way the worker publishes it.
    queue_from_settings(settings).dead_letter(
        Request(processor=PLAYERS.name, game_date=DEAD_DAY, reason=Reason.MISSING).encode(),
        {"error_type": "PermanentError", "error_message": "bad minutes", "attempts": "1",
         "dead_lettered_by": "worker"})


def test_status_counts_dates_and_games_by_state(settings: Settings,
                                                warehouse: DuckDBWarehouse) -> None:
    make_gaps(settings, warehouse)
    result = backfill(settings, "status", *WINDOW, "--json")
    assert result.returncode == 0, result.stderr
    by_name = {p["name"]: p for p in json.loads(result.stdout)["processors"]}
    assert set(by_name) == set(REGISTRY.names)
    players, defense = by_name[PLAYERS.name], by_name[DEFENSE.name]
    assert defense["dates"]["missing"] == 1 and "dead_lettered" not in defense["dates"]
    assert (players["dates"]["dead_lettered"], players["dates"]["missing"]) == (1, 1)
    assert players["games"]["missing"] == 1
    days = {d["game_date"]: d for d in players["days"]}
    assert days[str(DEAD_DAY)]["state"] == "dead_lettered"
    assert len(days[str(PARTIAL_DAY)]["gap_games"]) == 1
    total_games = sum(len(d["games"]) for d in players["days"])
    assert sum(players["games"].values()) == total_games
    assert players["dates"]["complete"] == 14 - 2 - sum(d["state"] == "no_games"
                                                        for d in players["days"])

    table = backfill(settings, "status", *WINDOW, COLUMNS="200")
    assert re.search(r"team_defense_game_summary .*│ +1 / \d+ │", table.stdout), table.stdout


def test_status_html_shows_one_calendar_per_processor_in_chromium(
        settings: Settings, warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    make_gaps(settings, warehouse)
    page = tmp_path / "coverage.html"
    result = backfill(settings, "status", *WINDOW, "--html", str(page))
    assert result.returncode == 0, result.stderr
    assert "<script" not in page.read_text() and "http" not in page.read_text()

    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    calendars = re.findall(r'<section class="calendar" data-processor="([a-z_]+)"', dom.stdout)
    assert sorted(calendars) == sorted(REGISTRY.names)
    cell = re.search(rf'data-date="{DEAD_DAY}" data-state="dead_lettered" title="([^"]*)"',
                     dom.stdout)
    assert cell and "games (" in cell[1]

    shot = Path("build/status-screenshot.png").resolve()
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    rendered = chromium(f"--screenshot={shot}", "--window-size=1200,1600",
                        "--hide-scrollbars", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
