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
    by_team: dict[str, list[tuple[date, datetime | None]]] = defaultdict(list)
    for key, stamp in sorted(own.items(), key=lambda item: item[0][0]):
        for team in key_teams(key):
            by_team[team].append((key[0], stamp))
    days = {team: [day for day, _ in games] for team, games in by_team.items()}
    times = {}
    for key, stamp in own.items():
        newest = stamp
        for team in key_teams(key):
            first = bisect_left(days[team], key[0] - timedelta(days=lookback_days))
            last = bisect_right(days[team], key[0])
            for _, other in by_team[team][first:last]:
                newest = _newest(newest, other)
        times[key] = newest
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
