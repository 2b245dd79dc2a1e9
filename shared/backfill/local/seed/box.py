"""Box scores: the team counts of `play`, shared out to the players who played.

Who plays, and for how long, comes first: the injured and most two-way players are inactive,
the depth chart (a little shuffled below the starters) decides the rotation and the minutes,
which add up to exactly five players for the whole game. Then every team count is shared out
exactly, so the team line is the sum of its players': shots by minutes and usage, threes by
each shooter's taste for them, makes by his percentages, and so on, each player with his form
of the night. What `play` does not draw follows from what it did: offensive rebounds and the
opponent's defensive rebounds out of the misses, steals out of the opponent's turnovers, blocks
out of the opponent's misses, assists out of the made shots (never by the scorer), fouls out
of the opponent's free-throw trips (six and a player is out).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import product, repeat
from operator import add, attrgetter, mul, sub

from backfill.local.seed.play import Result, Totals, binomial, play
from backfill.local.seed.schedule import Game, days
from backfill.local.seed.teams import ALL_STAR_EAST, ALL_STAR_WEST, EAST, TEAMS, WEST

ROSTER_SIZE = 17  # fifteen standard contracts and two two-way players

_FIRST = ("Aaron", "Andre", "Anthony", "Bam", "Brandon", "Cade", "Caleb", "Cam", "Chris", "Damian",
          "Darius", "De'Andre", "Derrick", "Devin", "Donovan", "Dyson", "Evan", "Franz", "Gary",
          "Isaiah", "Jalen", "Jamal", "Jaren", "Jaylen", "Jordan", "Josh", "Julius", "Karl-Anthony",
          "Keegan", "Kevin", "Kyle", "Lauri", "Luka", "Malik", "Marcus", "Mikal", "Myles", "Nikola",
          "Obi", "Paolo", "RJ", "Scottie", "Shai", "Terry", "Tobias", "Trae", "Tyrese", "Victor",
          "Walker", "Zion")
_LAST = ("Adams", "Allen", "Anderson", "Bailey", "Barnes", "Bell", "Brooks", "Brown", "Carter",
         "Clarke", "Coleman", "Davis", "Dixon", "Edwards", "Ellis", "Fox", "Gibson", "Grant",
         "Green", "Harris", "Hayes", "Holiday", "Hunter", "Jackson", "Johnson", "Jones", "King",
         "Lewis", "Martin", "Mitchell", "Moore", "Murray", "O'Neal", "Parker", "Porter", "Reed",
         "Robinson", "Ross", "Smith", "Stewart", "Thomas", "Thompson", "Turner", "Walker",
         "Wallace", "Washington", "White", "Williams", "Wright", "Young")

# Roster slot -> position: guards, wings and bigs (starters first, the two two-ways last).
_POSITIONS = "GGWWB" + "GWBGWBWGBW" + "GB"

# Per position, relative to a team's average: taste for threes, two- and three-point and
# free-throw percentages; then per-minute weights for offensive and defensive rebounds,
# assists, steals, blocks, turnovers and fouls. Only ratios between teammates matter: the team
# counts are fixed by `play`.
_PROFILE = {
    "G": (1.25, 0.96, 1.02, 1.07, (0.5, 0.75, 2.4, 1.25, 0.45, 1.3, 0.85)),
    "W": (1.12, 0.99, 1.0, 1.01, (0.9, 1.0, 1.1, 1.05, 0.75, 0.9, 1.0)),
    "B": (0.45, 1.14, 0.93, 0.91, (2.4, 1.75, 0.85, 0.75, 2.3, 0.85, 1.3)),
}

# Injuries as the gamebook's inactive list words them (the same all spell long).
_INJURIES = ("Injury/Illness - Left Ankle; Sprain", "Injury/Illness - Right Knee; Soreness",
             "Injury/Illness - Left Hamstring; Strain", "Injury/Illness - Lower Back; Spasms",
             "Injury/Illness - Right Foot; Plantar Fasciitis", "Injury/Illness - Illness",
             "Injury/Illness - Left Calf; Strain", "Injury/Illness - Right Wrist; Fracture")
_DNP_COACH = "DNP - Coach's Decision"
_DND = "DND - Injury/Illness - Sore"
_NWT = "NWT - Personal"
_TWO_WAY = "G League - Two-Way"
_ASSIGNMENT = "G League - On Assignment"


@dataclass(frozen=True, slots=True, eq=False)  # one object per player: hashed by identity
class Player:
    """A rostered player and his tendencies (the same every season)."""

    lookup: str
    name: str
    position: str
    slot: int          # depth chart: 0 is the best player, 15 and 16 the two-way players
    usage: float       # shot volume per minute on the floor
    three_share: float
    fg2_pct: float
    fg3_pct: float
    two_share: float   # 1 - three_share
    ft_rate: float     # free-throw trips per minute on the floor
    ft_pct: float      # the percentages relative to his team's (only ratios matter)
    # Per-minute weights, relative to teammates.
    oreb: float
    dreb: float
    ast: float
    stl: float
    blk: float
    tov: float
    pf: float
    columns: tuple[float, ...] = ()  # the tendencies `Side` works with, in _COLUMNS order

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(
            getattr(self, k) * getattr(self, m) if m else getattr(self, k)
            for k, m in _COLUMNS))


@lru_cache(maxsize=1)
def rosters() -> dict[str, tuple[Player, ...]]:
    """Seventeen players per team, best first, the same every season."""
    rng = random.Random("nba-rosters")
    names = list(product(_FIRST, _LAST))
    rng.shuffle(names)
    chosen = iter(names)
    teams: dict[str, tuple[Player, ...]] = {}
    seen: set[str] = set()
    for team in TEAMS:
        players: list[Player] = []
        while len(players) < ROSTER_SIZE:
            first, last = next(chosen)
            lookup = "".join(c for c in (first + last).lower() if c.isalpha())
            if lookup not in seen:
                seen.add(lookup)
                players.append(_player(rng, lookup, f"{first} {last}", len(players)))
        teams[team] = tuple(players)
    return teams


def _player(rng: random.Random, lookup: str, name: str, slot: int) -> Player:
    position = _POSITIONS[slot]
    three, two, three_pct, ft_pct, rates = _PROFILE[position]
    usage = (2.1, 1.6, 1.35)[slot] if slot < 3 else rng.uniform(0.8, 1.05)
    three_share = min(0.85, max(0.05, three * rng.uniform(0.7, 1.3)))
    return Player(
        lookup, name, position, slot,
        usage=usage * rng.uniform(0.9, 1.1),
        three_share=three_share,
        two_share=1 - three_share,
        fg2_pct=two * rng.uniform(0.94, 1.06) * (1.02 if slot < 3 else 1.0),
        fg3_pct=three_pct * rng.uniform(0.93, 1.07),
        ft_rate=rng.uniform(0.7, 1.3) * (1.35 if slot < 3 else 1.0),
        ft_pct=min(1.18, ft_pct * rng.uniform(0.92, 1.08)),
        oreb=rates[0] * rng.uniform(0.7, 1.3), dreb=rates[1] * rng.uniform(0.7, 1.3),
        ast=rates[2] * rng.uniform(0.7, 1.3), stl=rates[3] * rng.uniform(0.7, 1.3),
        blk=rates[4] * rng.uniform(0.7, 1.3), tov=rates[5] * rng.uniform(0.7, 1.3),
        pf=rates[6] * rng.uniform(0.7, 1.3))


# Rotation by kind of game: how many players get minutes, and minutes weights by place.
_REGULAR = ((9, 10, 10, 10, 11, 11, 12), (36, 35, 34, 33, 31, 25, 21, 17, 13, 9, 6, 4, 3))
_POSTSEASON = ((8, 9, 9, 10), (39, 38, 37, 35, 33, 24, 18, 11, 6, 3))
_ROTATIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "regular_season": _REGULAR, "nba_cup_final": _REGULAR,
    "preseason": ((12, 13, 13), (25, 25, 24, 24, 23, 21, 20, 19, 18, 17, 15, 13, 11)),
    "play_in": _POSTSEASON, "playoffs": _POSTSEASON,
    "all_star": ((12,), (24, 24, 23, 23, 22, 21, 20, 19, 18, 17, 16, 15)),
}

# What follows from what `play` drew (shares fitted to recent seasons).
_DREB_OF_LIVE_MISS = 0.82  # the rest are team rebounds (not credited) or dead balls
_STEAL_OF_TURNOVER = 0.57
_BLOCK_OF_TWO_MISS, _BLOCK_OF_THREE_MISS = 0.2, 0.02
_ASSISTED_TWO, _ASSISTED_THREE = 0.55, 0.84
_LOOSE_FOULS = 0.06      # defensive fouls per possession that send nobody to the line
_OFFENSIVE_FOUL_OF_TURNOVER = 0.1
FOUL_OUT = 6


class Side:
    """One team's game, column by column (one entry per player who played, rotation order):
    seconds, the weights his tendencies and form give him, and every count."""

    def __init__(self, team: str, totals: Totals, players: list[Player], seconds: list[int],
                 absent: list[tuple[Player, str, str]], rng: random.Random) -> None:
        self.team, self.totals, self.players, self.seconds = team, totals, players, seconds
        self.absent = absent  # (player, 'dnp' or 'inactive', reason)
        self.fouls = 0
        r = rng.random
        n = len(players)
        (three, two, three_pct, two_pct, trips, ft_pct,
         oreb, dreb, stl, blk, pf, tov, ast) = zip(*map(_COLUMNS_OF, players), strict=True)
        self.ft_pct = ft_pct
        # The night's form, uniform around 1: shots, trips and turnovers; shooting; hustle.
        busy = list(map(mul, seconds, [0.5 + r() for _ in range(n)]))
        touch = [0.4 + 1.2 * r() for _ in range(n)]
        hustle = list(map(mul, seconds, [0.6 + 0.8 * r() for _ in range(n)]))
        self.three_weight = list(map(mul, busy, three))
        self.two_weight = list(map(mul, busy, two))
        self.three_pct = list(map(mul, touch, three_pct))
        self.two_pct = list(map(mul, touch, two_pct))
        self.trip_weight = list(map(mul, busy, trips))
        self.oreb_weight = list(map(mul, hustle, oreb))
        self.dreb_weight = list(map(mul, hustle, dreb))
        self.stl_weight = list(map(mul, hustle, stl))
        self.blk_weight = list(map(mul, hustle, blk))
        self.pf_weight = list(map(mul, hustle, pf))
        self.tov_weight = list(map(mul, busy, tov))
        self.ast_weight = list(map(mul, busy, ast))
        zeros = [0] * n
        self.fga, self.fg3a, self.fgm, self.fg3m = zeros, zeros, zeros, zeros
        self.fta, self.ftm, self.oreb, self.dreb = zeros, zeros, zeros, zeros
        self.ast, self.stl, self.blk, self.tov = zeros, zeros, zeros, zeros
        self.pf, self.plus_minus = zeros, zeros

    @property
    def points(self) -> int:
        return self.totals.points


_COLUMNS_OF = attrgetter("columns")
# (tendency, times tendency): shots from three, shots from two, percentages, trips, the rest.
_COLUMNS = (("usage", "three_share"), ("usage", "two_share"), ("fg3_pct", ""),
            ("fg2_pct", ""), ("ft_rate", ""), ("ft_pct", ""), ("oreb", ""), ("dreb", ""),
            ("stl", ""), ("blk", ""), ("pf", ""), ("tov", ""), ("ast", ""))


@dataclass(frozen=True, slots=True)
class BoxScore:
    game: Game
    away: Side
    home: Side

    @property
    def team_seconds(self) -> int:
        return (240 + 25 * self.game.overtimes) * 60


def result_of(game: Game) -> Result:
    """The game's team counts: `play`, from a generator seeded by its date-based id."""
    result = game.result or play(game.game_id, game.game_type, game.season, game.away,
                                 game.home)
    if (result.home_wins, result.overtimes) != (game.home_wins, game.overtimes):
        raise ValueError(f"{game.game_id}: not a game of the synthetic league's schedule")
    return result


