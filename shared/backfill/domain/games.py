"""What makes two rows the same game, whatever their ids, and what type of game an official id names.

Sources spell a game differently: the schedule by its official id (`0022400561`) with its teams,
the box scores by a date-based id (`20250115_NYK_PHI`, away and home flipped in some old rows).
Every table is therefore compared on (game_date, the set of its two teams).
"""

from __future__ import annotations

import functools
import re
from datetime import date

# Official id type digit: the "2" of 0022400089.
TYPE_CODES = {"preseason": "1", "regular_season": "2", "all_star": "3", "playoffs": "4",
              "play_in": "5", "nba_cup_final": "6"}
GAME_TYPES: dict[str, str] = {code: name for name, code in TYPE_CODES.items()}

# Competitive games with full box scores that analytics count; preseason and All-Star
# exhibitions are not checked.
DEFAULT_GAME_TYPES: frozenset[str] = frozenset(
    {"regular_season", "playoffs", "play_in", "nba_cup_final"})

_DATE_BASED = re.compile(r"^(\d{8})_([A-Z]{2,4})_([A-Z]{2,4})$")
_OFFICIAL = re.compile(r"^00(\d)\d{7}$")

GameKey = tuple[date, frozenset[str] | str]


def teams_key(game_date: date, away: str, home: str) -> GameKey:
    """The game of two teams on a date, whichever is home."""
    return (game_date, frozenset((away, home)))


# Detection keys every game of every table several times: remember recent answers.
@functools.lru_cache(maxsize=1 << 17)
def game_key(game_date: date, game_id: str) -> GameKey:
    """(game_date, team set) for a date-based id, so 20241101_MIL_BKN is 20241101_BKN_MIL.

    An id of any other format is compared as it is.
    """
    match = _DATE_BASED.match(game_id)
    if match is None:
        return (game_date, game_id)
    return teams_key(game_date, match[2], match[3])


def date_based_id(game_date: date, away: str, home: str) -> str:
    """The id Phase 3 rows carry: 20250115_NYK_PHI (away first)."""
    return f"{game_date:%Y%m%d}_{away}_{home}"


def id_spellings(key: GameKey) -> tuple[str, ...]:
    """Every id a game of this key may be stored under (both orders of a team pair)."""
    game_date, teams = key
    if isinstance(teams, str):
        return (teams,)
    first, second = sorted(teams)
    return (date_based_id(game_date, first, second), date_based_id(game_date, second, first))


def key_teams(key: GameKey) -> frozenset[str]:
    """The teams of a game, empty when its id named none."""
    return key[1] if isinstance(key[1], frozenset) else frozenset()


def flipped(game_id: str) -> str:
    """The date-based id with away and home swapped, as old rows sometimes have it."""
    match = _DATE_BASED.match(game_id)
    if match is None:
        raise ValueError(f"{game_id!r} is not a date-based game id")
    return f"{match[1]}_{match[3]}_{match[2]}"


def game_type(official_id: str | None) -> str | None:
    """The game type an official id encodes ("0032400001" -> "all_star"), None if unreadable."""
    match = _OFFICIAL.match(official_id or "")
    return GAME_TYPES.get(match[1]) if match else None
