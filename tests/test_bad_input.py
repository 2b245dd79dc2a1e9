"""Bad input to every command: one line naming what is wrong, exit 2 (usage) or 1 (failure);
and a detection that fails for one processor is an error, never "0 gaps"."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from backfill.bootstrap import registry_from_file
from backfill.local.cli.main import main
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import function_server

WINDOW = ["--start-date", "2024-11-01", "--end-date", "2024-11-14"]
CASES = [
    (["detect", "--start-date", "2024-13-01", "--end-date", "2024-11-14"], 2, "2024-13-01"),
    (["detect", "--start-date", "2024-11-01"], 2, "--end-date"),
    (["detect", "--start-date", "2024-11-14", "--end-date", "2024-11-01"], 2, "after end date"),
    (["detect", *WINDOW, "--lookback-days", "3"], 2, "--lookback-days"),
    (["detect", *WINDOW, "--processor", "nope"], 2, "unknown processor 'nope'"),
    (["detect", "--colour"], 2, "--colour"),
    (["detect", "--lookback-days", "-1"], 2, "--lookback-days"),
    (["run", *WINDOW, "--concurrency", "0"], 2, "--concurrency"),
    (["run", *WINDOW, "--processor", "nope"], 2, "unknown processor 'nope'"),
    (["publish", "--processor", "nope", "--date", "2024-11-01"], 2, "unknown processor 'nope'"),
    (["publish", "--processor", "player_game_summary", "--date", "tomorrow"], 2, "tomorrow"),
    (["publish", "--processor", "player_game_summary"], 2, "--date"),
    (["seed", "--start-date", "2024-11-01"], 2, "--end-date"),
    (["worker", "--concurrency", "0"], 2, "--concurrency"),
    (["frobnicate"], 2, "frobnicate"),
    (["--warehouse", "ftp://somewhere", "detect", *WINDOW], 2, "invalid warehouse"),
    (["--processors-file", "/nonexistent.toml", "processors"], 2, "/nonexistent.toml"),
]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return int(exit_.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(("args", "code", "named"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_naming_it(args: list[str], code: int, named: str,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_WAREHOUSE", f"duckdb://{tmp_path / 'w.duckdb'}")
    status, err = run(args, capsys)
    assert (status, err.count("\n")) == (code, 1), err
    assert named in err


def test_a_warehouse_that_is_not_a_database_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.duckdb"
    text.write_text("these are my notes, not a database\n" * 100)
    status, err = run(["--warehouse", f"duckdb://{text}", "detect", *WINDOW, "--dry-run"], capsys)
    assert status in (1, 2) and err.count("\n") <= 1, err
    assert "notes.duckdb" in err and "not a DuckDB database" in err


def test_detection_failing_for_one_processor_is_a_500_naming_it(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    warehouse.drop_table(registry_from_file(None).get("team_defense_game_summary").target)
    with function_server("detect", settings) as url:
        reply = requests.post(url, json={"start_date": "2024-11-01", "end_date": "2024-11-14",
                                         "dry_run": True}, timeout=120)
    assert reply.status_code == 500
    by_name = {p["name"]: p for p in reply.json()["processors"]}
    assert by_name["team_defense_game_summary"]["status"] == "error"
    assert "team_defense_game_summary" in by_name["team_defense_game_summary"]["error"]
    assert by_name["team_offense_game_summary"]["status"] == "ok"
