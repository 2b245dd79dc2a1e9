"""`make bench` cannot rot: its smoke version runs every row end to end (timings not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.support import REPO

# Lines per row of the table (bench/__main__.py: lines), whatever the figures.
EXPECTED_LINES = {"1": 2, "2": 1, "3": 6, "4": 6, "5": 1, "6": 2, "7": 7, "8": 9}
# The goals the table must judge (met yes or NO), among others.
GOALS = ("2", "1", "0", "<= 1.3x", ">= 50x", "<= 1x", "<= 1.2x", "< 150 MB")


def test_the_benchmark_fills_every_row_of_its_table(pubsub_emulator: str,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(out.read_text(encoding="utf-8"))
    lines = found["lines"]
    assert Counter(line["row"] for line in lines) == EXPECTED_LINES
    for line in lines:
        assert line["measured"] and "nan" not in json.dumps(line).lower(), line
        # A line with a goal says whether it is met; one without (or with a goal shown in
        # parentheses, judged on another line) says nothing.
        judged = bool(line["goal"]) and not line["goal"].startswith("(")
        assert (line["met"] is not None) == judged, line
    assert {line["goal"] for line in lines} >= set(GOALS)
    # Both profiles, each with its stages and functions, shares of time included.
    assert len(found["profiles"]) == 2
    for profile in found["profiles"]:
        assert "| stage (cumulative) |" in profile and "| function (self time) |" in profile
        assert "%" in profile
    # The table is printed too.
    assert "Backfill benchmarks" in done.stdout
