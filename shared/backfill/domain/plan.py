"""Who goes next: pure functions over the dependency graph (no I/O).

Detection publishes roots: a dependent behind on a date where one of its dependencies is behind
too rides on that dependency's request as a follower (`requests_for`). The worker, once it has
written a date, publishes the request's followers and one request per dependent whose inputs it
changed (`follow_ups`), in the same run. A date fans out at most once per changed write, and a
request carries its depth, so a chain can never run longer than the graph's longest path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from backfill.domain.errors import ConfigurationError
from backfill.domain.games import GameKey, game_key
from backfill.domain.gaps import Candidate
from backfill.domain.request import Follower, Reason, Request

# A request names at most this many games (domain/request.py).
MAX_GAME_IDS = 100


@dataclass(frozen=True)
class Graph:
    """Each processor's dependencies, in run order; acyclic, which building it checks."""

    depends_on: Mapping[str, tuple[str, ...]]
    depth: Mapping[str, int] = field(init=False)  # edges on the longest chain ending there

    def __post_init__(self) -> None:
        depth: dict[str, int] = {}
        visiting: set[str] = set()

        def walk(name: str) -> int:
            if name in depth:
                return depth[name]
            if name in visiting:
                raise ConfigurationError(
                    f"processor dependencies form a cycle through {name!r}")
            visiting.add(name)
            if name not in self.depends_on:
                raise ConfigurationError(f"unknown processor {name!r} in the dependency graph")
            depth[name] = 1 + max((walk(d) for d in self.depends_on[name]), default=-1)
            visiting.discard(name)
            return depth[name]

        for name in self.depends_on:
            walk(name)
        object.__setattr__(self, "depth", depth)

    @property
    def longest(self) -> int:
        """Edges on the longest chain: no request is ever published further down than this."""
        return max(self.depth.values(), default=0)

    def rank(self, name: str) -> int:
        return list(self.depends_on).index(name)

    def dependents(self, name: str) -> tuple[str, ...]:
        """The processors that read `name` directly, in run order."""
        return tuple(p for p, needs in self.depends_on.items() if name in needs)


@dataclass(frozen=True)
class Pending:
    """A gap detection did not publish: it rides on `upstream`'s request of the same date."""

    candidate: Candidate
    upstream: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.candidate.as_dict(), "upstream": self.upstream}


@dataclass(frozen=True)
class Plan:
    """What a detection publishes (roots, carrying their followers) and what rides on them."""

    requests: tuple[Request, ...]
    pending: tuple[Pending, ...]


def requests_for(candidates: Iterable[Candidate], graph: Graph, run_id: str) -> Plan:
    """One request per gap whose dependencies are all up to date on its date, oldest dates
    first, dependencies before dependents; every other gap is a follower of the request of the
    dependency latest in run order among those behind on the date."""
    by_date: dict[date, dict[str, Candidate]] = defaultdict(dict)
    for c in candidates:
        by_date[c.game_date][c.processor] = c
    requests: list[Request] = []
    pending: list[Pending] = []
    for day in sorted(by_date):
        behind = by_date[day]
        upstream_of: dict[str, str] = {}
        for name in behind:
            waits_on = [d for d in graph.depends_on[name] if d in behind]
            if waits_on:
                upstream_of[name] = max(waits_on, key=graph.rank)
        riders: dict[str, list[str]] = defaultdict(list)
        for name in sorted(upstream_of, key=graph.rank):
            riders[upstream_of[name]].append(name)
            pending.append(Pending(behind[name], upstream_of[name]))
        requests += [Request(processor=name, game_date=day, game_ids=behind[name].game_ids,
                             reason=behind[name].reason, detection_run_id=run_id,
                             followers=_followers(name, behind, riders))
                     for name in sorted(behind, key=graph.rank) if name not in upstream_of]
    return Plan(tuple(requests), tuple(pending))


def _followers(name: str, behind: Mapping[str, Candidate],
               riders: Mapping[str, Sequence[str]]) -> tuple[Follower, ...]:
    return tuple(Follower(processor=r, reason=behind[r].reason, game_ids=behind[r].game_ids,
                          followers=_followers(r, behind, riders))
                 for r in riders.get(name, ()))


def follow_ups(request: Request, graph: Graph, changed: Sequence[str],
               withheld: Iterable[str] = ()) -> tuple[Request, ...]:
    """What a delivery that wrote (or found complete) its date publishes: its followers, and
    for each dependent the games whose content it changed (nothing when it changed nothing).
    A dependent that is also a follower gets one request, naming both sets of games. The games
    it `withheld` (refused or waiting, by key) are no follower's: the next detection reports
    them waiting on it; a follower left with none is not published."""
    day = request.game_date
    held = {game_key(day, game_id) for game_id in withheld}
    riders: dict[str, Follower] = {}
    for f in request.followers:
        ids = tuple(i for i in f.game_ids if game_key(day, i) not in held)
        if ids or not f.game_ids:
            riders[f.processor] = f.model_copy(update={"game_ids": ids})
    for name in graph.dependents(request.processor) if changed else ():
        found = riders.get(name)
        if found is None:
            riders[name] = Follower(processor=name, reason=Reason.UPSTREAM_CHANGED,
                                    game_ids=tuple(sorted(changed))[:MAX_GAME_IDS])
        else:
            ids = tuple(sorted({*found.game_ids, *changed}))[:MAX_GAME_IDS]
            riders[name] = Follower(processor=name, reason=found.reason, game_ids=ids,
                                    followers=found.followers)
    return tuple(Request(processor=f.processor, game_date=request.game_date,
                         game_ids=f.game_ids, reason=f.reason,
                         detection_run_id=request.run_id, depth=request.depth + 1,
                         followers=f.followers)
                 for f in sorted(riders.values(), key=lambda f: graph.rank(f.processor)))


def too_deep(request: Request, graph: Graph) -> str | None:
    """Why a request cannot be a real link of a chain: it is further down than any path."""
    if request.depth <= graph.longest:
        return None
    return (f"request is {request.depth} links down a chain of follow-ups, but the longest "
            f"chain of dependencies has {graph.longest}: a bug publishes in a loop")


def changed_games(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]],
                  columns: Sequence[str]) -> tuple[str, ...]:
    """The ids of the games of `new` whose values (in `columns`) differ from the rows they
    replace, or that had none. Compared as values, so a game recomputed to the same numbers
    changes nothing downstream; a false "changed" costs the dependent one skipped delivery."""
    before, _ = _contents(old, columns)
    after, ids = _contents(new, columns)
    return tuple(sorted(ids[key] for key, rows in after.items() if before.get(key) != rows))


def _contents(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
              ) -> tuple[dict[GameKey, list[str]], dict[GameKey, str]]:
    games: dict[GameKey, list[str]] = defaultdict(list)
    ids: dict[GameKey, str] = {}
    for row in rows:
        key = game_key(row["game_date"], row["game_id"])
        games[key].append(repr(tuple(_value(row.get(c)) for c in columns)))
        ids[key] = min(ids.get(key, str(row["game_id"])), str(row["game_id"]))
    return {key: sorted(found) for key, found in games.items()}, ids


def _value(value: Any) -> Any:
    """One value as both sides store it: the warehouse returns 3.0 for a computed 3, a
    Decimal for a NUMERIC, an aware datetime in UTC."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return round(float(value), 9)
    except (TypeError, ValueError):
        return str(value)
