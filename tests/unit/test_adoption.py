"""Adopting the pipeline's own Phase 3 tables: a column Backfill does not write refuses the
table once per pass (detection names it and publishes nothing for it), and a permission the
deployment lacks is the deployment's error (the delivery comes back), never a dead letter."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import cast

import pytest
from backfill.bootstrap import Backfill
from backfill.domain.errors import ConfigurationError
from backfill.domain.request import Reason, Request
from backfill.domain.tables import Schema, TableRef
from backfill.domain.window import Window
from backfill.entrypoints import http
from backfill.ports import Delivery, Read, Replace, Warehouse
from backfill.processors.base import LINEAGE_SCHEMA
from backfill.service.detect import detect

from tests.support import sql
from tests.unit.fakes import RecordingQueue
from tests.unit.test_http import client, push

DAY = date(2025, 1, 14)
OFFENSE = "team_offense_game_summary"
DENIED = ("the deployment lacks a permission: Access Denied: Table p:nba_analytics."
          f"{OFFENSE}: Permission bigquery.tables.update denied on table "
          f"p:nba_analytics.{OFFENSE} (or it may not exist).")


def table_path(app: Backfill) -> Path:
    return Path(app.settings.warehouse.removeprefix("duckdb://"))


def deliver(app: Backfill, warehouse: Warehouse | None = None) -> None:
    worker = app.worker()
    worker.sleep = lambda _: None
    if warehouse is not None:
        worker.warehouse = warehouse
    request = Request(processor=OFFENSE, game_date=DAY, reason=Reason.MISSING)
    worker.handle(Delivery(request.encode(), {}, 1, "m-1"))


def test_a_column_backfill_does_not_write_refuses_the_table_before_any_request(
        filled_app: Backfill, monkeypatch: pytest.MonkeyPatch) -> None:
    target = filled_app.registry.get(OFFENSE).target
    sql(table_path(filled_app), f"ALTER TABLE {target} ADD COLUMN broadcast VARCHAR DEFAULT 'TNT'")
    refused = (f"ConfigurationError: {target} has columns Backfill does not write: broadcast; "
               "Backfill replaces a date's rows whole and would lose them: drop them, or point "
               "the processor at a table of its own (README, Using BigQuery)")

    report = detect(filled_app.warehouse, filled_app.registry, filled_app.ops, filled_app.queue,
                    Window(DAY, DAY))
    (offense,) = [p for p in report.processors if p.name == OFFENSE]
    assert offense.error == refused
    assert report.failed
    assert all(r.processor != OFFENSE for r in report.published)

    # Through the deployed entry points: the detector's 500 names the table and the column; a
    # request typed by hand is the deployment's error (500, delivered again), not dead-lettered.
    worker = filled_app.worker()
    monkeypatch.setattr(http, "_app", lambda: filled_app)
    monkeypatch.setattr(http, "_worker", lambda: worker)
    reply = client("detect").post("/", json={"start_date": str(DAY), "end_date": str(DAY),
                                             "dry_run": True})
    assert reply.status_code == 500
    assert [p["error"] for p in reply.json["processors"] if p["name"] == OFFENSE] == [refused]
    typed = Request(processor=OFFENSE, game_date=DAY, force=True)
    # On the entry point's own logger: the functions' logging setup replaces the root's handlers.
    logged = Logged()
    http.log.addHandler(logged)
    try:
        answer = client("work").post("/", json=push(typed.encode()))
    finally:
        http.log.removeHandler(logged)
    assert answer.status_code == 500 and "broadcast" in answer.json["error"]
    # The line terraform's worker_misconfigured alert matches (it names the table).
    assert [r.getMessage() for r in logged.records
            if getattr(r, "event", None) == "worker_misconfigured"] == [
        f"worker misconfigured: {refused.removeprefix('ConfigurationError: ')}"]
    assert not cast(RecordingQueue, filled_app.queue).dead_letters
    kept = filled_app.warehouse.read_rows(Read(target, DAY, DAY))
    assert kept and {r["broadcast"] for r in kept} == {"TNT"}


class Logged(logging.Handler):
    """Keeps the records it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class DeniedWarehouse:
    """The warehouse as a deployment without tables.update sees it: adding the lineage
    columns fails as the BigQuery adapter reports BigQuery's 403 (a grant DuckDB cannot lack)."""

    def __init__(self, real: Warehouse) -> None:
        self._real = real
        self.asked: list[TableRef] = []

    def create_table(self, table: TableRef, columns: Schema,
                     partitioned_by: str = "game_date") -> None:
        self.asked.append(table)
        raise ConfigurationError(DENIED)

    def scoped(self, *args: object, **kwargs: object) -> DeniedWarehouse:
        return self

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_a_permission_the_deployment_lacks_is_its_error_not_a_dead_letter(
        filled_app: Backfill) -> None:
    offense = filled_app.registry.get(OFFENSE)
    target = offense.target
    for column in LINEAGE_SCHEMA:  # a table the pipeline made before Backfill
        sql(table_path(filled_app), f"ALTER TABLE {target} DROP COLUMN {column.name}")
    filled_app.warehouse.write([Replace(target, DAY, DAY, [], offense.schema)])  # a gap
    denied = DeniedWarehouse(filled_app.warehouse)
    with pytest.raises(ConfigurationError) as raised:
        deliver(filled_app, cast(Warehouse, denied))
    assert str(raised.value) == DENIED  # the table and the permission, as BigQuery named them
    assert denied.asked == [target]
    assert not cast(RecordingQueue, filled_app.queue).dead_letters