def simulate(game: Game) -> BoxScore:
    """The game's box score: its team counts shared out to its players by a generator seeded
    by its id too."""
    result = result_of(game)
    rng = random.Random(f"{game.game_id}/players")
    length = 48 + 5 * game.overtimes
    away = _side(rng, game, game.away, result.away, length)
    home = _side(rng, game, game.home, result.home, length)
    _shots(rng, away)
    _shots(rng, home)
    for offense, defense in ((away, home), (home, away)):
        _finish(rng, offense, defense)
    _foul(rng, away)
    _foul(rng, home)
    margin = home.points - away.points
    _plus_minus(rng, home, margin)
    _plus_minus(rng, away, -margin)
    return BoxScore(game, away, home)


# -- who plays --------------------------------------------------------------------------------

def _side(rng: random.Random, game: Game, team: str, totals: Totals, length: int) -> Side:
    counts, minutes = _ROTATIONS[game.game_type]
    if team in (ALL_STAR_EAST, ALL_STAR_WEST):
        stars = [rosters()[t][0] for t in (EAST if team == ALL_STAR_EAST else WEST)]
        rng.shuffle(stars)
        playing = stars[:counts[0]]
        absent: list[tuple[Player, str, str]] = []
    else:
        playing, absent = _availability(rng, game, team, counts)
    r = rng.random
    weights = [w * (0.85 + 0.3 * r()) for w in minutes[:len(playing)]]
    seconds = _split(length * 5 * 60, weights, length * 60)
    return Side(team, totals, playing, seconds, absent, rng)


