"""Reading several things at once: one round trip on a latency-bound warehouse (BigQuery: a query
costs about a second however small), one after another where queries are CPU work (DuckDB)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backfill.domain.errors import TableNotFound
from backfill.ports import Warehouse


def read_together(warehouse: Warehouse, reads: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent reads (at once where the warehouse is latency-bound); results by name.
    The first error raised is raised once every read has finished."""
    if not warehouse.latency_bound or len(reads) < 2:
        return {name: read() for name, read in reads.items()}
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="backfill-read") as pool:
        futures = {name: pool.submit(read) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}


def optional(read: Callable[[], Any], default: Any) -> Callable[[], Any]:
    """The read, or `default` when its table does not exist (yet)."""
    def reading() -> Any:
        try:
            return read()
        except TableNotFound:
            return default
    return reading
