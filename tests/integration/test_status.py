"""Coverage: `backfill status` as numbers, and its HTML page rendered in real headless Chromium:
a calendar per processor, each date coloured by its state (missing, outdated, dead-lettered,
quarantined, waiting...), and the latest runs with a progress bar each, a stalled one flagged."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from backfill.bootstrap import bootstrap
from backfill.domain.dead_letter import Why
from backfill.domain.outcome import Outcome
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seed.league import PHASE2_SCHEMAS
from backfill.local.status_page import COLOURS
from backfill.ports import Delivery, Replace
from backfill.processors.nba_raw import TEAM_BOXSCORE
from backfill.settings import Settings

from tests.support import (
    CONTEXT,
    DEFENSE,
    OFFENSE,
    PLAYERS,
    REGISTRY,
    SEED_WINDOW,
    backfill,
    drop_games,
    empty,
    game_ids,
    json_out,
    put,
    rows,
)

MISSING_DAY, DEAD_DAY, PARTIAL_DAY = date(2024, 11, 5), date(2024, 11, 9), date(2024, 11, 12)
OUTDATED_DAY, HELD_DAY = date(2024, 11, 3), date(2024, 11, 7)
WINDOW = ["--start-date", str(SEED_WINDOW.start), "--end-date", str(SEED_WINDOW.end)]
# A run with nothing ended for 1.2 s counts as stalled here (an hour by default).
STALL = {"BACKFILL_RUN_STALL_MINUTES": "0.02"}


def publish(settings: Settings, processor: str, day: date) -> str:
    done = backfill(settings, "publish", "--processor", processor, "--date", str(day))
    assert done.returncode == 0, done.stderr
    found = re.search(r"\(run (\w+)\)", done.stdout)
    assert found, done.stdout
    return found[1]


def make_states(settings: Settings, warehouse: DuckDBWarehouse) -> dict[str, Any]:
    """A date of each state, and runs: one done, one stalled. Returns what was made."""
    empty(warehouse, DEFENSE, MISSING_DAY)
    empty(warehouse, PLAYERS, DEAD_DAY)
    (lost,) = game_ids(warehouse, PLAYERS, PARTIAL_DAY)[:1]
    drop_games(warehouse, PLAYERS, PARTIAL_DAY, {lost})
    # Rows an older version of team defense wrote: outdated.
    put(warehouse, DEFENSE, OUTDATED_DAY, [{**r, "processor_version": "0"} for r in
                                            rows(warehouse, DEFENSE, OUTDATED_DAY)])
    # One game's team box score has a NULL: team offense refuses it (quarantined) and that
    # game's player summaries wait on it.
    box = rows(warehouse, TEAM_BOXSCORE, HELD_DAY)
    home = min((r for r in box if r["is_home"]), key=lambda r: r["game_id"])
    home["points"] = None
    warehouse.write([Replace(TEAM_BOXSCORE, HELD_DAY, HELD_DAY, box,
                             PHASE2_SCHEMAS[TEAM_BOXSCORE])])
    held = next(g for g in game_ids(warehouse, OFFENSE, HELD_DAY)
                if home["team_abbr"] in g.split("_")[1:])
    drop_games(warehouse, OFFENSE, HELD_DAY, {held})
    drop_games(warehouse, PLAYERS, HELD_DAY, {held})
    app = bootstrap(settings)
    result = app.worker().handle(Delivery(Request(processor=OFFENSE, game_date=HELD_DAY)
                                          .encode()))
    assert result.outcome is Outcome.PARTIAL and list(result.refused) == [held]
    # The worker's own kind of dead letter, for the date whose players are missing.
    request = Request(processor=PLAYERS, game_date=DEAD_DAY, reason=Reason.MISSING)
    app.queue.dead_letter(Delivery(request.encode()),
                          Why("worker", "PermanentError", "bad minutes", 1, datetime.now(UTC)),
                          request)
    app.close()
    warehouse.close()
    done = publish(settings, CONTEXT, date(2024, 11, 13))  # complete: skipped, at once
    worked = backfill(settings, "run", "--start-date", "2024-11-13", "--end-date",
                      "2024-11-13", "--processor", CONTEXT, "--json")
    assert worked.returncode == 0, worked.stderr
    stalled = publish(settings, PLAYERS, date(2024, 11, 10))  # nobody works it
    time.sleep(1.5)  # longer than STALL without anything of it ending
    return {"lost": lost, "held": held, "done": done, "stalled": stalled}


@pytest.fixture
def made(settings: Settings, warehouse: DuckDBWarehouse) -> dict[str, Any]:
    return make_states(settings, warehouse)


def test_status_counts_dates_and_games_by_state_and_lists_the_runs(
        settings: Settings, made: dict[str, Any]) -> None:
    result = backfill(settings, "status", *WINDOW, "--json", **STALL)
    assert result.returncode == 0, result.stderr
    report = json_out(result)
    by_name = {p["name"]: p for p in report["processors"]}
    assert set(by_name) == set(REGISTRY.names)
    defense, players, offense = by_name[DEFENSE], by_name[PLAYERS], by_name[OFFENSE]
    # The held game's box score changed (a NULL): team defense reads it too, so it is stale.
    assert Counter(defense["dates"]) == Counter(missing=1, outdated=1, stale=1,
                                                complete=defense["dates"]["complete"])
    assert offense["dates"]["quarantined"] == 1 and offense["games"]["quarantined"] == 1
    assert (players["dates"]["dead_lettered"], players["dates"]["missing"],
            players["dates"]["waiting"]) == (1, 1, 1)
    assert (players["games"]["missing"], players["games"]["waiting"]) == (1, 1)
    days = {d["game_date"]: d for d in players["days"]}
    assert days[str(DEAD_DAY)]["state"] == "dead_lettered"
    assert days[str(PARTIAL_DAY)]["not_complete"] == {made["lost"]: "missing"}
    assert days[str(HELD_DAY)]["not_complete"] == {made["held"]: "waiting"}
    offense_held = next(d for d in offense["days"] if d["game_date"] == str(HELD_DAY))
    assert (offense_held["state"], offense_held["not_complete"]) == (
        "quarantined", {made["held"]: "quarantined"})
    assert sum(players["games"].values()) == sum(len(d["games"]) for d in players["days"])
    with_games = sum(d["state"] != "no_games" for d in players["days"])
    assert players["dates"]["complete"] == with_games - 3

    runs = {r["run_id"]: r for r in report["runs"]}
    assert (runs[made["done"]]["state"], runs[made["done"]]["outstanding"]) == ("done", 0)
    assert (runs[made["stalled"]]["state"], runs[made["stalled"]]["stalled"],
            runs[made["stalled"]]["outstanding"]) == ("stalled", True, 1)
    manual = [r for r in report["runs"] if r["run_id"].startswith("manual-")]
    assert [(r["trigger"], r["state"]) for r in manual] == [("manual", "done")]

    table = backfill(settings, "status", *WINDOW, **STALL)
    assert re.search(r"team_defense_game_summary .*│ +1 / \d+ │", table.stdout), table.stdout
    assert made["stalled"] in table.stdout and "stalled" in table.stdout


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


def pixels(png: bytes) -> Counter[str]:
    """How many pixels of each colour (#rrggbb) an 8-bit RGB or RGBA PNG has."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, b"", b""
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at:at + 4]), png[at + 4:at + 8]
        body = png[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    stride, raw = width * step, zlib.decompress(chunks)
    counts: Counter[str] = Counter()
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))[2]
                line[i] = (line[i] + near) & 0xFF
        counts.update(f"#{line[i]:02x}{line[i + 1]:02x}{line[i + 2]:02x}"
                      for i in range(0, stride, step))
        previous = line
    return counts