def _availability(rng: random.Random, game: Game, team: str, counts: tuple[int, ...]
                  ) -> tuple[list[Player], list[tuple[Player, str, str]]]:
    """Players who play (rotation order), and the others: coach's decisions and inactives."""
    r = rng.random
    roster = rosters()[team]
    hurt = _absences(game.season).get(team, {})
    out: dict[int, str] = {slot: reason for slot, (first, last, reason) in hurt.items()
                           if first <= game.day <= last}
    if game.game_type != "preseason":
        for slot in (15, 16):  # two-way players are mostly with the G League team
            if r() < 0.85:
                out.setdefault(slot, _TWO_WAY)
        if r() < 0.15:
            out.setdefault(14, _ASSIGNMENT)
    while len(roster) - len(out) < max(counts) + 1:  # dress enough players to play
        out.pop(max(out))
    available = [p for p in roster if p.slot not in out]
    # The depth chart, shuffled a little below the starters.
    bench = [p for *_, p in sorted((p.slot + 3 * r(), p.slot, p) for p in available[5:])]
    order = available[:5] + bench
    count = min(counts[int(r() * len(counts))], len(order))
    benched = {p.slot for p in order[count:]}
    absent = []
    for p in roster:
        if p.slot in out:
            absent.append((p, "inactive", out[p.slot]))
        elif p.slot in benched:
            roll = r()
            reason = _DNP_COACH if roll < 0.86 else _DND if roll < 0.96 else _NWT
            absent.append((p, "dnp", reason))
    return order[:count], absent


