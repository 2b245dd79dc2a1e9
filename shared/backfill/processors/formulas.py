"""Basketball-Reference box-score formulas as small pure functions, rounded so output is stable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backfill.domain.errors import PermanentError

# Four decimals keep floats identical across runs and backends while staying far below noise.
DECIMALS = 4
REGULATION_MINUTES = 240
OVERTIME_MINUTES = 25  # five players times a five-minute period

_MINUTES = re.compile(r"^(\d+):([0-5]\d)$")


def safe_div(numerator: float, denominator: float) -> float | None:
    """Return numerator / denominator rounded, or None when the denominator is zero."""
    if denominator == 0:
        return None
    return round(numerator / denominator, DECIMALS)


def parse_minutes(text: Any) -> float:
    """Parse "MM:SS" into minutes; anything else is bad source data no retry can fix."""
    match = _MINUTES.match(text) if isinstance(text, str) else None
    if match is None:
        raise PermanentError(f"unparsable minutes {text!r}: expected MM:SS")
    return round(int(match[1]) + int(match[2]) / 60, DECIMALS)


def overtime_periods(team_minutes: Any) -> int:
    """Count overtime periods from a team's total minutes: "240:00" -> 0, "265:00" -> 1."""
    extra = parse_minutes(team_minutes) - REGULATION_MINUTES
    if extra < 0 or extra % OVERTIME_MINUTES:
        raise PermanentError(f"impossible team minutes {team_minutes!r}: expected 240:00 + 25:00 per OT")
    return int(extra // OVERTIME_MINUTES)


def stat(row: Mapping[str, Any], column: str) -> int:
    """Return an integer box-score column, or raise PermanentError naming the game and column."""
    value = row.get(column)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentError(f"game {row.get('game_id')}: {column} is {value!r}, expected an integer")
    return value


def possessions(fga: int, fta: int, tov: int, oreb: int) -> float:
    """Estimated possessions: FGA + 0.44*FTA + TOV - OREB."""
    return round(fga + 0.44 * fta + tov - oreb, DECIMALS)


def true_shooting_pct(points: int, fga: int, fta: int) -> float | None:
    """True shooting percentage: PTS / (2 * (FGA + 0.44*FTA))."""
    return safe_div(points, 2 * (fga + 0.44 * fta))


def effective_fg_pct(fgm: int, three_pm: int, fga: int) -> float | None:
    """Effective field-goal percentage: (FGM + 0.5*3PM) / FGA."""
    return safe_div(fgm + 0.5 * three_pm, fga)


def usage_rate(fga: int, fta: int, tov: int, minutes: float,
               team_minutes: float, team_fga: int, team_fta: int, team_tov: int) -> float | None:
    """Share of team plays a player used while on the floor, in percent."""
    plays = (fga + 0.44 * fta + tov) * (team_minutes / 5)
    return safe_div(100 * plays, minutes * (team_fga + 0.44 * team_fta + team_tov))


def rating(points: int, possessions_: float) -> float | None:
    """Points per 100 possessions (offensive rating of scorers, defensive rating of allowed points)."""
    return safe_div(100 * points, possessions_)


def pace(team_possessions: float, opponent_possessions: float, team_minutes: float) -> float | None:
    """Possessions per 48 minutes: 48 * ((Tm Poss + Opp Poss) / (2 * (Tm MP / 5)))."""
    return safe_div(48 * (team_possessions + opponent_possessions), 2 * (team_minutes / 5))
