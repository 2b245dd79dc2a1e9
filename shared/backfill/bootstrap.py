"""The one place that builds real clients from settings. Nothing connects at import time."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from backfill.domain.errors import ConfigurationError
from backfill.domain.window import today_in
from backfill.ports import DeadLetterInbox, RequestQueue, Warehouse
from backfill.processors.registry import Registry, load_registry
from backfill.service.audit import AuditLog, audit_table
from backfill.service.work import Worker
from backfill.settings import Settings


def warehouse_from_url(url: str, *, deadline_seconds: float | None = None) -> Warehouse:
    """`duckdb:///abs/path.duckdb` or `duckdb://relative/path.duckdb` (as file URLs read), or
    `bigquery://PROJECT_ID`; `deadline_seconds` bounds one BigQuery call with its own retries."""
    scheme, _, rest = url.partition("://")
    if scheme == "duckdb" and rest:
        from backfill.local.duckdb_warehouse import DuckDBWarehouse

        return DuckDBWarehouse(rest)
    if scheme == "bigquery" and urlsplit(url).netloc:
        from backfill.adapters.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse(urlsplit(url).netloc, deadline_seconds=deadline_seconds)
    raise ConfigurationError(
        f"invalid warehouse {url!r}: expected duckdb:///path/file.duckdb or bigquery://PROJECT_ID")


def queue_from_settings(settings: Settings) -> RequestQueue:
    from backfill.adapters.pubsub_queue import PubSubQueue

    return PubSubQueue(settings.project, settings.requests_topic, settings.dead_letter_topic)


@functools.cache
def registry_from_file(processors_file: str | None) -> Registry:
    return load_registry(processors_file)


def inbox_from_settings(settings: Settings) -> DeadLetterInbox:
    from backfill.adapters.pubsub_inbox import PubSubInbox

    return PubSubInbox(settings.project, settings.dead_letter_subscription)


def build_worker(settings: Settings, *, audit_batch_rows: int = 1) -> Worker:
    """A worker whose results go to the audit trail, `audit_batch_rows` rows at a time (a
    function flushes every delivery; the local runner batches and flushes when drained)."""
    # A quarter of the budget per BigQuery call, so the worker's own retries still have room.
    warehouse = warehouse_from_url(settings.warehouse,
                                   deadline_seconds=settings.retry_budget_seconds / 4)
    return Worker(
        warehouse=warehouse,
        registry=registry_from_file(settings.processors_file),
        queue=queue_from_settings(settings),
        today=lambda: today_in(settings.timezone),
        retry_budget_seconds=settings.retry_budget_seconds,
        max_delivery_attempts=settings.max_delivery_attempts,
        audit=AuditLog(warehouse, audit_table(settings.audit_dataset), audit_batch_rows),
    )
