"""How a game goes, team by team: possessions, and what ended them.

A game has one pace and each team that many possessions (the two differ by at most one). A
possession ends in a turnover, a trip to the free-throw line, or a shot the offense does not
rebound; every offensive rebound buys one more shot. So a team's turnovers, trips and shots are
drawn from its possessions, its makes from its shots and its free throws from its trips (and
its and-ones), and the points follow. Both the schedule (to know who won) and the box score (to
share the counts out to players) run this from the same generator, seeded by the game's
date-based id, so they always agree.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from backfill.local.seed.teams import TEAMS

_OVERTIME = 0.06         # about 6% of NBA games go to overtime
_ANOTHER_OVERTIME = 0.12
_HOME_COURT = 0.013      # shooting edge of the home team: about 55% home wins
_STRENGTH = 0.04         # shooting edge per unit of strength difference
_AND_ONE = 0.045         # made shots that draw a foul and one free throw
_THREE_SHOT_TRIP = 0.06  # trips of three free throws (fouled shooting a three)
_OREB_PER_SHOT = 0.152   # extra shots bought by offensive rebounds, per shot possession
_OT_MARGIN = 9           # an overtime game ends close
_BLOWOUT, _EASING = 10, 25  # leads past 10 points are kept less often, fading over 25


@dataclass(frozen=True, slots=True)
class Style:
    """How a kind of game is played, league-wide."""

    pace: float       # possessions per team per 48 minutes
    turnovers: float  # share of possessions ending in a turnover
    trips: float      # share of the others ending at the free-throw line
    threes: float     # share of shots from three
    two_pct: float
    three_pct: float
    ft_pct: float


# Fitted so a regular season lands near 2023-25 NBA: pace ~99, offensive rating ~114,
# true shooting ~.58, ~36 threes a game; the playoffs are slower, the All-Star game is not.
_REGULAR = Style(99.3, 0.141, 0.117, 0.405, 0.554, 0.362, 0.78)
STYLES: dict[str, Style] = {
    "regular_season": _REGULAR,
    "nba_cup_final": _REGULAR,
    "preseason": Style(101.0, 0.155, 0.12, 0.41, 0.535, 0.35, 0.76),
    "play_in": Style(96.5, 0.135, 0.12, 0.40, 0.545, 0.355, 0.79),
    "playoffs": Style(96.5, 0.135, 0.12, 0.40, 0.545, 0.355, 0.79),
    "all_star": Style(118.0, 0.08, 0.012, 0.55, 0.66, 0.39, 0.8),
}


@dataclass(frozen=True, slots=True)
class TeamSeason:
    """A team's season: strength (logistic units) and its own pace, threes and care."""

    strength: float
    pace: float
    threes: float
    turnovers: float


_LEAGUE_AVERAGE = TeamSeason(0.0, 0.0, 0.0, 0.0)


@lru_cache(maxsize=16)
def team_seasons(year: int) -> dict[str, TeamSeason]:
    """Every team's season, seeded by the year alone."""
    rng = random.Random(f"nba-teams-{year}")
    return {team: TeamSeason(rng.gauss(0, 0.45), rng.gauss(0, 1.8), rng.gauss(0, 0.035),
                             rng.gauss(0, 0.008)) for team in TEAMS}


@dataclass(slots=True)
class Totals:
    """One team's counts, before they are shared out to its players."""

    possessions: int
    turnovers: int
    trips: int
    extra_shots: int   # shots after offensive rebounds
    fga: int
    fg3a: int
    fg3m: int
    fgm: int
    and_ones: int
    three_shot_trips: int
    fta: int
    ftm: int

    @property
    def points(self) -> int:
        return 2 * self.fgm + self.fg3m + self.ftm


@dataclass(frozen=True, slots=True)
class Result:
    overtimes: int
    away: Totals
    home: Totals

    @property
    def home_wins(self) -> bool:
        return self.home.points > self.away.points


def play(game_id: str, game_type: str, season: int, away: str, home: str) -> Result:
    """The game's team counts, from a generator seeded by its date-based id alone."""
    return play_with(random.Random(game_id), game_type, season, away, home)


def play_with(rng: random.Random, game_type: str, season: int, away: str,
              home: str) -> Result:
    """Overtimes first, then team counts until the score fits: no tie, an overtime game close
    (it was tied after regulation), blowouts rarer than independent shooting would make them."""
    style = STYLES[game_type]
    teams = team_seasons(season)
    a, h = teams.get(away, _LEAGUE_AVERAGE), teams.get(home, _LEAGUE_AVERAGE)
    edge = _STRENGTH * (h.strength - a.strength)
    if game_type not in ("all_star", "nba_cup_final"):  # neutral sites
        edge += _HOME_COURT
    overtimes = 0
    if rng.random() < _OVERTIME:
        overtimes = 1
        while overtimes < 4 and rng.random() < _ANOTHER_OVERTIME:
            overtimes += 1
    length = (48 + 5 * overtimes) / 48
    while True:
        pace = (style.pace + (a.pace + h.pace) / 2 + 3.0 * normal(rng)) * length
        first = round(pace)
        away_totals = _team(rng, style, a, first + rng.choice((-1, 0, 0, 1)), 1 - edge)
        home_totals = _team(rng, style, h, first, 1 + edge)
        margin = abs(home_totals.points - away_totals.points)
        if not margin or (overtimes and margin > _OT_MARGIN):
            continue
        # Garbage time: the bigger a lead, the more it shrinks before the end.
        if margin <= _BLOWOUT or rng.random() < math.exp((_BLOWOUT - margin) / _EASING):
            return Result(overtimes, away_totals, home_totals)


def _team(rng: random.Random, style: Style, team: TeamSeason, possessions: int,
          shooting: float) -> Totals:
    turnovers = binomial(rng, possessions, style.turnovers + team.turnovers)
    trips = binomial(rng, possessions - turnovers, style.trips)
    shots = possessions - turnovers - trips
    extra = max(0, round(shots * _OREB_PER_SHOT + 3.2 * normal(rng)))
    fga = shots + extra
    fg3a = binomial(rng, fga, style.threes + team.threes)
    fg3m = binomial(rng, fg3a, style.three_pct * shooting)
    fgm = fg3m + binomial(rng, fga - fg3a, style.two_pct * shooting)
    and_ones = binomial(rng, fgm, _AND_ONE)
    three_shot_trips = binomial(rng, trips, _THREE_SHOT_TRIP)
    fta = 2 * trips + three_shot_trips + and_ones
    ftm = binomial(rng, fta, style.ft_pct)
    return Totals(possessions, turnovers, trips, extra, fga, fg3a, fg3m, fgm, and_ones,
                  three_shot_trips, fta, ftm)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A binomial draw: exact (inverse transform) when small, else a rounded normal."""
    if n <= 0:
        return 0
    if p > 0.5:
        return n - binomial(rng, n, 1 - p)
    mean = n * p
    if mean < 6:
        u = rng.random()
        q = 1 - p
        prob = q ** n
        cdf = prob
        k = 0
        ratio = p / q
        while u > cdf and k < n:
            k += 1
            prob *= ratio * (n - k + 1) / k
            cdf += prob
        return k
    k = round(mean + math.sqrt(mean * (1 - p)) * normal(rng))
    return 0 if k < 0 else n if k > n else k


_ROOT3 = math.sqrt(3)


def normal(rng: random.Random) -> float:
    """A standard normal, near enough (a sum of four uniforms; random.gauss is slow)."""
    r = rng.random
    return (r() + r() + r() + r() - 2) * _ROOT3
