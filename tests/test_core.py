"""The pure core: request decoding, push envelopes, gap arithmetic, windows, registry, retry policy."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from backfill.adapters.sql import scan_games_sql, scan_parameters
from backfill.domain.envelope import decode_push
from backfill.domain.errors import (
    ConfigurationError,
    InvalidRequest,
    PermanentError,
    TransientError,
)
from backfill.domain.gaps import GameStat, GapRule, find_gaps
from backfill.domain.request import Reason, Request, decode_request
from backfill.domain.tables import TableRef
from backfill.domain.window import Window, today_in
from backfill.ports import GameScan
from backfill.processors.registry import Registry, load_registry
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.service.retry import retry_policy
from backfill.settings import Settings

TODAY = date(2024, 11, 20)
DATA = Path(__file__).parent / "data"


def body(**fields: object) -> bytes:
    request = {"processor": "player_game_summary", "game_date": "2024-11-01",
               "game_ids": ["20241101_BKN_MIL"], "reason": "missing", "force": False,
               "request_id": "r-1", "detection_run_id": None,
               "requested_at": "2024-11-02T10:00:00Z"}
    request.update(fields)
    return json.dumps({k: v for k, v in request.items() if v is not ...}).encode()


def test_a_request_round_trips_through_its_json_body() -> None:
    request = Request(processor="player_game_summary", game_date=date(2024, 11, 1),
                      game_ids=("20241101_BKN_MIL",), reason=Reason.MISSING)
    decoded = decode_request(request.encode(), today=TODAY)
    assert decoded == request
    assert request.attributes() == {"processor": "player_game_summary",
                                    "game_date": "2024-11-01", "reason": "missing"}
    assert json.loads(request.encode())["requested_at"].endswith("Z")


@pytest.mark.parametrize(("raw", "problem"), [
    (b"", "body is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "expected an object"),
    (body(processor=...), "missing field 'processor'"),
    (body(game_date="2024-13-01"), "game_date '2024-13-01' is not a valid date"),
    (body(game_date="2031-01-01"), "is in the future"),
    (body(reason="because"), "field 'reason'"),
    (body(force="yes"), "field 'force'"),
    (body(game_ids="20241101_BKN_MIL"), "field 'game_ids'"),
    (body(processor="x; DROP TABLE t"), "field 'processor'"),
    (body(surprise=1), "unknown field 'surprise'"),
    (b'{"processor": "a", "processor": "b"}', "duplicated key 'processor'"),
    (body(requested_at="yesterday"), "requested_at 'yesterday' is not a valid RFC 3339 time"),
    (b"x" * (300 * 1024), "more than"),
])
def test_a_malformed_body_is_refused_with_a_reason_naming_the_problem(raw: bytes,
                                                                    problem: str) -> None:
    with pytest.raises(InvalidRequest, match=None) as caught:
        decode_request(raw, today=TODAY)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("case", sorted((DATA / "push").glob("*.json")), ids=lambda p: p.stem)
def test_push_envelopes_decode_or_fail_as_recorded(case: Path) -> None:
    recorded = json.loads(case.read_text())
    raw = json.dumps(recorded["envelope"]).encode()
    expected = recorded["expected"]
    if "error" in expected:
        with pytest.raises(InvalidRequest, match=expected["error"]):
            decode_push(raw)
        return
    delivery = decode_push(raw)
    assert json.loads(delivery.data) == expected["data"]
    assert delivery.delivery_attempt == expected["delivery_attempt"]
    assert delivery.message_id == expected["message_id"]


def test_gaps_are_grouped_into_one_candidate_per_date_oldest_first() -> None:
    d1, d2 = date(2024, 11, 2), date(2024, 11, 1)
    phase2 = [GameStat("g1", d1), GameStat("g2", d1), GameStat("g3", d2), GameStat("g4", d2)]
    phase3 = [GameStat("g2", d1), GameStat("g3", d2), GameStat("g3", d1)]
    candidates = find_gaps("p", phase2, phase3, [], GapRule()).candidates
    assert [(c.game_date, c.game_ids, c.reason) for c in candidates] == [
        (d2, ("g4",), Reason.MISSING), (d1, ("g1",), Reason.MISSING)]


def test_today_is_the_date_in_the_configured_time_zone() -> None:
    late_evening_in_new_york = datetime(2024, 11, 2, 3, 30, tzinfo=UTC)
    assert today_in("America/New_York", late_evening_in_new_york) == date(2024, 11, 1)
    assert today_in("UTC", late_evening_in_new_york) == date(2024, 11, 2)
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        today_in("Mars/Olympus")


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
    with pytest.raises(ConfigurationError, match="cycle"):
        Registry([TeamOffenseGameSummary(name="a", depends_on=["b"]),
                  TeamOffenseGameSummary(name="b", depends_on=["a"])])
    with pytest.raises(ConfigurationError, match="unknown processor 'nope'; known: "):
        registry.get("nope")


def test_processors_are_added_by_configuration(tmp_path: Path) -> None:
    config = tmp_path / "processors.toml"
    config.write_text('[[processor]]\nname = "bdl_offense"\n'
                      'class = "backfill.processors.team_offense:TeamOffenseGameSummary"\n'
                      'source = "nba_raw.bdl_box"\ntarget = "nba_analytics.bdl_offense"\n'
                      'priority = 5\n')
    processor = load_registry(str(config)).get("bdl_offense")
    assert (processor.source, processor.target, processor.priority) == (
        TableRef("nba_raw", "bdl_box"), TableRef("nba_analytics", "bdl_offense"), 5)
    config.write_text('[[processor]]\nname = "x"\nclass = "os:system"\n')
    with pytest.raises(ConfigurationError, match="is not a Processor"):
        load_registry(str(config))
    config.write_text('[[processor]]\nname = "x"\nclass = "backfill.processors.team_offense:'
                      'TeamOffenseGameSummary"\ntarget = "nba_analytics.t; DROP TABLE x"\n')
    with pytest.raises(ConfigurationError, match="invalid table name"):
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


def test_settings_take_flags_over_environment_over_defaults() -> None:
    environ = {"BACKFILL_WAREHOUSE": "duckdb://env.duckdb", "BACKFILL_TIMEZONE": "UTC"}
    settings = Settings.load({"warehouse": "duckdb://flag.duckdb", "timezone": None}, environ)
    assert (settings.warehouse, settings.timezone) == ("duckdb://flag.duckdb", "UTC")
    assert Settings.load({}, {}).requests_topic == "backfill-requests"
    with pytest.raises(ConfigurationError, match="BACKFILL_RETRY_BUDGET_SECONDS"):
        Settings.load({}, {"BACKFILL_RETRY_BUDGET_SECONDS": "soon"})


def test_the_scan_sql_selects_only_key_columns_and_takes_values_as_parameters() -> None:
    scan = GameScan(TableRef("nba_raw", "nbac_gamebook_player_stats"),
                    Window(date(2024, 11, 1), date(2024, 11, 2)), processed_column="processed_at",
                    count_where=("player_status", ("active", "x' OR 1=1 --")))
    sql = scan_games_sql(scan, quote="`", placeholder="@")
    assert sql == ("SELECT game_id, game_date, SUM(CASE WHEN player_status IN "
                   "(@count_value_0, @count_value_1) THEN 1 ELSE 0 END) AS row_count, "
                   "MAX(processed_at) AS processed_at, CAST(NULL AS STRING) AS label "
                   "FROM `nba_raw`.`nbac_gamebook_player_stats` "
                   "WHERE game_date BETWEEN @start_date AND @end_date GROUP BY game_id, game_date")
    assert scan_parameters(scan)["count_value_1"] == "x' OR 1=1 --"


@pytest.mark.parametrize(("line", "problem"), [
    ('depends_on = "team_offense_game_summary"', "depends_on must be a list of processor names"),
    ('priority = "high"', "priority must be a whole number"),
])
def test_configured_processors_have_typed_settings(tmp_path: Path, line: str,
                                                   problem: str) -> None:
    config = tmp_path / "processors.toml"
    config.write_text('[[processor]]\nname = "x"\nclass = "backfill.processors.team_offense:'
                      f'TeamOffenseGameSummary"\n{line}\n')
    with pytest.raises(ConfigurationError, match=problem):
        load_registry(str(config))
