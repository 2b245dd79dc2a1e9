"""The gap rules as pure functions (domain/gaps.py `judge`, on GameStats as the scans give them):
reasons, flipped ids, game types, upstream gaps, quarantine holds and their release when Phase 2
changes, waiting on a dependency's quarantine, staleness by content fingerprint, versions,
rows whose content no longer matches the hashes their write recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from backfill.domain.fingerprint import Fingerprint, Inputs, combine, game_inputs
from backfill.domain.games import (
    DEFAULT_GAME_TYPES,
    GAME_TYPES,
    flipped,
    game_key,
    game_type,
    id_spellings,
)
from backfill.domain.gaps import Evidence, GameStat, GapRule, Gaps, Upstream, judge, kept_games
from backfill.domain.quarantine import Hold, QuarantineEvent, current
from backfill.domain.request import Reason
from backfill.domain.sanity import Sanity
from backfill.domain.schedule import Schedule
from backfill.domain.window import Window

DAY = date(2025, 1, 15)
WINDOW = Window(DAY, DAY)
EARLY = datetime(2025, 1, 16, 9, tzinfo=UTC)
LATER = EARLY + timedelta(days=3)
GAME, OTHER = "20250115_NYK_PHI", "20250115_GSW_LAC"
OFFENSE, PLAYERS = "team_offense_game_summary", "player_game_summary"
RULE = GapRule(OFFENSE, "nba_raw.nbac_team_boxscore")
F0, F1 = Fingerprint("f0"), Fingerprint("f1")


def recorded(fingerprint: Fingerprint | None = F0, code: str | None = None,
             source: str = RULE.source, **dependencies: Fingerprint | None) -> str:
    """The inputs column of Phase 3 rows computed from these fingerprints."""
    return Inputs(code, {source: fingerprint, **dependencies}).to_text()


def stat(game_id: str = GAME, rows: int = 2, fingerprint: Fingerprint | None = F0,
         day: date = DAY, **more: Any) -> GameStat:
    """A Phase 2 game as a source scan gives it (or a dependency's Phase 3 game)."""
    return GameStat(game_id, day, rows, fingerprint=fingerprint, **more)


def done(game_id: str = GAME, rows: int = 2, inputs: str | None = None, **more: Any) -> GameStat:
    """A Phase 3 game as a target scan gives it, computed from `stat()`'s fingerprint."""
    return GameStat(game_id, DAY, rows, inputs=inputs or recorded(), **more)


def scheduled(official: str, away: str, home: str, status: int = 3, day: date = DAY,
              processed: datetime = EARLY) -> dict[str, Any]:
    return {"game_id": official, "game_date": day, "game_status": status,
            "away_team_tricode": away, "home_team_tricode": home, "processed_at": processed}


def found(source: Sequence[GameStat], target: Sequence[GameStat] | None,
          schedule: Iterable[Mapping[str, Any]] = (), rule: GapRule = RULE,
          upstream: Mapping[str, Upstream] | None = None,
          held: Iterable[QuarantineEvent] = (), window: Window = WINDOW) -> Gaps:
    return judge(rule, Evidence(window, source, target, Schedule.from_rows(schedule), upstream,
                                current(held).get(rule.processor, {})))


def reasons(gaps: Gaps) -> dict[str, Reason]:
    return {g: c.reason for c in gaps.candidates for g in c.game_ids}


# -- keys and types ----------------------------------------------------------------------------

def test_flipped_date_based_ids_are_one_game_and_other_ids_compare_as_stored() -> None:
    assert flipped(GAME) == "20250115_PHI_NYK"
    assert game_key(DAY, GAME) == game_key(DAY, flipped(GAME))
    assert game_key(DAY, GAME) != game_key(DAY + timedelta(days=1), GAME)
    assert game_key(DAY, "0022400561") == (DAY, "0022400561")
    assert set(id_spellings(game_key(DAY, GAME))) == {GAME, flipped(GAME)}
    with pytest.raises(ValueError, match="not a date-based"):
        flipped("0022400561")


def test_the_game_type_is_the_official_ids_type_digit_cup_final_included() -> None:
    assert [game_type(f"00{d}2400001") for d in "123456"] == [
        "preseason", "regular_season", "all_star", "playoffs", "play_in", "nba_cup_final"]
    assert game_type("0072400001") is None and game_type(GAME) is None and game_type(None) is None
    assert DEFAULT_GAME_TYPES == {"regular_season", "playoffs", "play_in", "nba_cup_final"}
    assert set(GAME_TYPES.values()) - DEFAULT_GAME_TYPES == {"preseason", "all_star"}


def test_the_schedule_is_read_as_its_newest_row_per_game_and_a_postponed_game_keeps_its_id(
) -> None:
    rows = [scheduled("0022400600", "CHI", "MIL", status=1, processed=EARLY - timedelta(days=90)),
            scheduled("0022400600", "CHI", "MIL", status=3),
            scheduled("0022400600", "CHI", "MIL", status=2, processed=EARLY),  # a tie: final wins
            scheduled("0022400601", "PHX", "SAS", status=1),  # postponed from DAY...
            scheduled("0022400601", "PHX", "SAS", status=3, day=DAY + timedelta(days=4)),
            {**scheduled("0022400602", "X", "Y"), "home_team_tricode": None}]  # names no game
    games = {(g.game_id, g.game_date): g for g in Schedule.from_rows(rows).games}
    assert set(games) == {("0022400600", DAY), ("0022400601", DAY),
                          ("0022400601", DAY + timedelta(days=4))}
    assert games[("0022400600", DAY)].final and games[("0022400600", DAY)].game_type == \
        "regular_season"
    assert not games[("0022400601", DAY)].final
    assert games[("0022400601", DAY + timedelta(days=4))].date_based_id == "20250119_PHX_SAS"


# -- reasons -----------------------------------------------------------------------------------

def test_each_reason_from_counts_content_and_recorded_hashes() -> None:
    assert reasons(found([stat()], [])) == {GAME: Reason.MISSING}
    assert reasons(found([stat()], None)) == {GAME: Reason.MISSING}  # no target table yet
    assert reasons(found([stat()], [done(rows=1)])) == {GAME: Reason.INCOMPLETE}
    assert reasons(found([stat(fingerprint=F1)], [done()])) == {GAME: Reason.STALE}
    assert reasons(found([stat()], [done()])) == {}
    # Rows whose values no longer match their recorded hash (or repeat one another).
    assert reasons(found([stat()], [done(tampered=1)])) == {GAME: Reason.TAMPERED}
    # Phase 3 rows that recorded no inputs (written before fingerprints): outdated, once.
    assert reasons(found([stat()], [GameStat(GAME, DAY, 2)])) == {GAME: Reason.OUTDATED}
    # Holding more rows: no gap.
    assert reasons(found([stat()], [done(rows=3)])) == {}
    (candidate,) = found([stat(fingerprint=F1)], [done()]).candidates
    assert candidate.stale_inputs == ("nba_raw.nbac_team_boxscore",)


def test_rows_per_source_row_and_games_without_rows_to_compute() -> None:
    context = GapRule("upcoming_team_game_context", "nba_raw.nbac_schedule",
                      rows_per_source_row=2)  # one schedule game, two context rows
    context_done = recorded(source=context.source)
    assert reasons(found([stat(rows=1)], [done(rows=1, inputs=context_done)], rule=context)) == \
        {GAME: Reason.INCOMPLETE}
    assert reasons(found([stat(rows=1)], [done(rows=2, inputs=context_done)],
                         rule=context)) == {}
    # A gamebook game with no active player gives no Phase 3 row: nothing is missing.
    assert reasons(found([stat(rows=0)], [])) == {}


def test_flipped_ids_and_two_spellings_of_one_game_are_no_gap() -> None:
    assert reasons(found([stat()], [done(flipped(GAME))])) == {}
    both = [stat(rows=1), stat(flipped(GAME), rows=1, fingerprint=F1)]
    assert reasons(found(both, [done(inputs=recorded(combine([F0, F1])))])) == {}
    assert reasons(found([stat()], [done(rows=1), done(flipped(GAME), rows=1)])) == {}


def test_one_date_with_several_reasons_is_one_candidate_with_the_most_basic() -> None:
    gaps = found([stat(), stat(OTHER, fingerprint=F1)], [done(rows=1), done(OTHER)])
    assert [(c.game_ids, c.reason) for c in gaps.candidates] == \
        [((OTHER, GAME), Reason.INCOMPLETE)]
    assert gaps.games == {DAY: (OTHER, GAME)}


def test_only_the_window_is_judged_though_the_source_covers_the_lookback() -> None:
    earlier = stat("20250110_NYK_BOS", day=DAY - timedelta(days=5))
    assert reasons(found([earlier, stat()], [done()])) == {}


# -- game types and upstream gaps ------------------------------------------------------------

def test_only_checked_game_types_are_gaps_and_unscheduled_games_are_checked() -> None:
    games = {"0032400001": ("EST", "WST"), "0012400001": ("CHI", "IND"),
             "0042400131": ("MIA", "BOS"), "0062400001": ("OKC", "MIL")}
    schedule = [scheduled(official, *teams) for official, teams in games.items()]
    ids = {official: f"{DAY:%Y%m%d}_{a}_{h}" for official, (a, h) in games.items()}
    source = [stat(i) for i in ids.values()] + [stat()]  # GAME is not on the schedule
    assert reasons(found(source, [], schedule)) == {
        ids["0042400131"]: Reason.MISSING, ids["0062400001"]: Reason.MISSING,
        GAME: Reason.MISSING}
    everything = GapRule(OFFENSE, "x", game_types=frozenset(GAME_TYPES.values()))
    assert len(reasons(found(source, [], schedule, everything))) == 5


def test_upstream_gaps_are_final_checked_games_phase2_lacks_named_by_date_based_id() -> None:
    schedule = [scheduled("0022400620", "NYK", "PHI"),             # loaded (stored flipped)
                scheduled("0022400621", "GSW", "LAC"),             # final, not loaded
                scheduled("0022400622", "DAL", "HOU", status=1),   # not played yet
                scheduled("0012400623", "CHI", "IND")]             # preseason, never checked
    gaps = found([stat(flipped(GAME))], [done()], schedule)
    assert gaps.candidates == []
    assert [(u.game_date, u.game_ids) for u in gaps.upstream] == [(DAY, (OTHER,))]
    assert gaps.upstream[0].as_dict() == {"game_date": str(DAY), "game_ids": [OTHER]}


# -- quarantine --------------------------------------------------------------------------------

def event(state: Hold, recorded_at: datetime, judged_on: Inputs | None = None,
          processor: str = OFFENSE, game_id: str = GAME) -> QuarantineEvent:
    return QuarantineEvent(processor, DAY, game_id, state, "team PHI: points is NULL",
                           judged_on or Inputs(None, {RULE.source: F0}), recorded_at)


def test_a_held_game_is_reported_not_requested_while_its_phase2_content_is_unchanged() -> None:
    held = [event(Hold.HELD, LATER)]
    gaps = found([stat(), stat(OTHER)], [], held=held)
    assert reasons(gaps) == {OTHER: Reason.MISSING}
    assert [(q.game_ids, q.reason) for q in gaps.quarantined] == [
        ((GAME,), "team PHI: points is NULL")]
    assert list(gaps.holding) == [game_key(DAY, GAME)]


def test_the_hold_ends_when_the_content_or_the_version_changes_or_it_is_released() -> None:
    held = event(Hold.HELD, LATER)
    # Phase 2's content changed since the game was judged (a corrected or deleted row).
    assert reasons(found([stat(fingerprint=F1)], [], held=[held])) == {GAME: Reason.MISSING}
    # Released since (by an operator, or written later): the newest event wins.
    released = event(Hold.RELEASED, LATER + timedelta(minutes=1))
    assert reasons(found([stat()], [], held=[held, released])) == {GAME: Reason.MISSING}
    assert current([released, held]) == {}
    # A hold of another processor holds nothing here.
    other = event(Hold.HELD, LATER, processor=PLAYERS)
    assert reasons(found([stat()], [], held=[other])) == {GAME: Reason.MISSING}
    # Recorded before fingerprints (no inputs): it holds no more, so it is judged once again.
    unknown = QuarantineEvent(OFFENSE, DAY, GAME, Hold.HELD, "why", None, LATER)
    assert reasons(found([stat()], [], held=[unknown])) == {GAME: Reason.MISSING}
    # Refused by an older version: outdated, even alone on its date.
    versioned = GapRule(OFFENSE, RULE.source, version="2")
    old = event(Hold.HELD, LATER, judged_on=Inputs("1", {RULE.source: F0}))
    (candidate,) = found([stat()], [], rule=versioned, held=[old]).candidates
    assert (candidate.reason, candidate.game_ids, candidate.has_version) == (
        Reason.OUTDATED, (GAME,), "1")
    same = event(Hold.HELD, LATER, judged_on=Inputs("2", {RULE.source: F0}))
    assert reasons(found([stat()], [], rule=versioned, held=[same])) == {}
    now = Inputs(None, {RULE.source: F0})
    assert held.still_holds(now) and not held.still_holds(Inputs(None, {RULE.source: F1}))


def dependent(**rule: Any) -> GapRule:
    return GapRule(PLAYERS, "nba_raw.nbac_gamebook_player_stats", depends_on=(OFFENSE,), **rule)


def test_a_game_waits_on_its_dependencys_quarantine_without_holding_the_others() -> None:
    offense = Upstream([stat(OTHER, fingerprint=Fingerprint("c1"))], frozenset({game_key(DAY, GAME),
                                                               game_key(DAY, OTHER)}),
                       {game_key(DAY, GAME): "team PHI: points is NULL"})
    gaps = found([stat(rows=20), stat(OTHER, rows=20)], [], rule=dependent(),
                 upstream={OFFENSE: offense})
    assert reasons(gaps) == {OTHER: Reason.MISSING}
    assert [(w.game_ids, w.reason) for w in gaps.waiting] == [
        ((GAME,), f"waiting on {OFFENSE}, which holds it in quarantine: team PHI: points is "
                  "NULL")]
    # A dependency whose Phase 2 has no row of the game: waiting too (an upstream gap there).
    unloaded = Upstream([], frozenset())
    gaps = found([stat(rows=20)], [], rule=dependent(), upstream={OFFENSE: unloaded})
    assert reasons(gaps) == {} and "whose Phase 2 source has no rows" in gaps.waiting[0].reason
    # A dependency that merely has not computed it yet: the game is a gap, requested.
    pending = Upstream([], frozenset({game_key(DAY, GAME)}))
    assert reasons(found([stat(rows=20)], [], rule=dependent(),
                         upstream={OFFENSE: pending})) == {GAME: Reason.MISSING}


# -- lineage and versions ---------------------------------------------------------------------

def test_a_game_computed_from_other_upstream_values_is_stale_naming_the_input() -> None:
    source = dependent().source
    computed = recorded(F0, source=source, **{OFFENSE: Fingerprint("c0")})
    target = [done(rows=20, inputs=computed)]

    def judged(content: str | None, inputs: str | None = computed) -> dict[str, Reason]:
        offense = Upstream([stat(fingerprint=content)], frozenset({game_key(DAY, GAME)}))
        return reasons(found([stat(rows=20)], [done(rows=20, inputs=inputs)], rule=dependent(),
                             upstream={OFFENSE: offense}))

    assert judged("c0") == {}
    assert judged("c1") == {GAME: Reason.STALE}
    (candidate,) = found([stat(rows=20)], target, rule=dependent(), upstream={
        OFFENSE: Upstream([stat(fingerprint=Fingerprint("c1"))],
                          frozenset({game_key(DAY, GAME)}))}).candidates
    assert candidate.stale_inputs == (OFFENSE,)
    # An upstream game without content now is a gap of its own: not judged here.
    assert judged(None) == {}
    # Dependencies not read (upstream=None): nothing is stale because of them.
    assert reasons(found([stat(rows=20)], target, rule=dependent())) == {}
    # A dependency recorded and no longer read (or the other way round) is a change.
    assert judged("c0", inputs=recorded(F0, source=source)) == {GAME: Reason.STALE}


def test_a_game_of_the_lookback_changed_makes_the_later_games_of_its_teams_stale() -> None:
    """The upcoming context reads 14 days of schedule: any of them changing changes it."""
    context = GapRule("upcoming_team_game_context", "nba_raw.nbac_schedule",
                      rows_per_source_row=2, lookback_days=14)
    earlier_day, old_day = DAY - timedelta(days=5), DAY - timedelta(days=15)
    earlier, today = stat("20250110_PHI_BOS", rows=1, day=earlier_day), stat(rows=1)
    before = game_inputs({earlier.key: F0, today.key: F0}, 14)[today.key]
    target = [done(rows=2, inputs=recorded(before, source=context.source))]
    assert reasons(found([earlier, today], target, rule=context)) == {}
    changed = stat("20250110_PHI_BOS", rows=1, day=earlier_day, fingerprint=F1)
    assert reasons(found([changed, today], target, rule=context)) == {GAME: Reason.STALE}
    unrelated = stat("20250110_MIA_ORL", rows=1, day=earlier_day, fingerprint=F1)
    assert reasons(found([earlier, unrelated, today], target, rule=context)) == {}
    too_old = stat("20241231_PHI_BOS", rows=1, day=old_day, fingerprint=F1)
    assert reasons(found([earlier, too_old, today], target, rule=context)) == {}
    # A game of the lookback deleted is a change too.
    assert reasons(found([today], target, rule=context)) == {GAME: Reason.STALE}


def test_rows_an_older_version_wrote_are_outdated_and_unknown_versions_never() -> None:
    versioned = GapRule(OFFENSE, RULE.source, version="2")
    gaps = found([stat()], [done(version="1")], rule=versioned)
    (candidate,) = gaps.candidates
    assert (candidate.reason, candidate.has_version, candidate.needs_version) == (
        Reason.OUTDATED, "1", "2")
    assert reasons(found([stat()], [done(version="2")], rule=versioned)) == {}
    assert reasons(found([stat()], [done(version=None)], rule=versioned)) == {}
    assert reasons(found([stat()], [done(version="1")])) == {}  # the rule declares none
    # A stale game of an old version is stale (the more basic reason), naming both.
    (both,) = found([stat(fingerprint=F1)], [done(version="1")], rule=versioned).candidates
    assert (both.reason, both.has_version) == (Reason.STALE, "1")


def test_inputs_compare_by_content_and_survive_their_text() -> None:
    inputs = Inputs("1", {RULE.source: F0, OFFENSE: Fingerprint("c0")})
    assert Inputs.from_text(inputs.to_text()) == inputs
    assert Inputs.from_text(None) is None and Inputs.from_text("not json") is None
    assert inputs.changed(Inputs("2", {RULE.source: F0, OFFENSE: Fingerprint("c0")})) == ()
    assert inputs.changed(Inputs("1", {RULE.source: F1, OFFENSE: None})) == (RULE.source,)
    # Sorted, then hashed: the order does not count, a repeated fingerprint does.
    assert combine([F0, F1]) == combine([F1, F0]) != combine([F0, F1, F1])


# -- Phase 2 sanity, orphans, official ids ------------------------------------------------------

GAMEBOOK_RULE = GapRule(PLAYERS, "nba_raw.nbac_gamebook_player_stats", sanity=Sanity(
    "nba_raw.nbac_gamebook_player_stats", ("player_status", ("active",)), "team_abbr",
    "player_lookup"))
CONTEXT_RULE = GapRule("upcoming_team_game_context", "nba_raw.nbac_schedule",
                       rows_per_source_row=2, reads_schedule=True)
BOTH = frozenset({"NYK", "PHI"})
GAMEBOOK_DONE = done(rows=10, inputs=recorded(source=GAMEBOOK_RULE.source))


@pytest.mark.parametrize(("game", "status", "why"), [
    (stat(rows=0), 3, "nba_raw.nbac_gamebook_player_stats lists 0 player_status active rows of "
                      "this final game"),
    (stat(rows=0), 1, None),  # scheduled, not played: nothing to compute yet
    (stat(rows=5, teams=frozenset({"NYK"})), 3,
     "nba_raw.nbac_gamebook_player_stats has no player_status active rows of team PHI"),
    (stat(rows=11, teams=BOTH, repeated=1), 3,
     "nba_raw.nbac_gamebook_player_stats lists 1 player_status active rows twice (same "
     "player_lookup; the game stored under a second id spelling?)"),
    (stat(rows=10, teams=BOTH), 3, None),
])
def test_a_gamebook_game_unfit_to_compute_is_an_upstream_gap_naming_what_is_wrong(
        game: GameStat, status: int, why: str | None) -> None:
    gaps = found([game], [GAMEBOOK_DONE], [scheduled("0022400100", "NYK", "PHI", status)],
                 rule=GAMEBOOK_RULE)
    assert gaps.candidates == []  # never requested, and never reported complete either
    assert [(g.game_ids, g.reason) for g in gaps.upstream] == ([((GAME,), why)] if why else [])


def test_a_game_stored_under_two_spellings_lists_the_teams_both_have_twice() -> None:
    spellings = [stat(rows=10, teams=BOTH), stat(flipped(GAME), rows=10, teams=BOTH)]
    (gap,) = found(spellings, [GAMEBOOK_DONE], rule=GAMEBOOK_RULE).upstream
    assert "lists 10 player_status active rows twice" in gap.reason
    # One team under each spelling (old flipped rows) is one game, nothing repeated.
    halves = [stat(rows=5, teams=frozenset({"NYK"})),
              stat(flipped(GAME), rows=5, teams=frozenset({"PHI"}))]
    computed = done(rows=10, inputs=recorded(combine([F0, F0]), source=GAMEBOOK_RULE.source))
    assert found(halves, [computed], rule=GAMEBOOK_RULE) == Gaps(
        games={DAY: (GAME,)}, phase2=frozenset({game_key(DAY, GAME)}))


def test_a_refused_unfit_game_is_quarantined_while_its_phase2_rows_stay_as_they_were() -> None:
    judged_on = Inputs(None, {GAMEBOOK_RULE.source: F0})
    hold = QuarantineEvent(PLAYERS, DAY, GAME, Hold.HELD, "lists 0 active", judged_on, EARLY)
    gaps = found([stat(rows=0)], [GAMEBOOK_DONE], rule=GAMEBOOK_RULE, held=[hold])
    assert [(g.game_ids, g.reason) for g in gaps.quarantined] == [((GAME,), "lists 0 active")]
    assert gaps.upstream == [] and gaps.candidates == []


def test_two_official_ids_for_one_matchup_are_refused_not_computed_twice() -> None:
    schedule = [scheduled("0022400100", "NYK", "PHI"), scheduled("0022400199", "NYK", "PHI"),
                scheduled("0022400101", "GSW", "LAC")]
    games = Schedule.from_rows(schedule)
    source = [GameStat(g.game_id, g.game_date, 1, key=g.key) for g in games.games]
    gaps = found(source, [done(rows=2)], schedule, rule=CONTEXT_RULE)
    assert [(g.game_ids, g.reason) for g in gaps.upstream] == [(("0022400100",), (
        "the schedule has 2 official ids for NYK at PHI on 2025-01-15: 0022400100, 0022400199"))]
    assert reasons(gaps) == {"0022400101": Reason.MISSING}


def test_a_played_game_the_schedule_lacks_is_an_upstream_gap_of_the_schedule_reader() -> None:
    evidence = Evidence(WINDOW, [], [], Schedule.from_rows([]),
                        played={game_key(DAY, GAME): (GAME, "nba_raw.nbac_team_boxscore")})
    assert [(g.game_ids, g.reason) for g in judge(CONTEXT_RULE, evidence).upstream] == [
        ((GAME,), "played (rows in nba_raw.nbac_team_boxscore) but not in the schedule")]
    assert judge(RULE, evidence).upstream == []  # the box score's own processors do not care


def test_phase3_games_with_no_phase2_game_on_their_date_are_orphaned() -> None:
    phantom = done(OTHER, rows=2)
    assert reasons(found([stat()], [done(), phantom])) == {OTHER: Reason.ORPHANED}
    # A game of an unchecked type is no orphan: its Phase 2 game is there.
    preseason = [scheduled("0012400100", "GSW", "LAC")]
    assert reasons(found([stat(), stat(OTHER)], [done(), phantom], preseason)) == {}
    # Without a schedule, official ids cannot be matched: nothing is called an orphan.
    unreadable = judge(RULE, Evidence(WINDOW, [stat("0022400100")], [done()],
                                      Schedule(error="unreadable")))
    assert unreadable.candidates[0].reason is Reason.MISSING


def test_a_scheduled_game_whose_phase2_rows_are_gone_is_an_upstream_gap_not_an_orphan() -> None:
    schedule = [scheduled("0022400100", "NYK", "PHI"), scheduled("0022400101", "GSW", "LAC")]
    gaps = found([stat(OTHER)], [done(), done(OTHER)], schedule)
    assert gaps.candidates == []  # nothing to recompute: its rows are kept, not removed
    assert [g.game_ids for g in gaps.upstream] == [(GAME,)]
    # Only a game the schedule does not list on that date is an orphan.
    assert reasons(found([stat(OTHER)], [done(), done(OTHER)], schedule[1:])) == {
        GAME: Reason.ORPHANED}


def test_a_recompute_keeps_the_rows_of_games_it_did_not_write_that_the_schedule_lists() -> None:
    official = (DAY, "0022400100")
    stored = [game_key(DAY, GAME), game_key(DAY, OTHER), official]
    schedule = Schedule.from_rows([scheduled("0022400100", "NYK", "PHI")])
    assert kept_games(schedule, stored, {game_key(DAY, OTHER)}) == [game_key(DAY, GAME),
                                                                   official]
    assert kept_games(schedule, stored, {game_key(DAY, GAME)}) == []  # the v1 rows replaced
    # Unscheduled, nothing is kept but what was refused; unreadable, every game is kept.
    assert kept_games(Schedule.from_rows([]), stored, set()) == []
    assert kept_games(Schedule(error="unreadable"), stored, set()) == stored


def test_a_box_score_under_its_official_id_is_matched_through_the_schedule() -> None:
    schedule = [scheduled("0022400100", "NYK", "PHI")]
    v1 = stat("0022400100")
    assert found([v1], [done()], schedule) == Gaps(games={DAY: (GAME,)},
                                                   phase2=frozenset({game_key(DAY, GAME)}))
    assert reasons(found([v1], [], schedule)) == {GAME: Reason.MISSING}
    # One the schedule lacks is matched by the two teams its rows name: no gap, no orphan.
    assert found([stat("0022400100", teams=BOTH)], [done()]).candidates == []
