"""Gap arithmetic: judge one processor's games from what its tables hold, group the gaps by date.

A game is a gap when Phase 3 has none of its rows (missing), fewer than its Phase 2 rows imply
(incomplete), rows whose values no longer match the hashes the write recorded, or repeat one
another (tampered: a hand edit, duplicated rows), rows computed from inputs whose content changed
since (stale: a Phase 2 row corrected or deleted, or an upstream processor's game recomputed with
other values; judged by fingerprint, domain/fingerprint.py, never by timestamps), or rows an
older version of the processor wrote, or written before fingerprints were recorded (outdated).
A gap game held in quarantine is reported as such and not requested while the inputs and the
version it was refused on are current; one whose upstream game is held waits with it. A final
game of the schedule with no Phase 2 rows is an upstream gap: reported, never requested, since no
processor can make Phase 2 data; so is a game whose Phase 2 rows fail a sanity rule
(domain/sanity.py), and a played game the schedule lacks. A Phase 3 game with no Phase 2 game behind it on its date is orphaned: its date is
requested, and the recompute removes it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from backfill.domain.fingerprint import Fingerprint, Inputs, combine, game_inputs
from backfill.domain.games import DEFAULT_GAME_TYPES, GameKey, game_key, id_spellings, teams_key
from backfill.domain.quarantine import QuarantineEvent
from backfill.domain.request import Reason
from backfill.domain.sanity import Sanity, two_official_ids
from backfill.domain.schedule import Schedule
from backfill.domain.window import Window


@dataclass(frozen=True)
class GameStat:
    """What one table holds for one game, as a scan reports it: rows counted, the fingerprint of
    its content and, for Phase 3, the version that wrote it, what it was computed from
    (`Inputs.to_text()`) and how many rows no longer match their recorded hash. For a Phase 2
    source its sanity facts: the teams with counted rows, and counted rows repeating a value
    that must be unique (a player listed twice)."""

    game_id: str
    game_date: date
    rows: int = 1
    version: str | None = None
    inputs: str | None = None
    fingerprint: Fingerprint | None = None
    tampered: int = 0
    key: GameKey = field(default=None, compare=False)  # type: ignore[assignment]
    teams: frozenset[str] = frozenset()
    repeated: int = 0

    def __post_init__(self) -> None:
        if self.key is None:
            object.__setattr__(self, "key", game_key(self.game_date, self.game_id))


@dataclass(frozen=True)
class GapRule:
    """How one processor's games are judged."""

    processor: str
    source: str  # the Phase 2 table, as `stale_inputs` names it
    game_types: frozenset[str] = DEFAULT_GAME_TYPES
    # Phase 3 rows each counted Phase 2 row should give (upcoming context: 2 per scheduled game).
    rows_per_source_row: int = 1
    lookback_days: int = 0
    depends_on: tuple[str, ...] = ()
    version: str | None = None  # None: the processor declares none, so nothing is outdated
    sanity: Sanity | None = None  # the rules its Phase 2 rows are held to before compute
    reads_schedule: bool = False  # its source is the schedule

    def problem(self, game: GameStat, schedule: Schedule) -> str | None:
        """Why a Phase 2 game cannot be computed, or None (domain/sanity.py)."""
        if self.reads_schedule:
            return two_official_ids(game.key, schedule)
        return self.sanity.problem(game, schedule) if self.sanity is not None else None

    def checks(self, game_type: str | None) -> bool:
        """A game the schedule does not know is checked too."""
        return game_type is None or game_type in self.game_types