def test_the_html_page_renders_in_chromium_coloured_by_state_with_the_runs(
        settings: Settings, made: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "coverage.html"
    result = backfill(settings, "status", *WINDOW, "--html", str(page), **STALL)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert "<script" not in html and "http" not in html  # self-contained, fetches nothing

    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    calendars = re.findall(r'<section class="calendar" data-processor="([a-z_]+)"', dom.stdout)
    assert sorted(calendars) == sorted(REGISTRY.names)
    cells = re.findall(r'<td class="[a-z_]+" style="background:(#[0-9a-f]{6})" '
                       r'data-date="([0-9-]+)" data-state="([a-z_]+)" title="([^"]*)"',
                       dom.stdout)
    by_state = {state: colour for colour, _, state, _ in cells}
    expected = ("complete", "missing", "outdated", "dead_lettered", "quarantined", "waiting")
    assert {s: by_state.get(s) for s in expected} == {s: COLOURS[s] for s in expected}
    assert len({COLOURS[s] for s in expected}) == len(expected)
    held = [(day, tip) for _, day, state, tip in cells if state == "quarantined"]
    assert held == [(str(HELD_DAY), held[0][1])] and made["held"] in held[0][1]
    runs = dict(re.findall(r'<tr data-run="(\w+(?:-\w+)?)" data-state="([a-z, ]+)">',
                           dom.stdout))
    assert (runs[made["done"]], runs[made["stalled"]]) == ("done", "stalled")
    stalled_row = re.search(rf'<tr data-run="{made["stalled"]}".*?</tr>', dom.stdout)
    assert stalled_row and '<span class="stalled">stalled</span>' in stalled_row[0]
    assert '<i style="width:0%"></i></span> 0/1' in stalled_row[0]
    done_row = re.search(rf'<tr data-run="{made["done"]}".*?</tr>', dom.stdout)
    assert done_row and '<i style="width:100%"></i></span> 1/1' in done_row[0]

    shot = tmp_path / "status.png"
    rendered = chromium(f"--screenshot={shot}", "--window-size=1400,1800",
                        "--hide-scrollbars", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr
    colours = pixels(shot.read_bytes())
    # Each state is painted: at least a cell's worth of its exact colour (a cell is 26 x 26).
    painted = {s: colours[COLOURS[s]] for s in expected}
    assert all(n >= 300 for n in painted.values()), painted
    keep = Path("build/status-screenshot.png").resolve()
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(shot, keep)  # for a person to look at
