"""What a Phase 3 game was computed from, so detection can tell when any input has changed.

Each Phase 3 row records three things beside its values: the newest Phase 2 `processed_at` over
every source row its computation read (its own game, and within the processor's lookback every
game of its teams), the content version of each upstream Phase 3 game it read, and the content
version of its own game (a hash of the values, so an upstream recomputation that changes nothing
makes nothing downstream stale). Detection computes the same quantities from Phase 2 and the
upstream targets and compares.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from backfill.domain.games import GameKey, key_teams

# The columns Backfill writes on every Phase 3 row, after the processor's own.
SOURCE_PROCESSED_AT = "source_processed_at"
UPSTREAM_VERSIONS = "upstream_versions"
CONTENT_VERSION = "content_version"
PROCESSOR_VERSION = "processor_version"


def input_times(games: Iterable[tuple[GameKey, datetime | None]],
                lookback_days: int) -> dict[GameKey, datetime | None]:
    """The newest processed time each game's computation reads: its own rows, and within
    `lookback_days` before its date every game of either of its teams."""
    games = list(games)
    own: dict[GameKey, datetime | None] = {}
    for key, stamp in games:
        own[key] = _newest(own.get(key), stamp)
    if lookback_days == 0:
        return own
    # Each team's games by date, and their times: a game's window is one slice of each list.
    days: dict[str, list[date]] = defaultdict(list)
    stamps: dict[str, list[datetime]] = defaultdict(list)
    for key, stamp in sorted(own.items(), key=lambda item: item[0][0]):
        if stamp is None:
            continue  # a game without a time adds nothing to its teams' newest
        for team in key_teams(key):
            days[team].append(key[0])
            stamps[team].append(stamp)
    span = timedelta(days=lookback_days)
    times: dict[GameKey, datetime | None] = {}
    for key, stamp in own.items():
        seen = [] if stamp is None else [stamp]
        for team in key_teams(key):
            team_days = days.get(team)
            if team_days:
                seen += stamps[team][bisect_left(team_days, key[0] - span):
                                     bisect_right(team_days, key[0])]
        times[key] = max(seen, default=None)
    return times


def upstream_versions(versions: Mapping[str, str | None]) -> str:
    """The upstream games a game was computed from, as one comparable string."""
    return ";".join(f"{name}={versions[name] or ''}" for name in sorted(versions))


def parse_upstream_versions(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def content_version(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A short hash of a game's values (order of rows and bookkeeping columns do not count)."""
    lines = sorted(json.dumps([row.get(c) for c in columns], default=str) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b