@dataclass(frozen=True)
class Upstream:
    """What one dependency holds for the window: its Phase 3 games, the games its Phase 2
    source has (None: not read), the games it holds in quarantine and those whose Phase 2 rows
    fail a sanity rule, with why, and its games that are gaps of its own (their content is not
    judged against until they are filled)."""

    target: Sequence[GameStat]
    source_keys: frozenset[GameKey] | None = None
    holding: Mapping[GameKey, str] = field(default_factory=dict)
    unfit: Mapping[GameKey, str] = field(default_factory=dict)
    unsettled: frozenset[GameKey] = frozenset()

    @classmethod
    def judged(cls, target: Sequence[GameStat], gaps: Gaps) -> Upstream:
        """What a dependency, once judged, tells its dependents (detection and re-check)."""
        return cls(target, gaps.phase2, {key: event.reason for key, event in gaps.holding.items()},
                   gaps.unfit, frozenset(gaps.gap_keys))

    def withholding(self, name: str) -> dict[GameKey, str]:
        """Why each game this dependency (called `name`) will not compute waits for a person:
        a dependent computing it would only find no rows of it."""
        return {**{key: f"waiting on {name}, whose Phase 2 rows of it fail a sanity rule: {why}"
                   for key, why in self.unfit.items()},
                **{key: held_upstream(name, why) for key, why in self.holding.items()}}


@dataclass(frozen=True)
class Evidence:
    """What a processor's games of a window are judged on.

    `source` covers the window and the processor's lookback before it. `target` is None when the
    Phase 3 table does not exist yet (every game is missing). `upstream` is None when the
    dependencies were not read (no game is then stale or waiting because of them). `held` is
    this processor's quarantine.
    """

    window: Window
    source: Sequence[GameStat]
    target: Sequence[GameStat] | None
    schedule: Schedule
    upstream: Mapping[str, Upstream] | None = None
    held: Mapping[GameKey, QuarantineEvent] = field(default_factory=dict)
    # Games other Phase 2 tables show were played, and the table that shows it (the schedule
    # must know them); None when no other table was read.
    played: Mapping[GameKey, tuple[str, str]] | None = None


@dataclass(frozen=True)
class GameGap:
    game: GameStat
    reason: Reason
    stale_inputs: tuple[str, ...] = ()
    found_version: str | None = None


def current_inputs(rule: GapRule, key: GameKey,
                   source: Mapping[GameKey, Fingerprint | None],
                   upstream: Mapping[str, Mapping[GameKey, Fingerprint | None]] | None
                   ) -> Inputs:
    """What a game would be computed from now: the processor's version, its source's
    fingerprint over the lookback (`source` from `game_inputs`), and each dependency's Phase 3
    content (None when not read, or when the dependency's game has no rows or is a gap of its
    own: unknown)."""
    return Inputs(rule.version, {rule.source: source.get(key), **{
        name: None if upstream is None else upstream.get(name, {}).get(key)
        for name in rule.depends_on}})


@dataclass(frozen=True)
class Candidate:
    """One (processor, game_date) to fill, with the games that showed the gap and why."""

    processor: str
    game_date: date
    game_ids: tuple[str, ...]
    reason: Reason
    stale_inputs: tuple[str, ...] = ()
    has_version: str | None = None
    needs_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"game_date": self.game_date.isoformat(), "game_ids": list(self.game_ids),
                "reason": self.reason.value, "stale_inputs": list(self.stale_inputs),
                "has_version": self.has_version, "needs_version": self.needs_version}


@dataclass(frozen=True)
class GamesOfDate:
    """Games of one date set aside with a reason: upstream gaps, quarantined or waiting games."""

    game_date: date
    game_ids: tuple[str, ...]
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"game_date": self.game_date.isoformat(),
                                 "game_ids": list(self.game_ids)}
        return {**found, "reason": self.reason} if self.reason else found


@dataclass
class Gaps:
    """Everything detection found for one processor in a window."""

    candidates: list[Candidate] = field(default_factory=list)
    upstream: list[GamesOfDate] = field(default_factory=list)
    quarantined: list[GamesOfDate] = field(default_factory=list)
    waiting: list[GamesOfDate] = field(default_factory=list)
    # The checked Phase 2 games of each date (status counts games by them).
    games: dict[date, tuple[str, ...]] = field(default_factory=dict)
    # Games still held in quarantine, with the event that holds each.
    holding: dict[GameKey, QuarantineEvent] = field(default_factory=dict)
    # Every game the Phase 2 source has (its lookback too), matched through the schedule.
    phase2: frozenset[GameKey] = frozenset()
    # Checked games whose Phase 2 rows fail a sanity rule, and why (reported as upstream gaps).
    unfit: dict[GameKey, str] = field(default_factory=dict)
    # Every game found a gap (requested, held or waiting).
    gap_keys: set[GameKey] = field(default_factory=set)

    def candidate(self, game_date: date) -> Candidate | None:
        return next((c for c in self.candidates if c.game_date == game_date), None)


