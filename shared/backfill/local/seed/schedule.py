"""Whole seasons of games, laid out the way the NBA lays them out.

A season is built in full from generators seeded by its year alone: preseason in October, an
82-game regular season (the NBA's formula: four games against each division rival, three or four
against the rest of the conference, two against every team of the other conference, 41 at home)
with a handful of back-to-backs per team and never three games in three days, the NBA Cup final
in mid-December, the All-Star game in February, the play-in and four best-of-seven rounds.
Exactly one regular-season game is postponed and made up later under the same official id.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from backfill.domain.games import TYPE_CODES, date_based_id
from backfill.domain.window import Window
from backfill.local.seed.play import Result, play, team_seasons
from backfill.local.seed.teams import ALL_STAR_EAST, ALL_STAR_WEST, DIVISIONS, EAST, TEAMS, WEST

REGULAR_SEASON_GAMES = 82
MIN_BACK_TO_BACKS, MAX_BACK_TO_BACKS = 13, 16  # real 2024-25: 13 to 16 per team


@dataclass(frozen=True, slots=True)
class Game:
    """One game as it was played, with its result decided when the season was laid out."""

    day: date
    season: int
    game_type: str
    away: str
    home: str
    number: str            # the official id's last five digits
    home_wins: bool
    overtimes: int
    scheduled_at: datetime  # when its status-1 (Scheduled) schedule row was processed
    postponed_from: date | None = None  # the original date of the one postponed game
    # The team counts the result came from (the box score shares them out); recomputed from
    # the game id when absent.
    result: Result | None = field(default=None, compare=False, repr=False)
    game_id: str = field(init=False)      # date-based, as box scores have it: 20250115_NYK_PHI
    nba_game_id: str = field(init=False)  # official 00TYYNNNNN: 0022400561

    def __post_init__(self) -> None:
        object.__setattr__(self, "game_id", date_based_id(self.day, self.away, self.home))
        object.__setattr__(self, "nba_game_id", f"00{TYPE_CODES[self.game_type]}"
                                                f"{self.season % 100:02d}{self.number}")

    @property
    def winner(self) -> str:
        return self.home if self.home_wins else self.away

    @property
    def loser(self) -> str:
        return self.away if self.home_wins else self.home


def game_code(day: date, away: str, home: str) -> str:
    """NBA.com's game code: 20250115/NYKPHI."""
    return f"{day.year}{day.month:02d}{day.day:02d}/{away}{home}"


def schedule_release(year: int) -> datetime:
    """When the season's schedule came out (mid-August), and so its status-1 rows were processed."""
    return datetime(year, 8, 15, 19, tzinfo=UTC)


def morning_after(day: date) -> datetime:
    """09:00 UTC the next day: when a game's final schedule row and box scores are processed."""
    return datetime.combine(day + timedelta(days=1), time(9), tzinfo=UTC)


