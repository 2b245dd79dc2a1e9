"""Bad input to every command, through the real CLI: one line on stderr naming what is wrong,
exit 2 for a usage error or a misconfiguration, before anything is read or published."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import backfill, unique_settings

WINDOW = ["--start-date", "2024-11-01", "--end-date", "2024-11-14"]
CASES = [
    (["detect", "--start-date", "2024-13-01", "--end-date", "2024-11-14"], "2024-13-01"),
    (["detect", "--start-date", "2024-11-01"], "--end-date"),
    (["detect", "--start-date", "2024-11-14", "--end-date", "2024-11-01"], "after end date"),
    (["detect", *WINDOW, "--lookback-days", "3"], "--lookback-days"),
    (["detect", *WINDOW, "--processor", "nope"], "unknown processor 'nope'"),
    (["detect", "--colour"], "--colour"),
    (["detect", "--lookback-days", "-1"], "--lookback-days"),
    (["detect", *WINDOW, "--max-messages", "-2"], "--max-messages"),
    (["run", *WINDOW, "--concurrency", "0"], "--concurrency"),
    (["run", *WINDOW, "--processor", "nope"], "unknown processor 'nope'"),
    (["publish", "--processor", "nope", "--date", "2024-11-01"], "team_offense_game_summary"),
    (["publish", "--processor", "player_game_summary", "--date", "tomorrow"], "tomorrow"),
    (["publish", "--processor", "player_game_summary", "--date", "2024-13-01"],
     "'2024-13-01' is not a date"),
    (["publish", "--processor", "player_game_summary"], "--date"),
    (["publish", "--processor", "team_defense_game_summary", "--start-date", "2024-11-09",
      "--end-date", "2024-11-01"], "after end date"),
    (["publish", "--processor", "team_defense_game_summary", "--date", "2999-01-01"],
     "in the future"),
    (["seed", "--start-date", "2024-11-01"], "--end-date"),
    (["worker", "--concurrency", "0"], "--concurrency"),
    (["dlq", "replay"], "--all or --processor"),
    (["dlq", "replay", "--processor", "nope"], "nope"),
    (["dlq", "purge", "--older-than", "soon"], "invalid duration 'soon'"),
    (["dlq", "list", "--since", "yesterday"], "neither a date"),
    (["status", "--start-date", "2024-11-01"], "go together"),
    (["history", "--date", "11/06/2024"], "is not a date"),
    (["runs", "--since", "soon"], "neither a date"),
    (["runs", "show"], "RUN_ID"),
    (["quarantine", "list", "--processor", "nope"], "unknown processor 'nope'"),
    (["quarantine", "release", "--processor", "player_game_summary"], "--date"),
    (["frobnicate"], "frobnicate"),
    (["--warehouse", "ftp://somewhere", "detect", *WINDOW], "invalid warehouse"),
    (["--processors-file", "/nonexistent.toml", "processors"], "/nonexistent.toml"),
    (["detect", *WINDOW, "--dry-run"], "does not exist (create one with `backfill seed`)"),
]


IDS = [" ".join(args) for args, _ in CASES]


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every case run once, a few at a time (each is a process start): by case id, the folder
    of its warehouse and what the CLI answered."""
    def run(case: tuple[str, list[str]]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        folder = tmp_path_factory.mktemp("bad-input")
        # Nowhere to publish to, and a warehouse file that does not exist: nothing is touched.
        settings = unique_settings(folder / "absent.duckdb", pubsub_emulator_host=None)
        return folder, backfill(settings, *case[1], PUBSUB_EMULATOR_HOST="")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(IDS, pool.map(run, zip(IDS, [args for args, _ in CASES], strict=True)),
                        strict=True))


@pytest.mark.parametrize(("case", "named"), [(i, named) for i, (_, named) in zip(IDS, CASES,
                                                                                 strict=True)],
                         ids=IDS)
def test_bad_input_is_one_line_naming_it_with_exit_2(
        case: str, named: str,
        answers: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    folder, result = answers[case]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert named in result.stderr
    assert not (folder / "absent.duckdb").exists()


def test_a_warehouse_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.duckdb"
    notes.write_text("these are my notes, not a database\n" * 100)
    result = backfill(unique_settings(notes, pubsub_emulator_host=None), "detect", *WINDOW,
                      "--dry-run", PUBSUB_EMULATOR_HOST="")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, \
        result.stderr
    assert "notes.duckdb" in result.stderr and "not a DuckDB database" in result.stderr
    assert notes.read_text().startswith("these are my notes")