# When one date holds games with different reasons, the request carries the most basic one.
_REASON_ORDER = (Reason.MISSING, Reason.INCOMPLETE, Reason.TAMPERED, Reason.STALE,
                 Reason.OUTDATED, Reason.ORPHANED)


def by_key(games: Iterable[GameStat]) -> dict[GameKey, GameStat]:
    """Games by key; rows of one game stored under two id spellings add up, and their
    fingerprints combine (`spellings_fingerprint`). Two spellings that both have counted rows of
    one team list that team's players twice."""
    merged: dict[GameKey, GameStat] = {}
    spellings: dict[GameKey, dict[str, Fingerprint | None]] = defaultdict(dict)
    for game in games:
        spellings[game.key][game.game_id] = game.fingerprint
        seen = merged.get(game.key)
        if seen is None:
            merged[game.key] = game
            continue
        overlap = bool(seen.teams & game.teams)
        merged[game.key] = GameStat(
            min(seen.game_id, game.game_id), seen.game_date, seen.rows + game.rows,
            seen.version or game.version, seen.inputs or game.inputs, None,
            seen.tampered + game.tampered, key=seen.key, teams=seen.teams | game.teams,
            repeated=seen.repeated + game.repeated + (min(seen.rows, game.rows) if overlap else 0))
    return {key: game if len(spellings[key]) == 1
            else replace(game, fingerprint=spellings_fingerprint(spellings[key]))
            for key, game in merged.items()}


def spellings_fingerprint(by_id: Mapping[str, Fingerprint | None]) -> Fingerprint | None:
    """One game's fingerprint from those of the id spellings it is stored under."""
    if len(by_id) == 1:
        return next(iter(by_id.values()))
    return combine(by_id.values())


def phase2_games(stats: Iterable[GameStat], schedule: Schedule) -> dict[GameKey, GameStat]:
    """A Phase 2 source's games by key, each matched to its teams (`matched`)."""
    return by_key(matched(stat, schedule) for stat in stats)


def matched(stat: GameStat, schedule: Schedule) -> GameStat:
    """A game stored under its official id (a v1 box-score row) matched to its teams, like every
    other spelling: through the schedule, else by the two teams its rows name."""
    if not isinstance(stat.key[1], str):
        return stat
    scheduled = schedule.find(stat.key)
    if scheduled is not None:
        return replace(stat, game_id=scheduled.date_based_id, key=scheduled.key)
    if len(stat.teams) == 2:
        key = teams_key(stat.game_date, *sorted(stat.teams))
        return replace(stat, game_id=id_spellings(key)[0], key=key)
    return stat


