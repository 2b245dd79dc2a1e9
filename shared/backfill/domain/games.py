"""What makes two game ids the same game, and what type of game an official id names."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date

# Official id type digit: the "2" of 0022400089.
TYPE_CODES = {"preseason": "1", "regular_season": "2", "all_star": "3", "playoffs": "4",
              "play_in": "5"}
GAME_TYPES: dict[str, str] = {code: name for name, code in TYPE_CODES.items()}

# Play-in games are competitive games with full box scores that analytics count, so they are
# checked like regular season and playoff games; preseason and All-Star exhibitions are not.
DEFAULT_GAME_TYPES: frozenset[str] = frozenset({"regular_season", "playoffs", "play_in"})

_DATE_BASED = re.compile(r"^(\d{8})_([A-Z]{2,4})_([A-Z]{2,4})$")
_OFFICIAL = re.compile(r"^00(\d)\d{7}$")

GameKey = tuple[date, str | frozenset[str]]
KeyRule = Callable[[date, str], GameKey]


# Detection keys every game of every table (about nine times each): remember recent answers.
@functools.lru_cache(maxsize=1 << 17)
def team_set_key(game_date: date, game_id: str) -> GameKey:
    """(game_date, team set) for date-based ids, so 20241101_MIL_BKN is 20241101_BKN_MIL.

    Any other id format is compared as it is.
    """
    match = _DATE_BASED.match(game_id)
    if match is None:
        return (game_date, game_id)
    return (game_date, frozenset(match.group(2, 3)))


def raw_key(game_date: date, game_id: str) -> GameKey:
    """The id exactly as stored: for processors whose ids never change format."""
    return (game_date, game_id)


def flipped(game_id: str) -> str:
    """The date-based id with away and home swapped, as old rows sometimes have it."""
    match = _DATE_BASED.match(game_id)
    if match is None:
        raise ValueError(f"{game_id!r} is not a date-based game id")
    return f"{match.group(1)}_{match.group(3)}_{match.group(2)}"


def game_type(nba_game_id: str | None) -> str | None:
    """The game type an official id encodes ("0032400001" -> "all_star"), None if unreadable."""
    match = _OFFICIAL.match(nba_game_id or "")
    return GAME_TYPES.get(match.group(1)) if match else None
