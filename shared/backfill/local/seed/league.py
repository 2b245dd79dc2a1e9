"""A deterministic synthetic NBA league: whole seasons of schedule, gamebooks and team box scores.

Every season is built in full from seeds derived from its year (and each game's box score from its
game id), then filtered to the window asked for, so a game never depends on the window.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import product

from backfill.domain.games import TYPE_CODES
from backfill.domain.tables import Column, Schema, TableRef, schema
from backfill.processors.base import Row
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

# The seed writes exactly the tables the built-in processors read.
SCHEDULE: TableRef = UpcomingTeamGameContext.source
GAMEBOOK: TableRef = PlayerGameSummary.source
TEAM_BOXSCORE: TableRef = TeamOffenseGameSummary.source

EAST = ("ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DET", "IND", "MIA", "MIL", "NYK", "ORL",
        "PHI", "TOR", "WAS")
WEST = ("DAL", "DEN", "GSW", "HOU", "LAC", "LAL", "MEM", "MIN", "NOP", "OKC", "PHX", "POR",
        "SAC", "SAS", "UTA")
TEAMS = tuple(sorted(EAST + WEST))


_BOX_STATS = ("fg_made", "fg_attempted", "three_pt_made", "three_pt_attempted", "ft_made",
              "ft_attempted", "offensive_rebounds", "defensive_rebounds", "total_rebounds",
              "assists", "steals", "blocks", "turnovers", "personal_fouls")
_BOX_COLUMNS = tuple(Column(column, "INT64") for column in _BOX_STATS)

PHASE2_SCHEMAS: dict[TableRef, Schema] = {
    SCHEDULE: schema(
        game_id="STRING", game_date="DATE", nba_game_id="STRING", season_year="INT64",
        game_type="STRING", game_status="STRING", home_team_abbr="STRING",
        away_team_abbr="STRING", processed_at="TIMESTAMP"),
    GAMEBOOK: schema(
        game_id="STRING", game_date="DATE", team_abbr="STRING", opponent_team_abbr="STRING",
        player_lookup="STRING", player_name="STRING", player_status="STRING",
        dnp_reason="STRING", minutes="STRING", points="INT64")
    + _BOX_COLUMNS + schema(plus_minus="INT64", processed_at="TIMESTAMP"),
    TEAM_BOXSCORE: schema(
        game_id="STRING", game_date="DATE", team_abbr="STRING", opponent_team_abbr="STRING",
        is_home="BOOL", minutes="STRING")
    + _BOX_COLUMNS + schema(points="INT64", processed_at="TIMESTAMP"),
}

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
ROSTER_SIZE = 17
# Share of the team's minutes by rotation rank among active players (starters first).
_MINUTES_PROFILE = (35, 34, 33, 32, 30, 26, 22, 18, 14, 10, 8, 6, 4)
_DNP = "DNP - Coach's Decision"
_INACTIVE = ("Inactive - Injury/Illness", "Inactive - G League Two-Way", "Inactive - Personal")


@dataclass(frozen=True, slots=True)
class Player:
    """A rostered player and his per-minute tendencies."""

    lookup: str
    name: str
    fga: float
    three_share: float
    fg2_pct: float
    fg3_pct: float
    fta: float
    ft_pct: float
    rates: tuple[float, ...]  # per minute: oreb, dreb, ast, stl, blk, tov, pf


@dataclass(frozen=True, slots=True)
class Game:
    """One scheduled and played game, with its result decided at schedule time."""

    day: date
    season: int
    game_type: str
    away: str
    home: str
    number: str  # the official id's last five digits; "" until the season is numbered
    home_wins: bool
    overtimes: int

    @property
    def game_id(self) -> str:
        """Date-based id: 20241101_BKN_MIL."""
        return f"{self.day:%Y%m%d}_{self.away}_{self.home}"

    @property
    def nba_game_id(self) -> str:
        """Official id: 0022400089."""
        return f"00{TYPE_CODES[self.game_type]}{self.season % 100:02d}{self.number}"


@lru_cache(maxsize=1)
def rosters() -> dict[str, tuple[Player, ...]]:
    """Seventeen players per team, best first, the same every season."""
    rng = random.Random("nba-rosters")
    names = list(product(_FIRST, _LAST))
    rng.shuffle(names)
    players = iter(_player(rng, first, last, rank % ROSTER_SIZE)
                   for rank, (first, last) in enumerate(names[:ROSTER_SIZE * len(TEAMS)]))
    return {team: tuple(next(players) for _ in range(ROSTER_SIZE)) for team in TEAMS}


def _player(rng: random.Random, first: str, last: str, rank: int) -> Player:
    lookup = "".join(c for c in (first + last).lower() if c.isalpha())
    star = 0.06 if rank < 3 else 0.0
    return Player(lookup, f"{first} {last}", rng.uniform(0.26, 0.42) + star,
                  rng.uniform(0.15, 0.55), rng.uniform(0.48, 0.6), rng.uniform(0.31, 0.4),
                  rng.uniform(0.05, 0.14), rng.uniform(0.65, 0.9),
                  tuple(rng.uniform(lo, hi) for lo, hi in
                        ((0.02, 0.07), (0.08, 0.2), (0.04, 0.18), (0.02, 0.05), (0.005, 0.05),
                         (0.03, 0.07), (0.06, 0.11))))


def generate_phase2(start: date, end: date) -> dict[TableRef, list[Row]]:
    """The Phase 2 rows of every game in [start, end], the same whatever window is asked for."""
    games = [g for year in range(start.year - 1, end.year + 1) for g in season(year)
             if start <= g.day <= end]
    tables: dict[TableRef, list[Row]] = {SCHEDULE: [], GAMEBOOK: [], TEAM_BOXSCORE: []}
    for game in sorted(games, key=lambda g: (g.day, g.game_id)):
        processed_at = datetime.combine(game.day + timedelta(days=1), time(9), tzinfo=UTC)
        tables[SCHEDULE].append({
            "game_id": game.game_id, "game_date": game.day, "nba_game_id": game.nba_game_id,
            "season_year": game.season, "game_type": game.game_type, "game_status": "Final",
            "home_team_abbr": game.home, "away_team_abbr": game.away,
            "processed_at": processed_at})
        players, teams = box_score(game)
        for row in players + teams:
            row["processed_at"] = processed_at
        tables[GAMEBOOK] += players
        tables[TEAM_BOXSCORE] += teams
    return tables


@lru_cache(maxsize=8)
def season(year: int) -> tuple[Game, ...]:
    """Every game of the season starting in October of `year`, in date order."""
    games = sorted(_SeasonBuilder(year).build(), key=lambda g: (g.day, g.game_id))
    # Official sequence numbers run in date order within a game type; playoff ids encode the series.
    numbers: Counter[str] = Counter()
    for i, game in enumerate(games):
        if not game.number:
            numbers[game.game_type] += 1
            games[i] = replace(game, number=f"{numbers[game.game_type]:05d}")
    return tuple(games)


def _weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


class _SeasonBuilder:
    """Lays out one season phase by phase from a single seeded generator."""

    def __init__(self, year: int) -> None:
        self.year = year
        self.rng = random.Random(f"nba-season-{year}")
        self.strength = {team: self.rng.gauss(0, 0.5) for team in TEAMS}
        self.games: list[Game] = []

    def build(self) -> list[Game]:
        """Preseason, regular season with an All-Star break, play-in and playoffs."""
        y = self.year
        self._rotation("preseason", _days(date(y, 10, 4), date(y, 10, 18)), 72, 2, 8)
        all_star = _weekday_on_or_after(date(y + 1, 2, 15), 6)  # third Sunday of February
        thanksgiving = _weekday_on_or_after(date(y, 11, 22), 3)
        breaks = {thanksgiving, date(y, 12, 24), *_days(all_star - timedelta(days=2),
                                                         all_star + timedelta(days=3))}
        opening = _weekday_on_or_after(date(y, 10, 21), 1)
        last_day = _weekday_on_or_after(date(y + 1, 4, 8), 6)
        regular = [d for d in _days(opening, last_day) if d not in breaks]
        wins = self._rotation("regular_season", regular, 1230, 4, 14)
        self._play(all_star, "all_star", "WST", "EST")
        # Play-in Tuesday (East) and Wednesday (West), deciders Friday, playoffs from Saturday.
        final_day = last_day + timedelta(days=5)
        east = self._play_in(self._standings(EAST, wins), last_day + timedelta(days=2), final_day)
        west = self._play_in(self._standings(WEST, wins), last_day + timedelta(days=3), final_day)
        self._playoffs(east + west, last_day + timedelta(days=6), wins)
        return self.games

    def _standings(self, conference: tuple[str, ...], wins: Counter[str]) -> list[str]:
        return sorted(conference, key=lambda t: (-wins[t], -self.strength[t]))

    def _play(self, day: date, game_type: str, away: str, home: str, number: str = "") -> Game:
        rng = self.rng
        edge = self.strength.get(home, 0) - self.strength.get(away, 0) + 0.25  # home court
        overtimes = 0
        if rng.random() < 0.06:  # about 6% of NBA games go to overtime
            overtimes = 1
            while overtimes < 4 and rng.random() < 0.12:
                overtimes += 1
        game = Game(day, self.year, game_type, away, home, number,
                    rng.random() < 1 / (1 + math.exp(-edge)), overtimes)
        self.games.append(game)
        return game

    def _rotation(self, game_type: str, days: list[date], total: int, low: int,
                  high: int) -> Counter[str]:
        """Spread `total` games over days, teams with the fewest games first; return wins."""
        rng = self.rng
        weights = [rng.uniform(0.55, 1.45) for _ in days]
        scale = total / sum(weights)
        per_day = [max(low, min(high, round(w * scale))) for w in weights]
        while (diff := total - sum(per_day)) != 0:
            i = rng.randrange(len(days))
            if low <= per_day[i] + (1 if diff > 0 else -1) <= high:
                per_day[i] += 1 if diff > 0 else -1
        played: Counter[str] = Counter()
        hosted: Counter[str] = Counter()
        wins: Counter[str] = Counter()
        for day, count in zip(days, per_day, strict=True):
            chosen = sorted(TEAMS, key=lambda t: (played[t], rng.random()))[:2 * count]
            rng.shuffle(chosen)
            for a, b in zip(chosen[::2], chosen[1::2], strict=True):
                home, away = (a, b) if hosted[a] <= hosted[b] else (b, a)
                game = self._play(day, game_type, away, home)
                played.update((a, b))
                hosted[home] += 1
                wins[_winner(game)] += 1
        return wins

    def _play_in(self, standings: list[str], day: date, final_day: date) -> list[str]:
        """Seeds 1-8 of a conference: 7-8 and 9-10 games, then 7-8's loser hosts 9-10's winner."""
        a = self._play(day, "play_in", standings[7], standings[6])
        b = self._play(day, "play_in", standings[9], standings[8])
        c = self._play(final_day, "play_in", _winner(b), _loser(a))
        return standings[:6] + [_winner(a), _winner(c)]

    def _playoffs(self, seeded: list[str], start: date, wins: Counter[str]) -> None:
        """Four best-of-seven rounds; series of a round alternate days so each day has a few games."""
        seed = {team: i % 8 for i, team in enumerate(seeded)}
        # Bracket order 1-8, 4-5, 3-6, 2-7 per conference, so adjacent winners meet next.
        alive = [seeded[c * 8 + s] for c in (0, 1) for pair in ((0, 7), (3, 4), (2, 5), (1, 6))
                 for s in pair]
        for rnd in range(1, 5):
            # Better seed has home court; in the Finals, across conferences, the better record.
            rank = {t: (-wins[t], -self.strength[t]) if rnd == 4 else (seed[t], 0.0) for t in alive}
            results = [self._series(rnd, i, sorted(alive[2 * i:2 * i + 2], key=rank.__getitem__),
                                    start)
                       for i in range(len(alive) // 2)]
            alive = [winner for winner, _ in results]
            start = max(last for _, last in results) + timedelta(days=2)

    def _series(self, rnd: int, index: int, teams: list[str], start: date) -> tuple[str, date]:
        high, low = teams  # high has home court in games 1, 2, 5 and 7
        won: Counter[str] = Counter()
        game_no = 0
        day = start
        while max(won.values(), default=0) < 4:
            home, away = (high, low) if game_no in (0, 1, 4, 6) else (low, high)
            day = start + timedelta(days=2 * game_no + index % 2)
            game = self._play(day, "playoffs", away, home, f"00{rnd}{index}{game_no + 1}")
            won[_winner(game)] += 1
            game_no += 1
        return won.most_common(1)[0][0], day


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _winner(game: Game) -> str:
    return game.home if game.home_wins else game.away


def _loser(game: Game) -> str:
    return game.away if game.home_wins else game.home


def box_score(game: Game) -> tuple[list[Row], list[Row]]:
    """Gamebook rows and the two team rows of a game, seeded by its id alone."""
    rng = random.Random(game.game_id)
    team_minutes = 240 + 25 * game.overtimes
    squads = {team: _squad(rng, team) for team in (game.away, game.home)}
    lines = {team: _lines(rng, active, team_minutes) for team, (active, _) in squads.items()}
    _settle(rng, lines[_winner(game)], lines[_loser(game)])
    points = {team: sum(line["points"] for line in team_lines)
              for team, team_lines in lines.items()}
    players: list[Row] = []
    teams: list[Row] = []
    for team, opponent in ((game.away, game.home), (game.home, game.away)):
        active, benched = squads[team]
        _plus_minus(rng, lines[team], 5 * (points[team] - points[opponent]))
        base = {"game_id": game.game_id, "game_date": game.day, "team_abbr": team,
                "opponent_team_abbr": opponent}
        players += [{**base, "player_lookup": p.lookup, "player_name": p.name,
                     "player_status": "active", "dnp_reason": None,
                     "minutes": f"{line['seconds'] // 60}:{line['seconds'] % 60:02d}",
                     **{k: line[k] for k in ("points", *_BOX_STATS, "plus_minus")}}
                    for p, line in zip(active, lines[team], strict=True)]
        players += [{**base, "player_lookup": p.lookup, "player_name": p.name,
                     "player_status": "dnp" if reason == _DNP else "inactive",
                     "dnp_reason": reason, "minutes": None,
                     **dict.fromkeys(("points", *_BOX_STATS, "plus_minus"))}
                    for p, reason in benched]
        teams.append({**base, "is_home": team == game.home, "minutes": f"{team_minutes}:00",
                      **{k: sum(line[k] for line in lines[team]) for k in _BOX_STATS},
                      "points": points[team]})
    return players, teams


def _squad(rng: random.Random, team: str) -> tuple[list[Player], list[tuple[Player, str]]]:
    """Active players in rotation order, and the dressed-but-unused ones with their reason."""
    if team in ("EST", "WST"):  # All-Stars: each conference team's best player
        roster = [rosters()[t][0] for t in (EAST if team == "EST" else WEST)]
        rng.shuffle(roster)
    else:
        roster = list(rosters()[team])
    listed = roster[:rng.randint(13, min(ROSTER_SIZE, len(roster)))]
    active_count = rng.randint(10, min(13, len(listed)))
    benched = [(p, _DNP if rng.random() < 0.5 else rng.choice(_INACTIVE))
               for p in listed[active_count:]]
    return listed[:active_count], benched


def _count(rng: random.Random, mean: float) -> int:
    """An integer with the given mean (stochastic rounding)."""
    return int(mean + rng.random())


def _made(rng: random.Random, attempts: int, pct: float) -> int:
    return sum(rng.random() < pct for _ in range(attempts))


def _lines(rng: random.Random, active: list[Player], team_minutes: int) -> list[dict[str, int]]:
    """Box-score lines whose seconds add up to exactly five players for the whole game."""
    weights = [share * rng.uniform(0.85, 1.15) for share in _MINUTES_PROFILE[:len(active)]]
    total = team_minutes * 60
    seconds = [int(total * w / sum(weights)) for w in weights]
    seconds[0] += total - sum(seconds)
    lines = []
    for p, secs in zip(active, seconds, strict=True):
        minutes = secs / 60 * rng.uniform(0.7, 1.3)  # the night's form scales every count
        fga = _count(rng, p.fga * minutes)
        threes = _count(rng, fga * p.three_share)
        fta = _count(rng, p.fta * minutes)
        oreb, dreb, ast, stl, blk, tov, pf = (_count(rng, r * minutes) for r in p.rates)
        line = {"seconds": secs, "fg_attempted": fga, "three_pt_attempted": threes,
                "three_pt_made": _made(rng, threes, p.fg3_pct), "ft_attempted": fta,
                "ft_made": _made(rng, fta, p.ft_pct), "offensive_rebounds": oreb,
                "defensive_rebounds": dreb, "total_rebounds": oreb + dreb, "assists": ast,
                "steals": stl, "blocks": blk, "turnovers": tov, "personal_fouls": min(6, pf)}
        line["fg_made"] = line["three_pt_made"] + _made(rng, fga - threes, p.fg2_pct)
        _score(line)
        lines.append(line)
    return lines


def _score(line: dict[str, int]) -> None:
    line["points"] = 2 * line["fg_made"] + line["three_pt_made"] + line["ft_made"]


def _settle(rng: random.Random, winner: list[dict[str, int]], loser: list[dict[str, int]]) -> None:
    """Turn the winner's misses into makes and the loser's makes into misses until the result holds."""
    while sum(x["points"] for x in winner) <= sum(x["points"] for x in loser):
        up = winner[rng.randrange(min(5, len(winner)))]
        if up["fg_made"] - up["three_pt_made"] < up["fg_attempted"] - up["three_pt_attempted"]:
            up["fg_made"] += 1
        else:  # no two-point miss to convert: a made free throw always can be added
            up["ft_made"] += 1
            up["ft_attempted"] += 1
        down = loser[rng.randrange(min(5, len(loser)))]
        if down["fg_made"] > down["three_pt_made"]:
            down["fg_made"] -= 1
        _score(up)
        _score(down)


def _plus_minus(rng: random.Random, lines: list[dict[str, int]], total: int) -> None:
    """Plus-minus by minutes played plus noise, summing to five times the margin."""
    team_seconds = sum(line["seconds"] for line in lines)
    noise = [rng.gauss(0, 4) for _ in lines]
    mean_noise = sum(noise) / len(noise)
    values = [round(total * line["seconds"] / team_seconds + n - mean_noise)
              for line, n in zip(lines, noise, strict=True)]
    values[0] += total - sum(values)
    for line, value in zip(lines, values, strict=True):
        line["plus_minus"] = value
