"""Profiles of every thread, not only the main one: a cProfile profiler per thread.

`threading.setprofile` installs a hook in every thread the threading module starts from then
on; its first event replaces itself with a cProfile profiler of that thread's own. So the
worker threads of `backfill run` (where the deliveries are handled, while the main thread only
waits) are profiled as well as the calling thread. Times are wall-clock per thread (cProfile's
default timer), so waiting on DuckDB, on a lock or on the GIL counts where the thread waited.
cProfile's own overhead inflates Python-heavy functions against native ones (DuckDB's queries):
the shares below are of profiled time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any


@dataclass
class ThreadProfiles:
    """Each thread's profiler, by thread name, once the block has ended."""

    profilers: list[tuple[threading.Thread, cProfile.Profile]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stats(self, name_prefixes: tuple[str, ...]) -> pstats.Stats | None:
        """Merged stats of the finished threads whose names start with one of the prefixes."""
        chosen = [p for t, p in self.profilers
                  if t.name.startswith(name_prefixes) and not t.is_alive()]
        main = [p for t, p in self.profilers if t is threading.main_thread()]
        chosen += [p for p in main if threading.main_thread().name.startswith(name_prefixes)]
        if not chosen:
            return None
        merged = pstats.Stats(chosen[0])
        for profiler in chosen[1:]:
            merged.add(profiler)
        return merged

    def thread_names(self) -> list[str]:
        return sorted({t.name for t, _ in self.profilers})


@contextmanager
def profile_threads(include_caller: bool = True) -> Iterator[ThreadProfiles]:
    """Profile the calling thread and every thread started inside the block."""
    found = ThreadProfiles()

    def start(frame: FrameType, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        with found._lock:
            found.profilers.append((threading.current_thread(), profiler))
        profiler.enable()

    caller = cProfile.Profile()
    threading.setprofile(start)  # type: ignore[arg-type]
    if include_caller:
        caller.enable()
    try:
        yield found
    finally:
        if include_caller:
            caller.disable()
            found.profilers.append((threading.current_thread(), caller))
        threading.setprofile(None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Share:
    function: str
    seconds: float
    share: float  # of the reference time


def _label(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name  # a builtin: {method 'execute' of ...}
    for marker, kept in (("/shared/backfill/", ""), ("/site-packages/", ""), ("/bench/", "bench/"),
                         ("/lib/python3.11/", "")):
        if marker in path:
            path = kept + path.split(marker, 1)[1]
            break
    return f"{path}:{name}"


def cumulative(stats: pstats.Stats, match: Callable[[str], bool]) -> float:
    """Cumulative seconds of the functions whose label matches (not nested in each other is
    the caller's to choose)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return sum(ct for key, (_cc, _nc, _tt, ct, _callers) in table.items() if match(_label(key)))


def self_time(stats: pstats.Stats, label: str) -> float:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return sum(tt for key, (_cc, _nc, tt, _ct, _callers) in table.items() if _label(key) == label)


def top(stats: pstats.Stats, reference: float, by: str = "self", count: int = 12,
        exclude: Callable[[str], bool] = lambda _: False) -> list[Share]:
    """The functions with the most self (or cumulative) time, as shares of `reference`."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = [(_label(key), tt if by == "self" else ct)
            for key, (_cc, _nc, tt, ct, _callers) in table.items()]
    rows = [r for r in rows if not exclude(r[0])]
    rows.sort(key=lambda r: -r[1])
    return [Share(name, seconds, seconds / reference if reference else 0.0)
            for name, seconds in rows[:count]]