def judge(rule: GapRule, evidence: Evidence) -> Gaps:
    """One processor's candidates, upstream gaps, quarantined and waiting games in a window."""
    window = evidence.window
    schedule = evidence.schedule
    types = schedule.types()
    source = phase2_games(evidence.source, schedule)
    fingerprints = game_inputs({k: g.fingerprint for k, g in source.items()}, rule.lookback_days)
    checked = {k: g for k, g in source.items()
               if window.start <= g.game_date <= window.end and rule.checks(types.get(k))}
    target = by_key(evidence.target or ())
    upstream = None if evidence.upstream is None else {
        name: by_key(up.target) for name, up in evidence.upstream.items()}
    contents = None if evidence.upstream is None or upstream is None else {
        name: {k: g.fingerprint for k, g in games.items()
               if g.rows and k not in evidence.upstream[name].unsettled}
        for name, games in upstream.items()}
    found = Gaps(games=_ids_by_date(checked.values()), phase2=frozenset(source))
    gaps: dict[GameKey, GameGap] = {}
    unfit: list[GamesOfDate] = []
    for key, game in checked.items():
        now = current_inputs(rule, key, fingerprints, contents)
        problem = rule.problem(game, schedule)
        if problem:
            hold = evidence.held.get(key)
            if hold is not None and hold.still_holds(now):
                found.holding[key] = hold
                found.quarantined.append(GamesOfDate(game.game_date, (game.game_id,),
                                                     hold.reason))
            else:
                unfit.append(GamesOfDate(game.game_date, (game.game_id,), problem))
            found.unfit[key] = problem
            continue
        gap = game_gap(rule, game, now, target.get(key))
        if gap is None:
            continue
        found.gap_keys.add(key)
        hold = evidence.held.get(key)
        blocked = _blocked(key, evidence.upstream or {}, upstream or {})
        if hold is not None and hold.still_holds(now):
            found.holding[key] = hold
            found.quarantined.append(GamesOfDate(game.game_date, (game.game_id,), hold.reason))
        elif blocked:
            found.waiting.append(GamesOfDate(game.game_date, (game.game_id,), blocked))
        elif hold is not None and hold.version_changed(now):
            # The version that refused it is gone: retried as outdated, alone on its date too.
            gaps[key] = GameGap(game, Reason.OUTDATED, found_version=hold.code)
        else:
            gaps[key] = gap
    if schedule.error is None:  # without it, official ids are unmatched and games untyped
        gaps.update(orphans(window, schedule, source, target))
    found.candidates = group_by_date(rule, gaps.values())
    found.quarantined = _merge_by_date(found.quarantined)
    found.waiting = _merge_by_date(found.waiting)
    found.upstream = _merge_by_date([
        *upstream_gaps(rule, schedule, window, source), *unfit,
        *(unscheduled(schedule, window, evidence.played)
          if rule.reads_schedule and schedule.error is None else ())])
    return found


def orphans(window: Window, schedule: Schedule, source: Mapping[GameKey, GameStat],
            target: Mapping[GameKey, GameStat]) -> dict[GameKey, GameGap]:
    """Phase 3 games of the window with no Phase 2 game behind them on their date that the
    schedule does not list there either (a game first loaded under a wrong date, then
    corrected): the date's recompute removes them. A scheduled game whose Phase 2 rows are gone
    is an upstream gap instead, and its rows are kept (`kept_games`)."""
    return {key: GameGap(game, Reason.ORPHANED) for key, game in target.items()
            if game.rows and key not in source and schedule.find(key) is None
            and window.start <= game.game_date <= window.end}


def kept_games(schedule: Schedule, stored: Iterable[GameKey],
               written: Collection[GameKey]) -> list[GameKey]:
    """The stored Phase 3 games of a date a recompute did not write and must not delete: those
    the schedule lists (their Phase 2 rows gone for now), or all of them while the schedule
    cannot be read (no game is judged an orphan without it). Keyed as they are stored."""
    kept = []
    for key in stored:
        scheduled = schedule.find(key)
        if key in written or (scheduled is not None and scheduled.key in written):
            continue
        if schedule.error is not None or scheduled is not None:
            kept.append(key)
    return kept


def unscheduled(schedule: Schedule, window: Window,
                played: Mapping[GameKey, tuple[str, str]] | None) -> list[GamesOfDate]:
    """Games another Phase 2 table shows were played that the schedule lacks: nothing computed
    from the schedule can have rows of them."""
    return [GamesOfDate(key[0], (game_id,), f"played (rows in {table}) but not in the schedule")
            for key, (game_id, table) in sorted((played or {}).items(), key=lambda kv: str(kv))
            if window.start <= key[0] <= window.end and schedule.find(key) is None]


