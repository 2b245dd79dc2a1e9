"""Settings, the registry and its processors file, windows, the retry policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backfill.domain.errors import ConfigurationError, PermanentError, TransientError
from backfill.domain.tables import TableRef
from backfill.domain.window import Window, today_in
from backfill.processors.registry import Registry, load_registry
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.service.retry import retry_policy
from backfill.settings import ENVIRONMENT, Settings, settings_table

TODAY = date(2024, 11, 20)
README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_take_flags_over_environment_over_defaults() -> None:
    environ = {"BACKFILL_WAREHOUSE": "duckdb://env.duckdb", "BACKFILL_TIMEZONE": "UTC"}
    settings = Settings.load({"warehouse": "duckdb://flag.duckdb", "timezone": None}, environ)
    assert (settings.warehouse, settings.timezone) == ("duckdb://flag.duckdb", "UTC")
    defaults = Settings.load({}, {})
    assert (defaults.requests_topic, defaults.max_delivery_attempts,
            defaults.dependency_wait_seconds) == ("backfill-requests", 60, 7200.0)
    assert Settings.load({}, Settings.load({}, environ).environment()) == \
        Settings.load({}, environ)


@pytest.mark.parametrize(("environ", "named"), [
    ({"BACKFILL_RETRY_BUDGET_SECONDS": "soon"}, "BACKFILL_RETRY_BUDGET_SECONDS='soon'"),
    ({"BACKFILL_MAX_DELIVERY_ATTEMPTS": "3"}, "BACKFILL_MAX_DELIVERY_ATTEMPTS='3'"),
    ({"BACKFILL_TIMEZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"BACKFILL_RAW_DATASET": "nba raw"}, "invalid dataset name 'nba raw'"),
    ({"BACKFILL_REQUESTS_TOPIC": "q"}, "BACKFILL_REQUESTS_TOPIC='q'"),
    ({"BACKFILL_MAXIMUM_BYTES_BILLED": "10485760"}, "BACKFILL_MAXIMUM_BYTES_BILLED='10485760'"),
])
def test_a_bad_setting_is_one_line_naming_it(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({}, environ)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_the_readme_settings_table_is_the_one_the_model_generates() -> None:
    table = settings_table()
    assert table in README.read_text(encoding="utf-8"), \
        "README's settings table is stale: paste `python -m backfill.settings` into it"
    assert all(f"`{env}`" in table for env in ENVIRONMENT.values())


def test_today_is_the_date_in_the_configured_time_zone() -> None:
    late_evening_in_new_york = datetime(2024, 11, 2, 3, 30, tzinfo=UTC)
    assert today_in("America/New_York", late_evening_in_new_york) == date(2024, 11, 1)
    assert today_in("UTC", late_evening_in_new_york) == date(2024, 11, 2)


def test_windows_reject_reversed_ranges_and_count_lookback_from_today() -> None:
    assert Window.lookback(3, TODAY) == Window(date(2024, 11, 17), TODAY)
    with pytest.raises(ConfigurationError, match="after end date"):
        Window(date(2024, 11, 5), date(2024, 11, 1))


def test_processors_run_dependencies_first_then_by_priority() -> None:
    registry = load_registry()
    assert registry.names == ["team_offense_game_summary", "team_defense_game_summary",
                              "player_game_summary", "upcoming_team_game_context"]
    early_player = TeamOffenseGameSummary(name="early", priority=1,
                                          depends_on=["player_game_summary"])
    reordered = Registry([*registry.ordered(), early_player])
    assert reordered.names.index("early") > reordered.names.index("player_game_summary")
    assert [p.name for p in reordered.with_dependencies(["early"])] == [
        "team_offense_game_summary", "player_game_summary", "early"]
    with pytest.raises(ConfigurationError, match="cycle"):
        Registry([TeamOffenseGameSummary(name="a", depends_on=["b"]),
                  TeamOffenseGameSummary(name="b", depends_on=["a"])])
    with pytest.raises(ConfigurationError, match="unknown processor 'nope'; known: "):
        registry.get("nope")


def test_the_built_ins_read_and_write_the_configured_datasets() -> None:
    registry = load_registry(raw_dataset="raw_v2", analytics_dataset="analytics_v2")
    assert {p.source.dataset for p in registry.ordered()} == {"raw_v2"}
    assert {p.target.dataset for p in registry.ordered()} == {"analytics_v2"}
    assert registry.schedule == TableRef("raw_v2", "nbac_schedule")


def test_processors_are_added_and_renamed_by_configuration(tmp_path: Path) -> None:
    config = tmp_path / "processors.toml"
    config.write_text('[schedule]\ncolumns = { home_team_tricode = "home" }\n'
                      '[[processor]]\nname = "bdl_players"\n'
                      'class = "backfill.processors.player_game_summary:PlayerGameSummary"\n'
                      'source = "nba_raw.bdl_box"\ntarget = "nba_analytics.bdl_players"\n'
                      'priority = 5\nversion = 3\n'
                      'columns = { field_goals_made = "fgm", game_date = "day" }\n')
    registry = load_registry(str(config))
    processor = registry.get("bdl_players")
    assert (processor.source, processor.target, processor.priority, processor.version) == (
        TableRef("nba_raw", "bdl_box"), TableRef("nba_analytics", "bdl_players"), 5, "3")
    read = processor.source_read(date(2024, 11, 1), date(2024, 11, 1))
    assert ("field_goals_made", "fgm") in read.columns and read.by == "day"
    assert dict(registry.schedule_read(TODAY, TODAY).columns)["home_team_tricode"] == "home"
    assert registry.get("upcoming_team_game_context").physical("home_team_tricode") == "home"


@pytest.mark.parametrize(("lines", "problem"), [
    ('class = "os:system"', "is not a Processor"),
    ('class = "backfill.processors.team_offense:TeamOffenseGameSummary"\n'
     'target = "nba_analytics.t; DROP TABLE x"', "invalid table name"),
    ('class = "backfill.processors.team_offense:TeamOffenseGameSummary"\n'
     'depends_on = "team_offense_game_summary"', "depends_on must be a list of processor names"),
    ('class = "backfill.processors.team_offense:TeamOffenseGameSummary"\npriority = "high"',
     "priority must be a whole number"),
    ('class = "backfill.processors.team_offense:TeamOffenseGameSummary"\n'
     'columns = { fg_made = "fg made" }', "invalid column name 'fg made'"),
])
def test_a_bad_processors_file_is_a_configuration_error(tmp_path: Path, lines: str,
                                                        problem: str) -> None:
    config = tmp_path / "processors.toml"
    config.write_text(f'[[processor]]\nname = "x"\n{lines}\n')
    with pytest.raises(ConfigurationError, match=problem):
        load_registry(str(config))


def test_the_retry_policy_retries_transient_errors_only_within_its_budget() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TransientError("rate limited")
        return "done"

    assert retry_policy(60, sleep=slept.append)(flaky) == "done"
    assert len(slept) == 2 and all(0 <= s <= 15 for s in slept)

    def broken() -> None:
        calls["n"] += 1
        raise PermanentError("access denied")

    calls["n"] = 0
    with pytest.raises(PermanentError):
        retry_policy(60, sleep=slept.append)(broken)
    assert calls["n"] == 1


def test_durations_are_read_in_each_unit_and_a_bad_one_is_named() -> None:
    from backfill.local.cli.common import parse_duration

    assert [parse_duration(t) for t in ("90s", "30m", "12h", "7d", "2w")] == [
        timedelta(seconds=90), timedelta(minutes=30), timedelta(hours=12), timedelta(days=7),
        timedelta(weeks=2)]
    with pytest.raises(ValueError, match="invalid duration 'soon'"):
        parse_duration("soon")
