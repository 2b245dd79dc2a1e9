"""The worker's use case: one request in, one outcome out (succeeded, skipped, dead-lettered, retry)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Protocol

from tenacity import RetryError, Retrying

from backfill.domain.errors import (
    BackfillError,
    DependencyNotReady,
    InvalidRequest,
)
from backfill.domain.request import MAX_BODY_BYTES, Request, decode_request
from backfill.domain.window import Window
from backfill.ports import RequestQueue, Warehouse
from backfill.processors.base import SOURCE_PROCESSED_AT, Processor, Row
from backfill.processors.registry import Registry
from backfill.service.gaps import Schedule, date_gap, read_schedule
from backfill.service.retry import retry_policy

log = logging.getLogger("backfill.work")

WORKER = socket.gethostname()


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"  # not finished: let Pub/Sub deliver it again later

    @property
    def acknowledged(self) -> bool:
        return self is not Outcome.RETRY


@dataclass(frozen=True)
class Failure:
    """One failed attempt: when, and what went wrong."""

    at: datetime
    error: str


@dataclass
class WorkResult:
    outcome: Outcome
    request: Request | None
    attempts: int = 0
    rows_written: int = 0
    error: str | None = None
    error_type: str | None = None
    duration_ms: int = 0
    failures: list[Failure] = field(default_factory=list)


class AuditSink(Protocol):
    """Where every delivery's result is recorded (the audit trail); must never raise."""

    def record(self, result: WorkResult) -> None: ...

    def flush(self) -> None: ...


@dataclass
class Worker:
    """Everything a delivery needs; built once per process by bootstrap."""

    warehouse: Warehouse
    registry: Registry
    queue: RequestQueue
    today: Callable[[], date]
    retry_budget_seconds: float
    max_delivery_attempts: int
    sleep: Callable[[float], None] = time.sleep
    audit: AuditSink | None = None

    def handle(self, body: bytes, attributes: dict[str, str] | None = None,
               delivery_attempt: int | None = None) -> WorkResult:
        """Work one delivery and audit its result; raises only if a dead letter could not be
        published (then nothing is audited: the delivery is not over)."""
        result = self._handle(body, attributes, delivery_attempt)
        if self.audit is not None:
            self.audit.record(result)
        return result

    def _handle(self, body: bytes, attributes: dict[str, str] | None,
                delivery_attempt: int | None) -> WorkResult:
        started = time.monotonic()
        try:
            request = decode_request(body, today=self.today())
            if request.processor not in self.registry:
                raise InvalidRequest(f"unknown processor {request.processor!r}; "
                                     f"known: {', '.join(self.registry.names)}")
            processor = self.registry.get(request.processor)
        except InvalidRequest as exc:
            return _timed(self._refuse(body, attributes or {}, "InvalidRequest", str(exc)),
                          started)
        result = self._work(request, processor, delivery_attempt)
        if result.outcome is Outcome.DEAD_LETTERED:
            self._dead_letter(body, attributes or {}, result)
        log.info("%s %s %s: %s", result.outcome.value, request.processor, request.game_date,
                 result.error or f"{result.rows_written} rows",
                 extra={"processor": request.processor, "game_date": str(request.game_date),
                        "request_id": request.request_id, "outcome": result.outcome.value})
        return _timed(result, started)

    def refuse_envelope(self, body: bytes, reason: str) -> WorkResult:
        """Dead-letter a push whose envelope cannot be read (no message, data not base64)."""
        result = self._refuse(body, {}, "InvalidEnvelope", reason)
        if self.audit is not None:
            self.audit.record(result)
        return result

    def _refuse(self, body: bytes, attributes: dict[str, str], error_type: str,
                reason: str) -> WorkResult:
        """Malformed input: dead-lettered at once with its reason, never retried."""
        result = WorkResult(Outcome.DEAD_LETTERED, None, error=reason, error_type=error_type,
                            failures=[Failure(_now(), f"{error_type}: {reason}")])
        log.warning("dead-lettering a malformed request: %s", reason)
        self._dead_letter(body, attributes, result)
        return result

    def _work(self, request: Request, processor: Processor,
              delivery_attempt: int | None) -> WorkResult:
        failures: list[Failure] = []
        attempts = 0
        # The date's schedule, read once: the re-check and every dependency check use it.
        schedule: Schedule | None = None

        def day_schedule() -> Schedule:
            nonlocal schedule
            if schedule is None:
                day = request.game_date
                schedule = read_schedule(self.warehouse, Window(day, day))
            return schedule

        def recheck() -> bool:
            return date_gap(self.warehouse, processor, request.game_date,
                            day_schedule()) is not None

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            try:
                self._check_dependencies(processor, request.game_date, day_schedule())
                return run_processor(self.warehouse, self.registry, processor, request.game_date)
            except Exception as exc:
                failures.append(Failure(_now(), f"{type(exc).__name__}: {exc}"))
                raise

        # One budget for the whole delivery (re-check, then attempts), below the function timeout.
        deadline = time.monotonic() + self.retry_budget_seconds

        def policy() -> Retrying:
            return retry_policy(max(0.0, deadline - time.monotonic()), sleep=self.sleep)

        try:
            if not request.force and not policy()(recheck):
                return WorkResult(Outcome.SKIPPED, request)
            rows = policy()(attempt)
            return WorkResult(Outcome.SUCCEEDED, request, attempts, rows, failures=failures)
        except RetryError as exc:
            last = exc.last_attempt.exception() or RuntimeError("retry budget exhausted")
            result = WorkResult(Outcome.DEAD_LETTERED, request, attempts, error=str(last),
                                error_type=type(last).__name__, failures=failures)
            final_delivery = (delivery_attempt or 1) >= self.max_delivery_attempts
            if isinstance(last, DependencyNotReady) and not final_delivery:
                result.outcome = Outcome.RETRY
            elif not isinstance(last, DependencyNotReady):
                result.error = f"retry budget exhausted after {attempts} attempts: {last}"
            return result
        except BackfillError as exc:
            return WorkResult(Outcome.DEAD_LETTERED, request, attempts, error=str(exc),
                              error_type=type(exc).__name__, failures=failures)
        except Exception as exc:  # noqa: BLE001 - a processor bug is permanent: no retry storm
            log.exception("processor %s crashed on %s", processor.name, request.game_date)
            return WorkResult(Outcome.DEAD_LETTERED, request, attempts,
                              error=f"{type(exc).__name__}: {exc}", error_type="ProcessorCrash",
                              failures=failures)

    def _check_dependencies(self, processor: Processor, game_date: date,
                            schedule: Schedule) -> None:
        for name in processor.depends_on:
            gap = date_gap(self.warehouse, self.registry.get(name), game_date, schedule)
            if gap is not None:
                raise DependencyNotReady(
                    f"{name} is {gap.reason.value} for {game_date} ({len(gap.game_ids)} games)")

    def _dead_letter(self, body: bytes, attributes: dict[str, str], result: WorkResult) -> None:
        why = dead_letter_attributes(result)
        if len(body) > MAX_BODY_BYTES:
            # Pub/Sub refuses messages over 10 MB: an oversized body would never leave as a dead
            # letter and would come back forever. Keep its head, and say it was cut.
            why["body_bytes"] = str(len(body))
            body = body[:MAX_BODY_BYTES]
        # The original attributes travel along, ours win where names clash.
        self.queue.dead_letter(body, {**attributes, **why})


