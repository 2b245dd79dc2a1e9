"""Box-score formulas as small pure functions, rounded so output is stable across runs and backends.

Possessions are the original pipeline's single-team estimate (FGA + 0.44·FTA − OREB + TOV, the
Hollinger/Oliver form without Basketball-Reference's rebound weighting or the average of both
teams), so Backfill's ratings match the analytics it backfills; pace uses Basketball-Reference's
two-team form on top of it, and usage rate scales by the team's actual minutes (overtime counts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from backfill.domain.errors import BadData

# Four decimals keep floats identical across runs and backends while staying far below noise.
DECIMALS = 4
REGULATION_MINUTES = 240
OVERTIME_MINUTES = 25  # five players times a five-minute period

_CLOCK = re.compile(r"^(\d+):([0-5]\d)$")                        # 36:05, 5:30, 265:00
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$")                         # 36, 36.5
_ISO = re.compile(r"^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")     # PT24M30.00S (NBA live data)
# What scrapes write for a player who did not play.
NOT_PLAYED = frozenset({"", "-", "DNP", "DND", "NWT"})


def safe_div(numerator: float, denominator: float) -> float | None:
    """Return numerator / denominator rounded, or None when the denominator is zero."""
    if denominator == 0:
        return None
    return round(numerator / denominator, DECIMALS)


def parse_minutes(text: Any, *, played: bool = True) -> float:
    """Minutes from "MM:SS", "M:SS", "36", "36.5" or "PT24M30.00S" (spaces around are fine).

    "-", "DNP", "" and NULL mean 0 minutes for a player who did not play (`played=False`) and
    are bad data for one who did; anything else unreadable is bad data.
    """
    value = text.strip() if isinstance(text, str) else text
    if value is None or (isinstance(value, str) and value.upper() in NOT_PLAYED):
        if played:
            raise BadData(f"minutes {text!r}, expected a time played (MM:SS)")
        return 0.0
    if isinstance(value, str):
        if match := _CLOCK.match(value):
            return round(int(match[1]) + int(match[2]) / 60, DECIMALS)
        if _PLAIN.match(value):
            return round(float(value), DECIMALS)
        if (match := _ISO.match(value)) and (match[1] or match[2]):
            return round(int(match[1] or 0) + float(match[2] or 0) / 60, DECIMALS)
    raise BadData(f"unreadable minutes {text!r}, expected MM:SS")


def overtime_periods(team_minutes: float) -> int:
    """Overtime periods from a team's total minutes: 240 -> 0, 265 -> 1, 265.5 -> 1."""
    return max(0, math.floor((team_minutes - REGULATION_MINUTES) / OVERTIME_MINUTES))


def exact_game_length(team_minutes: float) -> bool:
    """True for exactly 240:00 plus 25:00 per overtime period (anything else is suspect data)."""
    extra = team_minutes - REGULATION_MINUTES
    return extra >= 0 and math.isclose(extra % OVERTIME_MINUTES, 0, abs_tol=1e-6)


def stat(row: Mapping[str, Any], column: str, who: str) -> int:
    """An integer box-score column, or BadData naming whose row and which column it is."""
    value = row.get(column)
    if not isinstance(value, int) or isinstance(value, bool):
        shown = "NULL" if value is None else repr(value)
        raise BadData(f"{who}: {column} is {shown}, expected a whole number")
    return value


def single_team_possessions(fga: int, fta: int, tov: int, oreb: int) -> float:
    """The original's possession estimate of one team: FGA + 0.44*FTA + TOV - OREB."""
    return round(fga + 0.44 * fta + tov - oreb, DECIMALS)


def true_shooting_pct(points: int, fga: int, fta: int) -> float | None:
    """True shooting percentage: PTS / (2 * (FGA + 0.44*FTA))."""
    return safe_div(points, 2 * (fga + 0.44 * fta))


def effective_fg_pct(fgm: int, three_pm: int, fga: int) -> float | None:
    """Effective field-goal percentage: (FGM + 0.5*3PM) / FGA."""
    return safe_div(fgm + 0.5 * three_pm, fga)


def usage_rate(fga: int, fta: int, tov: int, minutes: float,
               team_minutes: float, team_fga: int, team_fta: int, team_tov: int) -> float | None:
    """Share of team plays a player used while on the floor, in percent (unbounded: a player
    with one shot in a few seconds shows a large number, as Basketball-Reference does)."""
    plays = (fga + 0.44 * fta + tov) * (team_minutes / 5)
    return safe_div(100 * plays, minutes * (team_fga + 0.44 * team_fta + team_tov))


def rating(points: int, possessions: float) -> float | None:
    """Points per 100 possessions (offensive rating of scorers, defensive rating of allowed points)."""
    return safe_div(100 * points, possessions)


def pace(team_possessions: float, opponent_possessions: float, team_minutes: float) -> float | None:
    """Possessions per 48 minutes: 48 * ((Tm Poss + Opp Poss) / (2 * (Tm MP / 5)))."""
    return safe_div(48 * (team_possessions + opponent_possessions), 2 * (team_minutes / 5))
