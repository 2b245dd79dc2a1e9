"""Table references and column schemas; identifiers are validated once, here, and only here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from backfill.domain.errors import ConfigurationError, SchemaMismatch, TableNotFound

ColumnType = Literal["STRING", "INT64", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"]
COLUMN_TYPES: frozenset[str] = frozenset({"STRING", "INT64", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"})

# BigQuery allows more in dataset/table names, but SQL identifiers built from configuration must
# be safe to splice unquoted into both dialects: letters, digits, underscore.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def identifier(name: str, what: str = "identifier") -> str:
    """Return `name` if it is a safe SQL identifier, else raise ConfigurationError naming it."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(f"invalid {what} {name!r}: use letters, digits and underscores")
    return name


@dataclass(frozen=True, order=True)
class TableRef:
    """A table in a dataset (a BigQuery dataset, a DuckDB schema)."""

    dataset: str
    table: str

    def __post_init__(self) -> None:
        identifier(self.dataset, "dataset name")
        identifier(self.table, "table name")

    @classmethod
    def parse(cls, text: str) -> TableRef:
        """Parse 'dataset.table'."""
        parts = text.split(".")
        if len(parts) != 2:
            raise ConfigurationError(f"invalid table {text!r}: expected dataset.table")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.dataset}.{self.table}"


@dataclass(frozen=True)
class Column:
    """A column of a table the product writes (BigQuery type names)."""

    name: str
    type: ColumnType

    def __post_init__(self) -> None:
        identifier(self.name, "column name")
        if self.type not in COLUMN_TYPES:
            raise ConfigurationError(f"invalid column type {self.type!r} for {self.name}")


Schema = tuple[Column, ...]


def schema(**columns: ColumnType) -> Schema:
    """Build a schema from keyword arguments in order: schema(game_id="STRING", points="INT64")."""
    return tuple(Column(name, kind) for name, kind in columns.items())


@dataclass(frozen=True)
class TableInfo:
    """What a table is: its columns and types, and the column it is partitioned by (None when
    the warehouse has no partitioning, as DuckDB)."""

    columns: dict[str, ColumnType]
    partitioned_by: str | None = None


def check_columns(table: TableRef, info: TableInfo | None, needed: Schema,
                  names: Mapping[str, str] | None = None, *, where: str) -> None:
    """Raise TableNotFound when `table` does not exist in `where` (its description `info` is
    None), SchemaMismatch naming the first needed column it lacks or types differently.

    `names` maps a needed column to the table's own name for it (a processor's column mapping).
    """
    if info is None:
        raise TableNotFound(f"table {table} does not exist in {where}")
    for column in needed:
        physical = (names or {}).get(column.name, column.name)
        found = info.columns.get(physical)
        renamed = f" (as {physical})" if physical != column.name else ""
        if found is None:
            raise SchemaMismatch(f"{table} has no column {column.name}{renamed}: "
                                 f"expected {column.type}")
        if found != column.type:
            raise SchemaMismatch(f"{table}.{physical} is {found}, expected {column.type}")


def check_owned(table: TableRef, info: TableInfo | None, owned: Schema) -> None:
    """Refuse a target table with columns outside `owned` (the processor's and Backfill's):
    Backfill replaces a date's rows whole, so it would null such a column on every write (and
    fail every write on a REQUIRED one). A missing table has none."""
    if info is None:
        return
    foreign = sorted(set(info.columns) - {c.name for c in owned})
    if foreign:
        raise ConfigurationError(
            f"{table} has columns Backfill does not write: {', '.join(foreign)}; Backfill "
            "replaces a date's rows whole and would lose them: drop them, or point the "
            "processor at a table of its own (README, Using BigQuery)")


@dataclass(frozen=True)
class OpsTables:
    """Backfill's own append-only tables, all in one dataset (`backfill_ops` by default)."""

    dataset: str

    def __post_init__(self) -> None:
        identifier(self.dataset, "audit dataset")

    @property
    def log(self) -> TableRef:
        """One row per delivery outcome and failed attempt."""
        return TableRef(self.dataset, "backfill_log")

    @property
    def quarantine(self) -> TableRef:
        """Games held or released, one event a row."""
        return TableRef(self.dataset, "quarantine")

    @property
    def runs(self) -> TableRef:
        """Passes that published requests, and their cancellations."""
        return TableRef(self.dataset, "backfill_runs")