@lru_cache(maxsize=8)
def _absences(year: int) -> dict[str, dict[int, tuple[date, date, str]]]:
    """Injury spells per team and roster slot for the season: (first day, last day, reason)."""
    rng = random.Random(f"nba-injuries-{year}")
    season_days = days(date(year, 10, 1), date(year + 1, 6, 20))
    spells: dict[str, dict[int, tuple[date, date, str]]] = {}
    for team in TEAMS:
        spells[team] = {}
        for slot in rng.sample(range(15), rng.randint(11, 15)):
            first = rng.choice(season_days)
            length = min(60, int(rng.expovariate(1 / 15)) + 1)
            spells[team][slot] = (first, first + timedelta(days=length), rng.choice(_INJURIES))
    return spells


def _split(total: int, weights: list[float], cap: int) -> list[int]:
    """Whole seconds in proportion to weights, adding up to `total`, nobody above `cap`."""
    scale = total / sum(weights)
    seconds = [min(cap, int(w * scale)) for w in weights]
    i = 0
    while (short := total - sum(seconds)) > 0:
        seconds[i % len(seconds)] += min(short, cap - seconds[i % len(seconds)])
        i += 1
    return seconds


# -- sharing the counts out -------------------------------------------------------------------

def apportion(u: float, total: int, weights: list[float],
              caps: list[int] | None = None) -> list[int]:
    """Share `total` out in proportion to `weights`, exactly, nobody above his cap.

    Each share is its expectation rounded down or up (systematic sampling from one uniform
    `u`), so the shares add up to `total` and average out to the expectation.
    """
    if total <= 0:
        return [0] * len(weights)
    scale = total / sum(weights)
    counts = []
    acc, before = u, 0
    if caps is None:
        for w in weights:
            acc += w * scale
            now = int(acc)
            counts.append(now - before)
            before = now
    else:
        for w, cap in zip(weights, caps, strict=True):
            share = w * scale
            if share > cap:
                return _rounded(u, total, _fill(total, weights, caps), caps)
            acc += share
            now = int(acc)
            counts.append(now - before)
            before = now
    if before != total:  # floating-point rounding: off by one at most
        return _rounded(u, total, [w * scale for w in weights], caps)
    return counts


def _rounded(u: float, total: int, expected: list[float], caps: list[int] | None) -> list[int]:
    """Systematic rounding of expected shares that add up to `total`, exactly."""
    counts = []
    acc, before = u, 0
    for e in expected:
        acc += e
        now = int(acc)
        counts.append(now - before)
        before = now
    short = total - before
    n = len(counts)
    while short:
        step = 1 if short > 0 else -1
        room = [i for i in range(n) if (caps is None or counts[i] < caps[i])] if step > 0 \
            else [i for i in range(n) if counts[i] > 0]
        i = max(room, key=lambda j: step * (expected[j] - counts[j]))
        counts[i] += step
        short -= step
    return counts