def days(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, both included (as a list: seeding indexes it)."""
    return list(Window(first, last).dates())


def weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


@dataclass(frozen=True)
class Calendar:
    """The fixed dates of a season starting in October of `year`."""

    year: int

    @property
    def opening(self) -> date:  # the Tuesday on or after October 21 (2024: Oct 22)
        return weekday_on_or_after(date(self.year, 10, 21), 1)

    @property
    def preseason(self) -> list[date]:  # two weeks ending the Friday before opening night
        return days(self.opening - timedelta(days=18), self.opening - timedelta(days=4))

    @property
    def last_day(self) -> date:  # the Sunday on or after April 8 (2025: Apr 13)
        return weekday_on_or_after(date(self.year + 1, 4, 8), 6)

    @property
    def cup_final(self) -> date:  # the Tuesday on or after December 14 (2024: Dec 17)
        return weekday_on_or_after(date(self.year, 12, 14), 1)

    @property
    def all_star(self) -> date:  # the third Sunday of February (2025: Feb 16)
        return weekday_on_or_after(date(self.year + 1, 2, 15), 6)

    @property
    def regular(self) -> list[date]:
        """Regular-season game days: no games on Thanksgiving, Christmas Eve, the Cup final's
        night, or the All-Star break (Friday to Tuesday)."""
        thanksgiving = weekday_on_or_after(date(self.year, 11, 22), 3)
        breaks = {thanksgiving, date(self.year, 12, 24), self.cup_final,
                  *days(self.all_star - timedelta(days=2), self.all_star + timedelta(days=2))}
        return [d for d in days(self.opening, self.last_day) if d not in breaks]


@lru_cache(maxsize=8)
def season(year: int) -> tuple[Game, ...]:
    """Every game of the season starting in October of `year`, in date order."""
    for attempt in range(50):
        games = _SeasonBuilder(year, attempt).build()
        if games is not None:
            return tuple(sorted(games, key=lambda g: (g.day, g.game_id)))
    raise RuntimeError(f"no valid schedule for {year}")  # pragma: no cover - never seen


def matchups(year: int) -> list[tuple[str, str]]:
    """The season's 1,230 (away, home) regular-season pairings; every team hosts exactly 41.

    Of each team's ten conference rivals outside its division, four are met three times: two
    in the next division along and two in the previous one, rotating every season.
    """
    games: list[tuple[str, str]] = []
    for conference in DIVISIONS.values():
        divisions = list(conference.values())
        for division in divisions:
            for i, a in enumerate(division):
                for b in division[i + 1:]:
                    games += [(a, b), (b, a)] * 2
        for k, (x, y) in enumerate(((0, 1), (1, 2), (2, 0))):
            offset = (year + k) % 5
            for i, a in enumerate(divisions[x]):
                for j, b in enumerate(divisions[y]):
                    shift = (j - i - offset) % 5
                    if shift == 0:    # a hosts b twice
                        games += [(b, a), (b, a), (a, b)]
                    elif shift == 1:  # b hosts a twice
                        games += [(a, b), (a, b), (b, a)]
                    else:
                        games += [(a, b), (b, a)] * 2
    for east in EAST:
        for west in WEST:
            games += [(east, west), (west, east)]
    return games


class _SeasonBuilder:
    """Lays out one season phase by phase from generators seeded by its year (and attempt)."""

    def __init__(self, year: int, attempt: int) -> None:
        self.year = year
        self.calendar = Calendar(year)
        self.rng = random.Random(f"nba-season-{year}-{attempt}")
        self.strength = {team: ts.strength for team, ts in team_seasons(year).items()}
        self.games: list[Game] = []
        self.release = schedule_release(year)

    def build(self) -> list[Game] | None:
        cal = self.calendar
        self._preseason()
        finalists = self._cup_finalists()
        blocked = {team: {cal.cup_final + timedelta(days=k) for k in (-1, 0, 1)}
                   for team in finalists}
        regular = self._regular_season(blocked)
        if regular is None:
            return None
        away, home = finalists
        self.games.append(self._game(cal.cup_final, "nba_cup_final", away, home, "00001",
                                     morning_after(cal.cup_final - timedelta(days=3))))
        regular = self._postpone_one(regular)
        wins: Counter[str] = Counter(g.winner for g in regular)
        # Official sequence numbers follow the original schedule's order.
        regular.sort(key=lambda g: (g.postponed_from or g.day, g.game_id))
        self.games += [replace(g, number=f"{n:05d}") for n, g in enumerate(regular, 1)]
        self.games.append(self._game(cal.all_star, "all_star", ALL_STAR_WEST, ALL_STAR_EAST,
                                     "00001", self.release))
        self._postseason(wins)
        return self.games

    # -- results -------------------------------------------------------------------------------

    def _game(self, day: date, game_type: str, away: str, home: str, number: str,
              scheduled_at: datetime) -> Game:
        """A game and its result, which the box score will reproduce (both run `play`)."""
        result = play(date_based_id(day, away, home), game_type, self.year, away, home)
        return Game(day, self.year, game_type, away, home, number, result.home_wins,
                    result.overtimes, scheduled_at, result=result)

    # -- preseason -----------------------------------------------------------------------------

    def _preseason(self) -> None:
        """Four or five exhibitions per team over the two weeks before opening night."""
        rng = self.rng
        quota = {team: 4 + (i % 5 != 0) for i, team in enumerate(rng.sample(TEAMS, len(TEAMS)))}
        played: dict[str, list[date]] = defaultdict(list)
        hosted: Counter[str] = Counter()
        met: set[frozenset[str]] = set()
        numbered: list[Game] = []
        for day in self.calendar.preseason:
            ready = [t for t in TEAMS if len(played[t]) < quota[t] and _can_play(played[t], day)
                     and rng.random() < 0.45]
            rng.shuffle(ready)
            ready.sort(key=lambda t: len(played[t]) - quota[t])
            while len(ready) >= 2:
                a = ready.pop(0)
                b = next((t for t in ready if frozenset((a, t)) not in met), None)
                if b is None:
                    continue
                ready.remove(b)
                home, away = (a, b) if hosted[a] <= hosted[b] else (b, a)
                numbered.append(self._game(day, "preseason", away, home, "", self.release))
                met.add(frozenset((a, b)))
                hosted[home] += 1
                played[a].append(day)
                played[b].append(day)
        numbered.sort(key=lambda g: (g.day, g.game_id))
        self.games += [replace(g, number=f"{n:05d}") for n, g in enumerate(numbered, 1)]

    # -- regular season ------------------------------------------------------------------------

    def _cup_finalists(self) -> tuple[str, str]:
        """(away, home): an East and a West team, the stronger likelier; the better one hosts."""
        rng = self.rng
        east = max(EAST, key=lambda t: self.strength[t] + rng.gauss(0, 0.4))
        west = max(WEST, key=lambda t: self.strength[t] + rng.gauss(0, 0.4))
        return (east, west) if self.strength[east] < self.strength[west] else (west, east)

    def _regular_season(self, blocked: dict[str, set[date]]) -> list[Game] | None:
        """Place the 1,230 pairings day by day, busiest teams and pairings first.

        Each day a team scores by how far behind its pace it is and how rested it is; a
        back-to-back is allowed only while the team is under its season's target (13 to 16),
        never a third game in three days, never two games in a day.
        """
        rng = self.rng
        game_days = self.calendar.regular
        weights = [_DAY_WEIGHTS[d.weekday()] * rng.uniform(0.8, 1.2) for d in game_days]
        weights[0] = 0.25  # opening night: a couple of games
        pairs: dict[frozenset[str], list[str]] = defaultdict(list)  # pairing -> hosts left
        for away, home in matchups(self.year):
            pairs[frozenset((away, home))].append(home)
        for hosts in pairs.values():
            rng.shuffle(hosts)
        left = Counter({team: REGULAR_SEASON_GAMES for team in TEAMS})
        home_left = Counter({team: REGULAR_SEASON_GAMES // 2 for team in TEAMS})
        target = {team: rng.randint(MIN_BACK_TO_BACKS + 1, MAX_BACK_TO_BACKS - 1)
                  for team in TEAMS}
        b2b: Counter[str] = Counter()
        played: dict[str, list[date]] = {team: [] for team in TEAMS}
        last_met: dict[frozenset[str], date] = {}
        open_days = {team: len([d for d in game_days if d not in blocked.get(team, ())])
                     for team in TEAMS}
        games: list[Game] = []
        for index, day in enumerate(game_days):
            games_left = sum(left.values()) // 2
            share = weights[index] / sum(weights[index:])
            wanted = min(15, max(1, round(games_left * share)))
            if day.month == 12 and day.day == 25:
                wanted = 5  # the Christmas Day slate
            score: dict[str, float] = {}
            for team in TEAMS:
                days_left = open_days[team]
                if day in blocked.get(team, ()):
                    continue
                open_days[team] -= 1
                if left[team] > days_left:
                    return None  # more games than days: start again
                if left[team] == 0 or not _can_play(played[team], day):
                    continue
                rest = (day - played[team][-1]).days if played[team] else 9
                if rest == 1:
                    if b2b[team] >= MAX_BACK_TO_BACKS:
                        continue
                    progress = 1 - left[team] / REGULAR_SEASON_GAMES
                    behind = target[team] * progress - b2b[team]
                    rest_term = -1.6 + 1.1 * behind
                else:
                    rest_term = (0.0, 0.0, 0.0, 0.7, 1.3)[min(rest, 4)]
                need = left[team] / days_left
                score[team] = 9 * (need - 0.5) + rest_term
            if len(score) < 2:
                continue
            remaining_days = len(game_days) - index
            candidates = []
            jitter = rng.random
            for pair, hosts in pairs.items():
                if not hosts:
                    continue
                a, b = pair
                if a not in score or b not in score:
                    continue
                value = score[a] + score[b] + min(5.0, 40 * len(hosts) / remaining_days)
                met = last_met.get(pair)
                if met is not None:
                    gap = (day - met).days
                    value -= 3.0 if gap <= 7 else 1.0 if gap <= 20 else 0.0
                candidates.append((value + jitter(), a, b, pair))
            candidates.sort(key=lambda c: c[0], reverse=True)
            busy: set[str] = set()
            placed = 0
            for _, a, b, pair in candidates:
                if placed >= wanted:
                    break
                if a in busy or b in busy:
                    continue
                hosts = pairs[pair]
                # Host whichever still has the larger share of its games at home.
                home = max(set(hosts), key=lambda t: (home_left[t] / left[t], t == hosts[0]))
                hosts.remove(home)
                away = b if home == a else a
                games.append(self._game(day, "regular_season", away, home, "", self.release))
                for team in (a, b):
                    if played[team] and (day - played[team][-1]).days == 1:
                        b2b[team] += 1
                    played[team].append(day)
                    left[team] -= 1
                busy.update((a, b))
                home_left[home] -= 1
                last_met[pair] = day
                placed += 1
        if any(left.values()):
            return None
        if any(not MIN_BACK_TO_BACKS <= b2b[t] <= MAX_BACK_TO_BACKS for t in TEAMS):
            return None
        return games

    def _postpone_one(self, regular: list[Game]) -> list[Game]:
        """Move one winter game's original date a few weeks earlier: it was postponed there
        (weather, an arena problem) and made up on the date it was played."""
        rng = self.rng
        year = self.year
        game_days = set(self.calendar.regular)
        played: dict[str, set[date]] = defaultdict(set)
        per_day: Counter[date] = Counter()
        for g in regular:
            played[g.away].add(g.day)
            played[g.home].add(g.day)
            per_day[g.day] += 1
        makeups = [i for i, g in enumerate(regular)
                   if date(year + 1, 2, 20) <= g.day <= date(year + 1, 3, 31)]
        rng.shuffle(makeups)
        for i in makeups:
            g = regular[i]
            options = [d for d in days(g.day - timedelta(days=40), g.day - timedelta(days=14))
                       if d in game_days and per_day[d] < 14 and d.month != 12
                       and all(_fits(played[t] - {g.day}, d) for t in (g.away, g.home))]
            if options:
                original = rng.choice(options)
                announced = datetime.combine(original + timedelta(days=1), time(15), tzinfo=UTC)
                regular[i] = replace(g, postponed_from=original, scheduled_at=announced)
                return regular
        raise RuntimeError("no game could be postponed")  # pragma: no cover - never seen

    # -- play-in and playoffs ------------------------------------------------------------------

    def _postseason(self, wins: Counter[str]) -> None:
        """Play-in Tuesday (East) and Wednesday (West), deciders Friday, playoffs from Saturday."""
        last = self.calendar.last_day
        set_after = morning_after(last)
        decider_day = last + timedelta(days=5)
        seeds = []
        for c, conference in enumerate((EAST, WEST)):
            order = sorted(conference, key=lambda t: (-wins[t], -self.strength[t]))
            day = last + timedelta(days=2 + c)
            a = self._game(day, "play_in", order[7], order[6], f"001{2 * c}1", set_after)
            b = self._game(day, "play_in", order[9], order[8], f"001{2 * c + 1}1", set_after)
            decider = self._game(decider_day, "play_in", b.winner, a.loser, f"002{c}1",
                                 morning_after(day))
            self.games += [a, b, decider]
            seeds += order[:6] + [a.winner, decider.winner]
        self._playoffs(seeds, decider_day + timedelta(days=1), wins,
                       morning_after(decider_day))

    def _playoffs(self, seeded: list[str], start: date, wins: Counter[str],
                  set_at: datetime) -> None:
        """Four best-of-seven rounds, ids 004YY00RSG (round, series, game)."""
        seed = {team: i % 8 for i, team in enumerate(seeded)}
        # Bracket order 1-8, 4-5, 3-6, 2-7 per conference, so adjacent winners meet next.
        alive = [seeded[c * 8 + s] for c in (0, 1) for pair in ((0, 7), (3, 4), (2, 5), (1, 6))
                 for s in pair]
        for rnd in range(1, 5):
            # Better seed has home court; in the Finals, across conferences, the better record.
            rank = {t: (-wins[t], -self.strength[t]) if rnd == 4 else (seed[t], 0.0)
                    for t in alive}
            results = []
            for i in range(len(alive) // 2):
                teams = sorted(alive[2 * i:2 * i + 2], key=rank.__getitem__)
                # The series with a play-in survivor start a day later.
                offset = (1 if seed[teams[1]] >= 6 else 0) if rnd == 1 else i % 2
                results.append(self._series(rnd, i, teams, start + timedelta(days=offset),
                                            set_at))
            alive = [winner for winner, _ in results]
            finished = max(last for _, last in results)
            start, set_at = finished + timedelta(days=2), morning_after(finished)

    def _series(self, rnd: int, index: int, teams: list[str], start: date,
                set_at: datetime) -> tuple[str, date]:
        high, low = teams  # high has home court in games 1, 2, 5 and 7
        won: Counter[str] = Counter()
        game_no = 0
        day = start
        while max(won.values(), default=0) < 4:
            home, away = (high, low) if game_no in (0, 1, 4, 6) else (low, high)
            day = start + timedelta(days=2 * game_no)
            game = self._game(day, "playoffs", away, home, f"00{rnd}{index}{game_no + 1}",
                              set_at)
            self.games.append(game)
            won[game.winner] += 1
            game_no += 1
        return won.most_common(1)[0][0], day


# Relative number of games by weekday, Monday first: Wednesdays and Fridays are the busiest
# nights, Thursdays (national TV) the lightest.
_DAY_WEIGHTS = (1.1, 0.85, 1.25, 0.65, 1.2, 0.9, 0.95)


def _can_play(played: list[date], day: date) -> bool:
    """Not twice in a day, never a third game in three days (`played` is in date order)."""
    if played and played[-1] >= day:
        return False
    yesterday, before = day - timedelta(days=1), day - timedelta(days=2)
    return not (len(played) >= 2 and played[-1] == yesterday and played[-2] == before)


def _fits(played: set[date], day: date) -> bool:
    """Whether a game on `day` keeps a set of game days free of doubles and three-in-threes."""
    if day in played:
        return False
    run = 1
    for step in (-1, 1):
        probe = day + timedelta(days=step)
        while probe in played:
            run += 1
            probe += timedelta(days=step)
    return run < 3
