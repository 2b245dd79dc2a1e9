"""`make run` is `backfill demo`: a fresh warehouse with gaps of every kind, the cycle twice, and
its own checks, each of which must hold (it exits 1 otherwise)."""

from __future__ import annotations

from pathlib import Path

from tests.support import backfill, unique_settings


def test_the_demo_shows_the_cycle_behaving_as_designed(tmp_path: Path,
                                                        pubsub_emulator: str) -> None:
    result = backfill(unique_settings(tmp_path / "unused.duckdb"), "demo", "--dir",
                      str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line for line in result.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert len(checks) == 10 and all(line.startswith("ok") for line in checks), checks
    assert any("the gamebook loaded twice" in line for line in checks), checks
    assert "unreadable minutes '3O:12'" in result.stdout
    assert "team_offense_bdl: TableNotFound" in result.stdout
    assert (tmp_path / "demo" / "demo.duckdb").exists()