def _fill(total: int, weights: list[float], caps: list[int]) -> list[float]:
    """Expected shares under caps: whoever would pass his cap gets it, the rest share the rest."""
    if total > sum(caps):
        raise ValueError(f"cannot share {total} out under caps {caps}")
    expected = [0.0] * len(weights)
    free = [i for i, (w, c) in enumerate(zip(weights, caps, strict=True)) if w > 0 and c > 0]
    left = float(total)
    while free:
        scale = left / sum(weights[i] for i in free)
        full = [i for i in free if weights[i] * scale >= caps[i]]
        if not full:
            for i in free:
                expected[i] = weights[i] * scale
            break
        for i in full:
            expected[i] = caps[i]
            left -= caps[i]
        free = [i for i in free if weights[i] * scale < caps[i]]
    return expected


def _shots(rng: random.Random, side: Side) -> None:
    """Threes and twos, makes, free-throw trips and free throws, player by player."""
    t = side.totals
    r = rng.random
    fg3a = apportion(r(), t.fg3a, side.three_weight)
    twos = apportion(r(), t.fga - t.fg3a, side.two_weight)
    fg3m = apportion(r(), t.fg3m, list(map(mul, fg3a, side.three_pct)), fg3a)
    fg2m = apportion(r(), t.fgm - t.fg3m, list(map(mul, twos, side.two_pct)), twos)
    trips = apportion(r(), t.trips, side.trip_weight)
    side.fga, side.fg3a, side.fg3m = list(map(add, fg3a, twos)), fg3a, fg3m
    side.fgm = list(map(add, fg3m, fg2m))
    # A third free throw (fouled on a three) or an and-one: at most one per trip and per basket.
    room = list(map(add, trips, side.fgm))
    extra = apportion(r(), t.three_shot_trips + t.and_ones, room, room)
    side.fta = list(map(add, map(add, trips, trips), extra))
    side.ftm = apportion(r(), t.ftm, list(map(mul, side.fta, side.ft_pct)), side.fta)


def _finish(rng: random.Random, offense: Side, defense: Side) -> None:
    """What follows from the offense's possessions: rebounds, turnovers, steals, blocks,
    assists; and how many fouls each side committed on them."""
    t = offense.totals
    r = rng.random
    fg_misses = t.fga - t.fgm
    misses = fg_misses + t.fta - t.ftm
    oreb = min(t.extra_shots, misses)
    three_misses = t.fg3a - t.fg3m
    dreb = binomial(rng, misses - oreb, _DREB_OF_LIVE_MISS)
    steals = binomial(rng, t.turnovers, _STEAL_OF_TURNOVER)
    blocks = (binomial(rng, fg_misses - three_misses, _BLOCK_OF_TWO_MISS)
              + binomial(rng, three_misses, _BLOCK_OF_THREE_MISS))
    assists = (binomial(rng, t.fg3m, _ASSISTED_THREE)
               + binomial(rng, t.fgm - t.fg3m, _ASSISTED_TWO))
    # Fouls: the defense's on every trip and and-one, plus loose-ball and reach-in fouls; the
    # offense's charges (turnovers too).
    defense.fouls += t.trips + t.and_ones + binomial(rng, t.possessions, _LOOSE_FOULS)
    offense.fouls += binomial(rng, t.turnovers, _OFFENSIVE_FOUL_OF_TURNOVER)
    offense.oreb = apportion(r(), oreb, offense.oreb_weight)
    offense.tov = apportion(r(), t.turnovers, offense.tov_weight)
    # A player's assists are his teammates' baskets, never his own.
    offense.ast = apportion(r(), assists, offense.ast_weight,
                            list(map(sub, repeat(t.fgm, len(offense.fgm)), offense.fgm)))
    defense.dreb = apportion(r(), dreb, defense.dreb_weight)
    defense.stl = apportion(r(), steals, defense.stl_weight)
    defense.blk = apportion(r(), blocks, defense.blk_weight)


def _foul(rng: random.Random, side: Side) -> None:
    """Give the side's fouls out by minutes and tendency; six and a player has fouled out."""
    side.pf = apportion(rng.random(), side.fouls, side.pf_weight,
                        [FOUL_OUT] * len(side.players))


def _plus_minus(rng: random.Random, side: Side, margin: int) -> None:
    """Plus-minus by time on the floor plus noise, adding up to five times the margin."""
    seconds = side.seconds
    total = 5 * margin
    team_seconds = sum(seconds)
    r = rng.random
    noise = [12 * (r() + r() - 1) * (s / 2100) ** 0.5 for s in seconds]
    mean_noise = sum(noise) / len(noise)
    values = [round(total * s / team_seconds + n - mean_noise)
              for s, n in zip(seconds, noise, strict=True)]
    values[0] += total - sum(values)
    side.plus_minus = values
