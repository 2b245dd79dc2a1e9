"""The audit trail on Pub/Sub, as `backfill stack` runs it: the worker function publishes each
audit row to the audit topic on the emulator and answers; the stack's pull loop (the stand-in
for production's BigQuery subscription) lands it in backfill_log, where `history` reads it."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backfill.adapters.pubsub_audit import PubSubAuditTopic
from backfill.adapters.pubsub_queue import PubSubQueue
from backfill.bootstrap import audit_drain, bootstrap, ensure_topology
from backfill.domain.deadline import Deadline
from backfill.domain.errors import TransientError
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.stack import drain_audit_once, free_port
from backfill.service.audit import read_history

from tests.support import OFFENSE, empty, function_server, rows, unique_settings, wait_for

DAY = date(2024, 11, 6)


def test_an_audit_row_the_worker_publishes_lands_in_the_table_through_the_stacks_drain(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = unique_settings(warehouse_path, audit_topic=f"audit-{suffix}",
                               audit_subscription=f"audit-log-{suffix}")
    lost = empty(warehouse, OFFENSE, DAY)
    request = Request(processor=OFFENSE, game_date=DAY, reason=Reason.MISSING,
                      detection_run_id=f"run-{suffix}")

    def history() -> list[dict[str, object]]:
        return read_history(warehouse, bootstrap(settings, warehouse=warehouse).ops,
                            since=datetime.now(UTC) - timedelta(hours=1),
                            until=datetime.now(UTC) + timedelta(hours=1), run_id=request.run_id,
                            processor=OFFENSE)  # its players, published after the write, too

    with function_server("work", settings) as worker_url:
        ensure_topology(settings, push_endpoint=worker_url)
        PubSubQueue(settings.project, settings.requests_topic,
                    settings.dead_letter_topic).publish([request])
        wait_for(lambda: len(rows(warehouse, OFFENSE, DAY)) == len(lost), what="the fill")
        # Answered and acknowledged, its audit row on the topic: not in the table until drained.
        time.sleep(1.0)
        assert history() == []
    app = bootstrap(settings, warehouse=warehouse)
    drain = audit_drain(settings)
    try:
        wait_for(lambda: drain_audit_once(app, drain) or history(), seconds=30,
                 what="the audit row drained")
    finally:
        drain.close()
    (row,) = history()
    assert (row["request_id"], row["processor"], row["game_date"], row["outcome"],
            row["rows_written"]) == (request.request_id, OFFENSE, DAY, "succeeded", len(lost))
    assert isinstance(row["logged_at"], datetime)
    assert abs(row["logged_at"] - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_publish_that_cannot_reach_pubsub_gives_up_at_the_deliverys_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: every Publish call fails as unavailable, and is retried.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    topic = PubSubAuditTopic("backfill-local", "backfill-audit")
    started = time.monotonic()
    with pytest.raises(TransientError, match="not confirmed"):
        topic.publish([{"outcome": "succeeded", "logged_at": datetime.now(UTC)}],
                      Deadline.after(2.0))
    # Retried with backoff (0.1, 0.2, 0.4 s, ...) until the next wait would pass the deadline,
    # not for the client's own 60 s: then the worker logs the rows and answers.
    assert 0.5 <= time.monotonic() - started < 3