def game_gap(rule: GapRule, source: GameStat, now: Inputs,
             target: GameStat | None) -> GameGap | None:
    """Why a Phase 2 game's Phase 3 is not right, if it is not. Rows that recorded no inputs
    (written before fingerprints) are outdated: recomputed once, then judged by content."""
    expected = source.rows * rule.rows_per_source_row
    if expected == 0:
        return None  # e.g. a gamebook with no active player: nothing to compute
    if target is None or target.rows == 0:
        return GameGap(source, Reason.MISSING)
    if target.rows < expected:
        return GameGap(source, Reason.INCOMPLETE)
    recorded = Inputs.from_text(target.inputs)
    if recorded is None:
        return GameGap(source, Reason.OUTDATED, found_version=target.version)
    if target.tampered:
        return GameGap(source, Reason.TAMPERED, found_version=target.version)
    stale = recorded.changed(now)
    if stale:
        return GameGap(source, Reason.STALE, stale, target.version)
    if rule.version is not None and target.version is not None and target.version != rule.version:
        return GameGap(source, Reason.OUTDATED, found_version=target.version)
    return None


def group_by_date(rule: GapRule, gaps: Iterable[GameGap]) -> list[Candidate]:
    """One candidate per date (detection is per game, processing per date), oldest first."""
    by_date: dict[date, list[GameGap]] = defaultdict(list)
    for gap in gaps:
        by_date[gap.game.game_date].append(gap)
    candidates = []
    for day in sorted(by_date):
        games = by_date[day]
        versions = sorted({g.found_version for g in games if g.found_version is not None})
        candidates.append(Candidate(
            rule.processor, day, tuple(sorted(g.game.game_id for g in games)),
            min((g.reason for g in games), key=_REASON_ORDER.index),
            tuple(sorted({name for g in games for name in g.stale_inputs})),
            versions[0] if versions else None, rule.version))
    return candidates


def upstream_gaps(rule: GapRule, schedule: Schedule, window: Window,
                  source: Mapping[GameKey, GameStat]) -> list[GamesOfDate]:
    """Final games of checked types the schedule has and the processor's Phase 2 lacks, by the
    date-based id a person would look for in Phase 2."""
    missing = [GamesOfDate(game.game_date, (game.date_based_id,))
               for game in schedule.between(window.start, window.end)
               if game.final and rule.checks(game.game_type) and game.key not in source]
    return _merge_by_date(missing)


def _blocked(key: GameKey, dependencies: Mapping[str, Upstream],
             targets: Mapping[str, Mapping[GameKey, GameStat]]) -> str:
    """Why a game cannot be computed until a person acts upstream, or "" if it can: a
    dependency without rows of it holds it in quarantine, finds its Phase 2 rows unfit, or has
    no Phase 2 rows of it."""
    for name, dependency in sorted(dependencies.items()):
        if targets[name].get(key) is not None and targets[name][key].rows:
            continue
        withheld = dependency.withholding(name)
        if key in withheld:
            return withheld[key]
        if dependency.source_keys is not None and key not in dependency.source_keys:
            return f"waiting on {name}, whose Phase 2 source has no rows of it"
    return ""


def held_upstream(name: str, why: str) -> str:
    """Why a game waits on a dependency that holds it in quarantine."""
    return f"waiting on {name}, which holds it in quarantine: {why}"


def _ids_by_date(games: Iterable[GameStat]) -> dict[date, tuple[str, ...]]:
    by_date: dict[date, list[str]] = defaultdict(list)
    for game in games:
        by_date[game.game_date].append(game.game_id)
    return {day: tuple(sorted(ids)) for day, ids in sorted(by_date.items())}


def _merge_by_date(items: Iterable[GamesOfDate]) -> list[GamesOfDate]:
    """One entry per (date, reason), its games sorted."""
    merged: dict[tuple[date, str], list[str]] = defaultdict(list)
    for item in items:
        merged[(item.game_date, item.reason)] += item.game_ids
    return [GamesOfDate(day, tuple(sorted(ids)), reason)
            for (day, reason), ids in sorted(merged.items())]
