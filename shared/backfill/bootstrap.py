"""The one place that builds real clients from settings; tests hand it fakes instead.

Nothing connects at import time: clients are made on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from backfill.domain.errors import ConfigurationError
from backfill.domain.outcome import Policy
from backfill.domain.tables import OpsTables
from backfill.domain.window import today_in
from backfill.ports import (
    AuditTopic,
    DeadLetterInbox,
    Delivery,
    RequestQueue,
    Stoppable,
    Warehouse,
)
from backfill.processors.registry import Registry, load_registry
from backfill.service.audit import AuditLog
from backfill.service.ledger import AUDIT_SCHEMA
from backfill.service.work import Worker
from backfill.settings import Settings

if TYPE_CHECKING:
    from backfill.adapters.pubsub_audit import AuditDrain

# One BigQuery call, with the client's own retries, gets at most this share of the budget, so
# the worker's own retries still have room.
CALL_SHARE_OF_BUDGET = 0.25


def warehouse_from_settings(settings: Settings) -> Warehouse:
    """`duckdb:///abs/path.duckdb` or `duckdb://relative/path.duckdb` (as file URLs read), or
    `bigquery://PROJECT_ID`."""
    url = settings.warehouse
    scheme, _, rest = url.partition("://")
    if scheme == "duckdb" and rest:
        try:
            from backfill.local.duckdb_warehouse import DuckDBWarehouse
        except ImportError:
            raise ConfigurationError(
                f"{url}: DuckDB warehouses need Backfill's local part "
                "(pip install 'backfill[local]'); a function uses bigquery://") from None
        return DuckDBWarehouse(rest, spool_dir=settings.spool_dir)
    if scheme == "bigquery" and urlsplit(url).netloc:
        from backfill.adapters.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse(
            urlsplit(url).netloc, emulator_host=settings.bigquery_emulator_host,
            call_timeout=settings.retry_budget_seconds * CALL_SHARE_OF_BUDGET,
            maximum_bytes_billed=settings.maximum_bytes_billed)
    raise ConfigurationError(
        f"invalid warehouse {url!r}: expected duckdb:///path/file.duckdb or bigquery://PROJECT_ID")


@functools.cache
def registry_from_settings(processors_file: str | None, raw_dataset: str = "nba_raw",
                           analytics_dataset: str = "nba_analytics") -> Registry:
    return load_registry(processors_file, raw_dataset=raw_dataset,
                         analytics_dataset=analytics_dataset)


def registry_of(settings: Settings) -> Registry:
    return registry_from_settings(settings.processors_file, settings.raw_dataset,
                                  settings.analytics_dataset)


class Backfill:
    """The application wired together: what every entry point works with. The Pub/Sub clients
    are made on first use (a dry-run detection never imports them: a third of a second)."""

    def __init__(self, settings: Settings, warehouse: Warehouse, registry: Registry,
                 queue: RequestQueue | None = None, inbox: DeadLetterInbox | None = None,
                 audit_topic: AuditTopic | None = None) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.registry = registry
        self.ops = OpsTables(settings.audit_dataset)
        self._queue = queue
        self._inbox = inbox
        self._audit_topic = audit_topic

    @property
    def queue(self) -> RequestQueue:
        if self._queue is None:
            from backfill.adapters.pubsub_queue import PubSubQueue

            self._queue = PubSubQueue(self.settings.project, self.settings.requests_topic,
                                      self.settings.dead_letter_topic)
        return self._queue

    @property
    def inbox(self) -> DeadLetterInbox:
        if self._inbox is None:
            from backfill.adapters.pubsub_inbox import PubSubInbox

            self._inbox = PubSubInbox(self.settings.project,
                                      self.settings.dead_letter_subscription)
        return self._inbox

    @property
    def audit_topic(self) -> AuditTopic | None:
        """Where audit rows are published, if they ride Pub/Sub (BACKFILL_AUDIT_TOPIC: a
        deployed worker, `backfill stack`); None appends them to the warehouse."""
        if self._audit_topic is None and self.settings.audit_topic:
            from backfill.adapters.pubsub_audit import PubSubAuditTopic

            self._audit_topic = PubSubAuditTopic(self.settings.project, self.settings.audit_topic)
        return self._audit_topic

    def worker(self, *, audit_batch_rows: int = 1) -> Worker:
        """A worker whose results go to the audit trail, `audit_batch_rows` rows at a time (a
        function records every delivery's before answering; the local runner batches and
        flushes when drained)."""
        settings = self.settings
        return Worker(
            warehouse=self.warehouse, registry=self.registry, queue=self.queue, ops=self.ops,
            today=lambda: today_in(settings.timezone),
            retry_budget_seconds=settings.retry_budget_seconds,
            policy=Policy(timedelta(seconds=settings.dependency_wait_seconds),
                          settings.max_delivery_attempts),
            audit=AuditLog(self.warehouse, self.ops, audit_batch_rows, self.audit_topic))

    def close(self) -> None:
        self.warehouse.close()


def bootstrap(settings: Settings, *, warehouse: Warehouse | None = None,
              queue: RequestQueue | None = None, inbox: DeadLetterInbox | None = None,
              registry: Registry | None = None,
              audit_topic: AuditTopic | None = None) -> Backfill:
    """Build everything from settings; anything passed in is used instead (tests pass fakes)."""
    return Backfill(settings, warehouse or warehouse_from_settings(settings),
                    registry or registry_of(settings), queue, inbox, audit_topic)


def ensure_topology(settings: Settings, push_endpoint: str | None = None) -> None:
    """Create the topics and subscriptions on the emulator (Terraform owns them on Google
    Cloud): a message published to a topic with no subscription is dropped."""
    from backfill.adapters.pubsub_topology import Topology, create_topology

    backoff = ({"min_backoff_seconds": settings.push_min_backoff_seconds,
                "max_backoff_seconds": max(settings.push_min_backoff_seconds,
                                           settings.push_max_backoff_seconds)}
               if push_endpoint else {})
    create_topology(Topology(
        settings.project, settings.requests_topic,
        settings.push_subscription if push_endpoint else settings.requests_subscription,
        settings.dead_letter_topic, settings.dead_letter_subscription,
        settings.max_delivery_attempts, push_endpoint, settings.audit_topic,
        settings.audit_subscription, **backoff))


def audit_drain(settings: Settings) -> AuditDrain:
    """The audit topic's pull subscription, read as its BigQuery subscription writes it."""
    from backfill.adapters.pubsub_audit import AuditDrain

    return AuditDrain(settings.project, settings.audit_subscription, AUDIT_SCHEMA)


Handle = Callable[[Delivery], bool]


def consumer(settings: Settings, handle: Handle, concurrency: int) -> Stoppable:
    """Pull the requests subscription with `concurrency` workers, handing each delivery over."""
    from backfill.adapters.pubsub_consumer import Consumer

    return Consumer(settings.project, settings.requests_subscription, handle, concurrency)

