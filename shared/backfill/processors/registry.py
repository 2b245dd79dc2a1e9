"""The processors a deployment runs: the built-ins plus any configured, in dependency order.

A processors file (TOML) adds processors and may rename a source's columns:

    [schedule]                      # optional: where the schedule is, under what names
    table = "nba_raw.nbac_schedule"
    columns = { home_team_tricode = "home_team" }

    [[processor]]
    name = "player_game_summary_v2"
    class = "backfill.processors.player_game_summary:PlayerGameSummary"
    source = "raw_v2.gamebook"
    target = "analytics_v2.player_game_summary"
    depends_on = ["team_offense_game_summary"]
    priority = 35
    version = "2"
    columns = { field_goals_made = "fgm" }   # Backfill's name = the pipeline's name
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backfill.domain.errors import ConfigurationError
from backfill.domain.plan import Graph
from backfill.domain.request import PROCESSOR_NAME
from backfill.domain.tables import TableRef, identifier
from backfill.ports import Read
from backfill.processors.base import Processor
from backfill.processors.nba_raw import SCHEDULE, SCHEDULE_COLUMNS
from backfill.processors.player_game_summary import PlayerGameSummary
from backfill.processors.team_defense import TeamDefenseGameSummary
from backfill.processors.team_offense import TeamOffenseGameSummary
from backfill.processors.upcoming_team_game_context import UpcomingTeamGameContext

# The built-in processors, in the order they should run.
BUILTIN_PROCESSORS: tuple[type[Processor], ...] = (
    TeamOffenseGameSummary, TeamDefenseGameSummary, PlayerGameSummary, UpcomingTeamGameContext)

_PROCESSOR_KEYS = {"name", "class", "source", "target", "priority", "depends_on", "version",
                   "columns"}
_SCHEDULE_KEYS = {"table", "columns"}
DEFAULT_RAW, DEFAULT_ANALYTICS = SCHEDULE.dataset, "nba_analytics"


class Registry:
    """Processors by name; `ordered()` gives dependencies first, then priority, then name.

    It also knows the schedule every processor is checked against (game types, final games).
    """

    def __init__(self, processors: Iterable[Processor], schedule: TableRef = SCHEDULE,
                 schedule_columns: Mapping[str, str] | None = None) -> None:
        self._by_name: dict[str, Processor] = {}
        for processor in processors:
            if not PROCESSOR_NAME.match(processor.name):
                raise ConfigurationError(f"invalid processor name {processor.name!r}")
            if processor.name in self._by_name:
                raise ConfigurationError(f"processor {processor.name!r} is defined twice")
            self._by_name[processor.name] = processor
        self._order = _dependency_order(self._by_name)
        # Who reads whom, checked acyclic: what a worker publishes after a write follows it.
        self.graph = Graph({p.name: p.depends_on for p in self._order})
        self.schedule = schedule
        self.schedule_columns = dict(schedule_columns or {})

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._order]

    def get(self, name: str) -> Processor:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown processor {name!r}; known: {', '.join(self.names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def ordered(self, names: Sequence[str] | None = None) -> list[Processor]:
        """The named processors (all when None) in run order."""
        wanted = {self.get(n).name for n in names} if names else set(self._by_name)
        return [p for p in self._order if p.name in wanted]

    def with_dependencies(self, names: Sequence[str] | None = None) -> list[Processor]:
        """The named processors and everything they depend on, transitively, in run order."""
        wanted = {p.name for p in self.ordered(names)}
        for processor in reversed(self._order):
            if processor.name in wanted:
                wanted.update(processor.depends_on)
        return [p for p in self._order if p.name in wanted]

    def rank(self, name: str) -> int:
        """Position in run order: publish and work dependencies before their dependents."""
        return self.names.index(name)

    def schedule_read(self, start: Any, end: Any) -> Read:
        """The schedule rows of some dates, the columns Backfill reads, under its own names."""
        names = self.schedule_columns
        return Read(self.schedule, start, end, by=names.get("game_date", "game_date"),
                    columns=tuple((c.name, names.get(c.name, c.name)) for c in SCHEDULE_COLUMNS))


def _dependency_order(by_name: dict[str, Processor]) -> list[Processor]:
    for processor in by_name.values():
        for dependency in processor.depends_on:
            if dependency not in by_name:
                raise ConfigurationError(
                    f"processor {processor.name!r} depends on unknown processor {dependency!r}")
    order: list[Processor] = []
    done: set[str] = set()
    while len(order) < len(by_name):
        ready = [p for p in by_name.values()
                 if p.name not in done and set(p.depends_on) <= done]
        if not ready:
            cycle = sorted(set(by_name) - done)
            raise ConfigurationError(f"processor dependencies form a cycle among {cycle}")
        # Take one at a time so priority decides among everything whose inputs are ready.
        chosen = min(ready, key=lambda p: (p.priority, p.name))
        order.append(chosen)
        done.add(chosen.name)
    return order


def load_registry(config_file: str | None = None, *, raw_dataset: str = DEFAULT_RAW,
                  analytics_dataset: str = DEFAULT_ANALYTICS) -> Registry:
    """The built-in processors on the given datasets, plus those of a TOML processors file."""
    raw = identifier(raw_dataset, "raw dataset")
    analytics = identifier(analytics_dataset, "analytics dataset")
    config = _read_config(config_file) if config_file else {}
    where = f"{config_file}: [schedule]"
    schedule_config = config.get("schedule", {})
    if not isinstance(schedule_config, dict) or set(schedule_config) - _SCHEDULE_KEYS:
        raise ConfigurationError(f"{where}: only table and columns may be set")
    schedule = _table(schedule_config, "table", where) or TableRef(raw, SCHEDULE.table)
    schedule_columns = _columns(schedule_config, where)
    processors: list[Processor] = []
    for cls in BUILTIN_PROCESSORS:
        on_schedule = cls.source_is_schedule
        processors.append(cls(
            source=schedule if on_schedule else TableRef(raw, cls.source.table),
            target=TableRef(analytics, cls.target.table),
            columns=schedule_columns if on_schedule else None))
    processors += [_configured(entry, str(config_file)) for entry in config.get("processor", [])]
    return Registry(processors, schedule, schedule_columns)


def _read_config(config_file: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"processors file {config_file} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"processors file {config_file} is not valid TOML: {exc}") from None
    if not isinstance(data.get("processor", []), list) or set(data) - {"processor", "schedule"}:
        raise ConfigurationError(f"{config_file}: expected [[processor]] tables and an "
                                 "optional [schedule] table only")
    return data


def _configured(entry: dict[str, Any], config_file: str) -> Processor:
    where = f"{config_file}: processor {entry.get('name', '?')!r}"
    unknown = set(entry) - _PROCESSOR_KEYS
    if unknown or not {"name", "class"} <= set(entry):
        raise ConfigurationError(f"{where}: needs name and class; unknown keys {sorted(unknown)}")
    # Absent keys keep the class's own defaults (None); present ones must have the right type.
    depends_on, priority, version = entry.get("depends_on"), entry.get("priority"), \
        entry.get("version")
    if depends_on is not None and not (isinstance(depends_on, list)
                                       and all(isinstance(d, str) for d in depends_on)):
        raise ConfigurationError(f"{where}: depends_on must be a list of processor names")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise ConfigurationError(f"{where}: priority must be a whole number")
    if version is not None and not isinstance(version, str | int):
        raise ConfigurationError(f"{where}: version must be a string")
    module_name, _, class_name = str(entry["class"]).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigurationError(f"{where}: cannot import class {entry['class']!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Processor)):
        raise ConfigurationError(f"{where}: {entry['class']!r} is not a Processor")
    return cls(name=entry["name"], source=_table(entry, "source", where),
               target=_table(entry, "target", where), depends_on=depends_on, priority=priority,
               version=None if version is None else str(version),
               columns=_columns(entry, where))


def _table(entry: Mapping[str, Any], key: str, where: str) -> TableRef | None:
    if key not in entry:
        return None
    if not isinstance(entry[key], str):
        raise ConfigurationError(f"{where}: {key} must be 'dataset.table'")
    return TableRef.parse(entry[key])


def _columns(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    columns = entry.get("columns", {})
    if not isinstance(columns, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        raise ConfigurationError(f"{where}: columns must map Backfill's column names to the "
                                 "table's own (strings)")
    return {identifier(k, "column name"): identifier(v, "column name") for k, v in columns.items()}
