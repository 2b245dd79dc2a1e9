"""The gap rules as pure functions: keys that differ, game types, incomplete, stale, upstream."""

from __future__ import annotations

from datetime import UTC, date, datetime

from backfill.adapters.sql import game_stat, scan_games_sql, scan_parameters
from backfill.domain.games import flipped, game_type, raw_key, team_set_key
from backfill.domain.gaps import GameStat, GapRule, find_gaps
from backfill.domain.request import Reason
from backfill.domain.window import Window
from backfill.processors import BUILTIN_PROCESSORS
from backfill.processors.base import schedule_scan

DAY = date(2024, 11, 1)
EARLY = datetime(2024, 11, 2, 9, tzinfo=UTC)
LATER = datetime(2024, 11, 5, 9, tzinfo=UTC)
GAME = "20241101_BKN_MIL"
RULE = GapRule()


def stat(game_id: str = GAME, rows: int = 2, processed: datetime | None = EARLY,
         label: str | None = None) -> GameStat:
    return GameStat(game_id, DAY, rows, processed, label)


def reasons(phase2: list[GameStat], phase3: list[GameStat], schedule: list[GameStat] | None = None,
            rule: GapRule = RULE) -> dict[str, Reason]:
    found = find_gaps("p", phase2, phase3, schedule or [], rule)
    return {g: c.reason for c in found.candidates for g in c.game_ids}


def test_flipped_date_based_ids_are_one_game_and_other_ids_compare_as_they_are() -> None:
    assert flipped(GAME) == "20241101_MIL_BKN"
    assert team_set_key(DAY, GAME) == team_set_key(DAY, flipped(GAME))
    assert team_set_key(DAY, GAME) != team_set_key(date(2024, 11, 2), GAME)
    assert team_set_key(DAY, "0022400089") == (DAY, "0022400089")
    assert raw_key(DAY, GAME) != raw_key(DAY, flipped(GAME))


def test_the_game_type_comes_from_the_official_id_prefix() -> None:
    assert [game_type(f"00{d}2400001") for d in "12345"] == \
        ["preseason", "regular_season", "all_star", "playoffs", "play_in"]
    assert game_type("20241101_BKN_MIL") is None
    assert game_type(None) is None


def test_each_reason_from_counts_and_processed_times() -> None:
    assert reasons([stat()], []) == {GAME: Reason.MISSING}
    assert reasons([stat()], [stat(rows=1)]) == {GAME: Reason.INCOMPLETE}
    assert reasons([stat(processed=LATER)], [stat()]) == {GAME: Reason.STALE}
    assert reasons([stat()], [stat()]) == {}
    # Phase 3 rows that never recorded their source time cannot be judged stale.
    assert reasons([stat(processed=LATER)], [stat(processed=None)]) == {}
    # Phase 3 computed after the newest source rows, or holding more rows, is not a gap.
    assert reasons([stat()], [stat(rows=3, processed=LATER)]) == {}


def test_per_processor_row_rules() -> None:
    upcoming = GapRule(rows_per_source_row=2)  # one schedule row, two context rows
    assert reasons([stat(rows=1)], [stat(rows=1)], rule=upcoming) == {GAME: Reason.INCOMPLETE}
    assert reasons([stat(rows=1)], [stat(rows=2)], rule=upcoming) == {}
    # A gamebook game without an active player gives no Phase 3 rows, so none is missing.
    assert reasons([stat(rows=0)], []) == {}


def test_a_flipped_id_is_no_gap_under_the_team_set_rule_but_is_under_the_raw_rule() -> None:
    assert reasons([stat()], [stat(flipped(GAME))]) == {}
    assert reasons([stat()], [stat(flipped(GAME))], rule=GapRule(key=raw_key)) == \
        {GAME: Reason.MISSING}


def test_only_checked_game_types_are_gaps_and_unscheduled_games_are_kept() -> None:
    all_star, preseason, playoff = "20250216_WST_EST", "20241004_CHI_IND", "20250419_MIA_BOS"
    schedule = [GameStat(all_star, DAY, 1, None, "0032400001"),
                GameStat(preseason, DAY, 1, None, "0012400001"),
                GameStat(playoff, DAY, 1, None, "0042400101")]
    phase2 = [stat(g) for g in (all_star, preseason, playoff, GAME)]
    assert reasons(phase2, [], schedule) == {playoff: Reason.MISSING, GAME: Reason.MISSING}
    everything = GapRule(game_types=frozenset({"preseason", "all_star", "regular_season",
                                               "playoffs", "play_in"}))
    assert len(reasons(phase2, [], schedule, everything)) == 4


def test_upstream_gaps_are_final_checked_games_absent_from_phase2() -> None:
    schedule = [GameStat(flipped(GAME), DAY, 1, None, "0022400001"),  # final, loaded (flipped)
                GameStat("20241101_ATL_BOS", DAY, 1, None, "0022400002"),  # final, not loaded
                GameStat("20241101_DAL_DEN", DAY, 0, None, "0022400003"),  # not final yet
                GameStat("20241101_CHI_IND", DAY, 1, None, "0012400004")]  # preseason
    found = find_gaps("p", [stat()], [stat()], schedule, RULE)
    assert found.candidates == []
    assert [(u.game_date, u.game_ids) for u in found.upstream] == [(DAY, ("20241101_ATL_BOS",))]


def test_one_date_with_several_reasons_carries_the_most_basic() -> None:
    other = "20241101_ATL_BOS"
    found = find_gaps("p", [stat(), stat(other, processed=LATER)], [stat(rows=1), stat(other)],
                      [], RULE)
    assert [(c.game_ids, c.reason) for c in found.candidates] == \
        [((other, GAME), Reason.INCOMPLETE)]


def test_rows_of_one_game_under_two_spellings_add_up() -> None:
    assert reasons([stat()], [stat(rows=1), stat(flipped(GAME), rows=1)]) == {}


def test_the_scan_sql_uses_only_what_both_dialects_accept() -> None:
    scan = schedule_scan(Window(DAY, DAY))
    sql = scan_games_sql(scan, quote="`", placeholder="@")
    # Both dialects accept these: no dialect-only function in the schedule scan.
    assert "SUM(CASE WHEN game_status IN (@count_value_0) THEN 1 ELSE 0 END) AS row_count" in sql
    assert "CAST(NULL AS TIMESTAMP) AS processed_at, MAX(nba_game_id) AS label" in sql
    assert scan_parameters(scan) == {"start_date": DAY, "end_date": DAY, "count_value_0": "Final"}
    naive = datetime(2024, 11, 2, 9)
    assert game_stat((GAME, DAY, 2, naive, None)) == stat(processed=EARLY)


def test_every_builtin_processor_scans_processed_times_on_both_sides() -> None:
    window = Window(DAY, DAY)
    for cls in BUILTIN_PROCESSORS:
        processor = cls()
        assert processor.source_scan(window).processed_column == "processed_at"
        assert processor.target_scan(window).processed_column == "source_processed_at"
