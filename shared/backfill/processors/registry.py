"""The processors a deployment runs: the built-ins plus any configured, in dependency order."""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from backfill.domain.errors import ConfigurationError
from backfill.domain.request import PROCESSOR_NAME
from backfill.domain.tables import TableRef
from backfill.processors.base import Processor

_CONFIG_KEYS = {"name", "class", "source", "target", "priority", "depends_on"}


class Registry:
    """Processors by name; `ordered()` gives dependencies first, then priority, then name."""

    def __init__(self, processors: Iterable[Processor]) -> None:
        self._by_name: dict[str, Processor] = {}
        for processor in processors:
            if not PROCESSOR_NAME.match(processor.name):
                raise ConfigurationError(f"invalid processor name {processor.name!r}")
            if processor.name in self._by_name:
                raise ConfigurationError(f"processor {processor.name!r} is defined twice")
            self._by_name[processor.name] = processor
        self._order = _dependency_order(self._by_name)

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

    def rank(self, name: str) -> int:
        """Position in run order: publish and work dependencies before their dependents."""
        return self.names.index(name)


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


def load_registry(config_file: str | None = None) -> Registry:
    """The built-in processors plus those in a TOML file of `[[processor]]` tables."""
    from backfill.processors import BUILTIN_PROCESSORS

    processors: list[Processor] = [cls() for cls in BUILTIN_PROCESSORS]
    if config_file:
        processors += [_configured(entry, config_file) for entry in _read_config(config_file)]
    return Registry(processors)


def _read_config(config_file: str) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"processors file {config_file} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"processors file {config_file} is not valid TOML: {exc}") from None
    entries = data.get("processor", [])
    if not isinstance(entries, list) or set(data) - {"processor"}:
        raise ConfigurationError(f"{config_file}: expected only [[processor]] tables")
    return entries


def _configured(entry: dict[str, Any], config_file: str) -> Processor:
    where = f"{config_file}: processor {entry.get('name', '?')!r}"
    unknown = set(entry) - _CONFIG_KEYS
    if unknown or not {"name", "class"} <= set(entry):
        raise ConfigurationError(f"{where}: needs name and class; unknown keys {sorted(unknown)}")
    # Absent keys keep the class's own defaults (None); present ones must have the right type.
    depends_on, priority = entry.get("depends_on"), entry.get("priority")
    if depends_on is not None and not (isinstance(depends_on, list)
                                       and all(isinstance(d, str) for d in depends_on)):
        raise ConfigurationError(f"{where}: depends_on must be a list of processor names")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise ConfigurationError(f"{where}: priority must be a whole number")
    module_name, _, class_name = str(entry["class"]).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigurationError(f"{where}: cannot import class {entry['class']!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Processor)):
        raise ConfigurationError(f"{where}: {entry['class']!r} is not a Processor")
    return cls(name=entry["name"],
               source=TableRef.parse(entry["source"]) if "source" in entry else None,
               target=TableRef.parse(entry["target"]) if "target" in entry else None,
               depends_on=depends_on, priority=priority)
