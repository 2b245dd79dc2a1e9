"""The `backfill` command in-process (click's CliRunner), on a real DuckDB file with Pub/Sub
faked: the contract's JSON shapes, exit statuses, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from backfill.bootstrap import Backfill, bootstrap
from backfill.local.cli import common
from backfill.local.cli.main import cli, main
from backfill.ports import Replace
from backfill.processors.nba_raw import GAMEBOOK
from backfill.settings import Settings
from click.testing import CliRunner, Result

from tests.unit.fakes import RecordingQueue

WINDOW = ["--start-date", "2025-01-10", "--end-date", "2025-01-16"]
OFFENSE = "team_offense_game_summary"


@pytest.fixture
def faked(filled_app: Backfill, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backfill]:
    """Commands build their application on the test's warehouse, queue and inbox."""
    queue = cast(RecordingQueue, filled_app.queue)

    def build(settings: Settings, **_: Any) -> Backfill:
        return bootstrap(settings, warehouse=filled_app.warehouse, queue=queue,
                         inbox=queue.inbox(), registry=filled_app.registry)

    monkeypatch.setattr(common, "bootstrap", build)
    yield filled_app


def invoke(app: Backfill, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--warehouse", app.settings.warehouse, *args],
                              catch_exceptions=False)


def empty(app: Backfill, processor: str, day: date) -> None:
    p = app.registry.get(processor)
    app.warehouse.write([Replace(p.target, day, day, [], p.table_schema())])


def test_detect_json_keeps_the_contracts_shape(faked: Backfill) -> None:
    empty(faked, OFFENSE, date(2025, 1, 14))
    result = invoke(faked, "detect", *WINDOW, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["window"] == {"start_date": "2025-01-10", "end_date": "2025-01-16"}
    assert report["published"] == 0 and report["run_id"]
    by_name = {p["name"]: p for p in report["processors"]}
    offense = by_name[OFFENSE]
    assert {"name", "status", "error", "candidates", "upstream_gaps", "quarantined"} <= set(
        offense)
    assert offense["status"] == "ok" and offense["error"] is None
    (candidate,) = offense["candidates"]
    assert candidate["game_date"] == "2025-01-14" and candidate["reason"] == "missing"
    assert sorted(candidate["game_ids"]) == ["20250114_GSW_LAC", "20250114_NYK_PHI"]


def test_detect_publishes_and_records_its_run(faked: Backfill) -> None:
    empty(faked, OFFENSE, date(2025, 1, 14))
    result = invoke(faked, "detect", *WINDOW, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["published"] == 1
    runs = json.loads(invoke(faked, "runs", "--json").output)
    (run,) = [r for r in runs if r["run_id"] == report["run_id"]]
    assert (run["trigger"], run["published"], run["outstanding"]) == ("cli", 1, 1)
    shown = json.loads(invoke(faked, "runs", "show", report["run_id"], "--json").output)
    assert shown["published"] == shown["ended"] + shown["outstanding"] == 1


def test_publish_is_a_manual_run_whose_requests_carry_its_id(faked: Backfill) -> None:
    result = invoke(faked, "publish", "--processor", OFFENSE, "--date", "2025-01-14",
                    "--date", "2025-01-15", "--force")
    assert result.exit_code == 0, result.output
    published = cast(RecordingQueue, faked.queue).published
    assert len(published) == 2 and all(r.force for r in published)
    assert len({r.detection_run_id for r in published}) == 1
    runs = {r["run_id"]: r for r in json.loads(invoke(faked, "runs", "--json").output)}
    assert runs[str(published[0].detection_run_id)]["trigger"] == "manual"


def test_cancelling_a_run_is_recorded_and_shown(faked: Backfill) -> None:
    invoke(faked, "publish", "--processor", OFFENSE, "--date", "2025-01-14")
    run_id = cast(RecordingQueue, faked.queue).published[0].detection_run_id
    assert run_id is not None
    assert invoke(faked, "runs", "cancel", run_id).exit_code == 0
    shown = json.loads(invoke(faked, "runs", "show", run_id, "--json").output)
    assert shown["cancelled_at"] and shown["state"] == "cancelled"
    with pytest.raises(SystemExit) as done:
        main(["--warehouse", faked.settings.warehouse, "runs", "cancel", "nosuchrun"])
    assert done.value.code == 1


@pytest.mark.parametrize(("args", "message"), [
    (["detect", "--start-date", "2025-01-16", "--end-date", "2025-01-10"], "is after end date"),
    (["detect", "--start-date", "2025-01-16"], "--start-date and --end-date go together"),
    (["detect", "--processor", "nope"], "unknown processor 'nope'"),
    (["status", "--start-date", "soon", "--end-date", "2025-01-10"], "'soon' is not a date"),
    (["publish", "--processor", OFFENSE], "give --date or --start-date/--end-date"),
    (["publish", "--processor", OFFENSE, "--date", "2099-01-01"], "is in the future"),
    (["history", "--since", "yesterday"], "neither a date"),
    (["dlq"], "missing command"),
])
def test_a_usage_error_is_one_line_and_exit_2(faked: Backfill, args: list[str],
                                              message: str, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--warehouse", faked.settings.warehouse, *args])
    assert done.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0], errors


def test_a_misconfiguration_is_exit_2_with_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "")
    for args, named in ((["--warehouse", f"duckdb://{tmp_path}/none.duckdb", "detect",
                          "--dry-run"], "none.duckdb does not exist"),
                        (["--processors-file", str(tmp_path / "p.toml"), "processors"],
                         "p.toml does not exist")):
        with pytest.raises(SystemExit) as done:
            main(args)
        assert done.value.code == 2
        assert named in capsys.readouterr().err


def test_quarantine_list_and_release_through_the_command(faked: Backfill) -> None:
    from tests.unit.test_quarantine import edit as edit_game
    from tests.unit.test_quarantine import run_date, set_value

    edit_game(faked, GAMEBOOK, set_value("phione", minutes="3O:12"))
    run_date(faked, "player_game_summary")
    held = json.loads(invoke(faked, "quarantine", "list", *WINDOW, "--json").output)
    assert [(h["processor"], h["game_id"]) for h in held] == [
        ("player_game_summary", "20250114_NYK_PHI")]
    released = invoke(faked, "quarantine", "release", "--processor", "player_game_summary",
                      "--date", "2025-01-14")
    assert released.exit_code == 0 and "released 1 games" in released.output
    assert json.loads(invoke(faked, "quarantine", "list", *WINDOW, "--json").output) == []


def test_status_counts_every_state_and_shows_the_runs(faked: Backfill) -> None:
    empty(faked, OFFENSE, date(2025, 1, 14))
    invoke(faked, "detect", *WINDOW)
    result = invoke(faked, "status", *WINDOW, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (offense,) = [p for p in report["processors"] if p["name"] == OFFENSE]
    assert offense["games"] == {"complete": 6, "missing": 2}
    assert offense["dates"]["missing"] == 1
    latest = report["runs"][0]
    assert latest["trigger"] == "cli" and latest["outstanding"] == 1
    assert latest["state"] == "running"


def test_processors_lists_run_order_and_versions(faked: Backfill) -> None:
    listed = json.loads(invoke(faked, "processors", "--json").output)
    assert [p["name"] for p in listed] == faked.registry.names
    assert listed[2] == {"name": "player_game_summary",
                         "source": "nba_raw.nbac_gamebook_player_stats",
                         "target": "nba_analytics.player_game_summary",
                         "depends_on": ["team_offense_game_summary"], "priority": 30,
                         "version": "1"}