def run_processor(warehouse: Warehouse, registry: Registry, processor: Processor,
                  game_date: date) -> int:
    """Compute one date from its inputs and replace that date's Phase 3 rows."""
    start = date.fromordinal(game_date.toordinal() - processor.source_lookback_days)
    source = warehouse.read_rows(processor.source, start, game_date)
    upstream = {name: warehouse.read_rows(registry.get(name).target, game_date, game_date)
                for name in processor.depends_on}
    rows = processor.compute(game_date, source, upstream)
    stamp_source_processed_at(rows, source, game_date)
    return warehouse.replace_range(processor.target, game_date, game_date, rows, processor.schema)


def stamp_source_processed_at(rows: list[Row], source: list[Row], game_date: date) -> None:
    """Record, on each Phase 3 row, the newest processed_at of its game's source rows."""
    newest: dict[str, datetime] = {}
    for row in source:
        stamp = row.get("processed_at")
        if row.get("game_date") == game_date and isinstance(stamp, datetime):
            game = row["game_id"]
            newest[game] = max(stamp, newest.get(game, stamp))
    for row in rows:
        row[SOURCE_PROCESSED_AT] = newest.get(row["game_id"])


def dead_letter_attributes(result: WorkResult) -> dict[str, str]:
    """Why a request was dead-lettered, as Pub/Sub attributes (strings, 1 KiB values at most)."""
    attributes = {
        "error_type": result.error_type or "Unknown",
        "error_message": (result.error or "")[:1024],
        "attempts": str(result.attempts),
        "dead_lettered_by": "worker",
        "dead_lettered_at": _now().isoformat(),
        "first_failure_at": result.failures[0].at.isoformat() if result.failures else "",
        "last_failure_at": result.failures[-1].at.isoformat() if result.failures else "",
    }
    if result.request is not None:
        attributes.update(result.request.attributes(), request_id=result.request.request_id)
    return attributes


def _timed(result: WorkResult, started: float) -> WorkResult:
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _now() -> datetime:
    return datetime.now(UTC)
