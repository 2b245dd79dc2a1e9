"""`make bench` cannot rot: its smoke version runs every row end to end (timings not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO


def test_the_benchmark_fills_every_row_of_its_table(pubsub_emulator: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke"], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "COLUMNS": "200"},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("│")[1].strip() for line in done.stdout.splitlines()
            if line.startswith("│")]
    assert sorted(set(rows)) == ["1", "2", "3", "4", "5", "6"]
    assert "NaN" not in done.stdout
