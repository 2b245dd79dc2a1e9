"""What a Phase 3 game was computed from, judged by content, never by timestamps.

Every input a processor reads is summed up per game by a fingerprint of its content: its Phase 2
source (the columns it reads; over its lookback, every game of the game's teams), each
dependency's Phase 3 rows of the game, and for a processor reading the schedule the newest row
of each game. The warehouse computes the fingerprints of the tables detection only scans
(adapters/sql.py: a hash per row, then the sorted hashes hashed); Python computes the schedule's,
because both detection and the worker read its rows, and combines fingerprints that SQL made
(a game over its lookback, a game stored under two id spellings). Python never recomputes a hash
that SQL made.

Each Phase 3 row records `Inputs` (the processor's version and one fingerprint per input).
A game is stale when a recorded fingerprint differs from the current one: a reload that changes
nothing is nothing, a deleted row is a change, a correction back to the old value is nothing.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NewType

from backfill.domain.games import GameKey, key_teams
from backfill.domain.schedule import Schedule

# Made by SQL (adapters/sql.py), by `combine` over fingerprints, or for the schedule here.
Fingerprint = NewType("Fingerprint", str)

# The columns Backfill writes on every Phase 3 row, after the processor's own.
INPUTS = "inputs"                  # Inputs.to_text(): what the game was computed from
ROW_HASH = "row_hash"              # the row's own values, hashed by SQL in the write
PROCESSOR_VERSION = "processor_version"
# The key under which a read hands each row its game's fingerprint (ports.Read.hashed).
READ_FINGERPRINT = "_backfill_fingerprint"


def combine(fingerprints: Iterable[Fingerprint | None]) -> Fingerprint:
    """One fingerprint of several, whatever their order; a repeated one counts twice."""
    text = "\n".join(sorted(f or "" for f in fingerprints))
    return Fingerprint(hashlib.sha256(text.encode()).hexdigest()[:16])


@dataclass(frozen=True)
class Inputs:
    """What one Phase 3 game was computed from: the processor's version and one fingerprint
    per input (the source table by name, each dependency by processor name)."""

    code: str | None
    by_input: Mapping[str, Fingerprint | None] = field(default_factory=dict)

    def changed(self, now: Inputs) -> tuple[str, ...]:
        """The inputs whose fingerprint differs now. An input recorded and no longer read, or
        read and not recorded, differs; one unknown now (None: not read, or a dependency with
        no rows of the game, a gap of its own) is not judged."""
        names = set(self.by_input) | set(now.by_input)
        return tuple(sorted(n for n in names if n not in now.by_input or (
            now.by_input[n] is not None and self.by_input.get(n) != now.by_input[n])))

    def to_text(self) -> str:
        return json.dumps({"code": self.code, "by_input": dict(sorted(self.by_input.items()))},
                          sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> Inputs | None:
        """None for a row recorded before fingerprints (or an unreadable one): outdated."""
        if not text:
            return None
        try:
            found = json.loads(text)
            return cls(found.get("code"), {str(k): v for k, v in found["by_input"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def game_inputs(fingerprints: Mapping[GameKey, Fingerprint | None],
                lookback_days: int) -> dict[GameKey, Fingerprint | None]:
    """Each game's source fingerprint as its computation reads it: its own rows and, within
    `lookback_days` before its date, every game of either of its teams."""
    if lookback_days == 0:
        return dict(fingerprints)
    # Each team's games by date: a game's window is one slice of each list.
    days: dict[str, list[date]] = defaultdict(list)
    keys: dict[str, list[GameKey]] = defaultdict(list)
    for key in sorted(fingerprints, key=lambda k: (k[0], str(k[1]))):
        for team in key_teams(key):
            days[team].append(key[0])
            keys[team].append(key)
    span = timedelta(days=lookback_days)
    found: dict[GameKey, Fingerprint | None] = {}
    for key in fingerprints:
        read = {key}
        for team in key_teams(key):
            team_days = days.get(team, [])
            read.update(keys[team][bisect_left(team_days, key[0] - span):
                                   bisect_right(team_days, key[0])])
        found[key] = combine(fingerprints[k] for k in read)
    return found


def schedule_fingerprints(schedule: Schedule) -> dict[GameKey, Fingerprint]:
    """Each scheduled game's fingerprint, over its newest row without its processed time (every
    re-scrape appends a row, and a reload rewrites every one: neither is a change)."""
    return {game.key: Fingerprint(hashlib.sha256(json.dumps(
        [game.game_id, game.game_date.isoformat(), game.away, game.home, game.status]
    ).encode()).hexdigest()[:16]) for game in schedule.games}
