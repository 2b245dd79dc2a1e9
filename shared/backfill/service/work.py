"""The worker's use case, one pass per delivery: decode, gather, decide, compute, write, record.

A transient failure anywhere in gather-to-write retries the pass with jittered backoff inside the
delivery's budget; how the delivery ends is settled in one place (domain/outcome.py). Every call
it makes is cut short at its deadline, so a delivery that runs out of time still dead-letters
itself with its reason and leaves its audit row before the function's own timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Protocol

from tenacity import RetryError

from backfill.domain.dead_letter import Why
from backfill.domain.deadline import Deadline
from backfill.domain.errors import (
    BackfillError,
    ConfigurationError,
    InvalidRequest,
    SchemaMismatch,
    TableNotFound,
)
from backfill.domain.games import id_spellings
from backfill.domain.gaps import kept_games
from backfill.domain.outcome import (
    REFUSED,
    Done,
    Ended,
    Failure,
    Outcome,
    Policy,
    Verdict,
    settle,
)
from backfill.domain.plan import changed_games, follow_ups, too_deep
from backfill.domain.quarantine import Hold, QuarantineEvent
from backfill.domain.request import Request, decode_request
from backfill.domain.tables import OpsTables, TableRef
from backfill.ports import Change, Delivery, RequestQueue, Warehouse
from backfill.processors.base import Processor
from backfill.processors.registry import Registry
from backfill.service.decide import Compute, decide
from backfill.service.gather import Gathered, gather
from backfill.service.ledger import append, quarantine_rows
from backfill.service.retry import retry_policy

log = logging.getLogger("backfill.work")

# After the retry budget, time kept to publish a dead letter and write the audit row; the
# function timeout is the budget plus a minute (terraform/main.tf), so this ends well before it.
FINISH_RESERVE_SECONDS = 45.0
DEAD_LETTER_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class WorkResult:
    """How one delivery ended, built once when it has."""

    outcome: Outcome
    request: Request | None
    attempts: int = 0
    rows_written: int = 0
    games_written: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # game id -> why (quarantined)
    waiting: dict[str, str] = field(default_factory=dict)  # game id -> the upstream it waits on
    error: str | None = None
    error_type: str | None = None
    detail: str | None = None  # what the re-check found: why the date was (re)computed
    duration_ms: int = 0
    failures: tuple[Failure, ...] = ()
    message_id: str = ""
    dead_letter: bool = False  # the worker publishes a dead letter saying why
    # What it published for the next links of the chain: followers, changed dependents.
    published: tuple[Request, ...] = ()


class AuditSink(Protocol):
    """Where every delivery's result is recorded (the audit trail); must never raise."""

    def record(self, result: WorkResult, deadline: Deadline | None = None) -> None: ...

    def flush(self) -> None: ...


@dataclass
class Worker:
    """Everything a delivery needs; built once per process by bootstrap."""

    warehouse: Warehouse
    registry: Registry
    queue: RequestQueue
    ops: OpsTables
    today: Callable[[], date]
    retry_budget_seconds: float
    policy: Policy
    audit: AuditSink | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Follow-ups whose publish failed, by request id: its redelivery here publishes them,
    # though its re-check then finds the date complete and has nothing changed to say.
    _unpublished: dict[str, tuple[Request, ...]] = field(default_factory=dict, init=False,
                                                          repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def handle(self, delivery: Delivery) -> WorkResult:
        """Work one delivery to its end and audit it. Raises TransientError when a dead letter
        or the next links of the chain could not be published, ConfigurationError when the
        deployment is at fault (a permission it lacks, a target table Backfill may not write):
        then nothing is audited, the delivery is not over."""
        started = self.clock()
        deadline = Deadline.after(self.retry_budget_seconds, self.clock)
        try:
            if delivery.problem:
                raise InvalidRequest(delivery.problem)
            request = decode_request(delivery.data, today=self.today(),
                                     message_id=delivery.message_id,
                                     published_at=delivery.published_at)
            processor = self._processor(request)
        except InvalidRequest as exc:
            log.warning("dead-lettering a malformed request: %s", exc)
            kind = "InvalidEnvelope" if delivery.problem else "InvalidRequest"
            verdict = Verdict(Outcome.DEAD_LETTERED, kind, str(exc), dead_letter=True)
            result = self._result(None, verdict, None, 1, (), started, delivery)
        else:
            deeper = too_deep(request, self.registry.graph)
            if deeper:
                verdict = Verdict(Outcome.DEAD_LETTERED, "ChainTooDeep", deeper, dead_letter=True)
                result = self._result(request, verdict, None, 1, (), started, delivery)
            else:
                result = self._work(request, processor, delivery, deadline, started)
        finish = deadline.extended(FINISH_RESERVE_SECONDS)
        if result.dead_letter:
            self._dead_letter(delivery, result, finish)
        if result.request is not None and result.outcome.publishes_followers:
            result = replace(result, published=self._publish(result.request, result.published))
        if result.error_type == "DependencyNotReady" and result.outcome is Outcome.RETRY:
            # Follow-ups make these rare (a hand-typed request, overlapping runs): counted.
            log.warning("waiting on a dependency: %s", result.error,
                        extra={**(result.request.log_fields() if result.request else {}),
                               "event": "dependency_wait"})
        if result.request is not None:
            log.info("%s %s %s: %s", result.outcome.value, result.request.processor,
                     result.request.game_date, result.error or f"{result.rows_written} rows",
                     extra={**result.request.log_fields(), "outcome": result.outcome.value})
        if self.audit is not None:
            self.audit.record(result, finish)
        return result

    def _processor(self, request: Request) -> Processor:
        try:
            return self.registry.get(request.processor)
        except ConfigurationError as exc:  # an unknown name: the request's fault
            raise InvalidRequest(str(exc)) from None

    def _work(self, request: Request, processor: Processor, delivery: Delivery,
              deadline: Deadline, started: float) -> WorkResult:
        failures: list[Failure] = []

        def attempt() -> Ended:
            warehouse = self.warehouse.scoped(deadline, {"backfill_processor": processor.name,
                                                         "backfill_run": request.run_id})
            try:
                try:
                    return self._pass(warehouse, request, processor)
                except (TableNotFound, SchemaMismatch) as exc:
                    # A warm instance may hold the description of a table dropped or recreated
                    # since: forgotten, and the pass tried once more on fresh ones.
                    log.info("refreshing table descriptions after: %s", exc)
                    for table in self._tables(processor):
                        warehouse.forget(table)
                    return self._pass(warehouse, request, processor)
            except Exception as exc:
                failures.append(Failure(self.now(), type(exc).__name__, str(exc)))
                raise

        retrying = retry_policy(deadline.left(), sleep=self.sleep, fields=request.log_fields())
        ended: Ended | None = None
        error: BaseException | None = None
        try:
            ended = retrying(attempt)
        except ConfigurationError:
            # The deployment's fault (a permission it lacks, a table Backfill may not write),
            # not the request's: the delivery is not acknowledged (a 500) and comes back once
            # the configuration is fixed, instead of one dead letter per request.
            raise
        except RetryError as exc:
            error = exc.last_attempt.exception()
        except Exception as exc:  # noqa: BLE001 - settled below: a bug is permanent, no storm
            if not isinstance(exc, BackfillError):
                log.exception("processor %s crashed on %s", processor.name, request.game_date)
            error = exc
        attempts = int(retrying.statistics.get("attempt_number", len(failures) or 1))
        verdict = settle(ended, error, attempts, age=self.now() - request.requested_at,
                         delivery_attempt=delivery.delivery_attempt, policy=self.policy)
        return self._result(request, verdict, ended, attempts, tuple(failures), started,
                            delivery)

    def _pass(self, warehouse: Warehouse, request: Request, processor: Processor) -> Ended:
        gathered = gather(warehouse, self.registry, self.ops, processor, request)
        decision = decide(request, processor, self.registry, gathered)
        if not isinstance(decision, Compute):
            return decision
        return self._compute(warehouse, request, processor, gathered, decision)

    def _tables(self, processor: Processor) -> list[TableRef]:
        """Every table a delivery of `processor` describes."""
        dependencies = [self.registry.get(name) for name in processor.depends_on]
        return [self.registry.schedule, self.ops.quarantine, self.ops.runs,
                *(t for p in (processor, *dependencies) for t in (p.source, p.target))]

    def _compute(self, warehouse: Warehouse, request: Request, processor: Processor,
                 gathered: Gathered, decision: Compute) -> Done:
        """Compute every game of the date, then write the written games and the quarantine's
        news together: the refused and waiting games keep their old rows."""
        day = request.game_date
        rows = gathered.rows()
        produced = processor.produce(day, rows.source, rows.upstream, decision.schedule,
                                     decision.held_upstream)
        # Scheduled games whose Phase 2 rows are gone are kept too: an upstream gap, no orphan.
        stored = kept_games(decision.schedule, [g.key for g in gathered.target or ()
                                                if g.game_date == day and g.rows],
                            produced.written)
        keep = tuple(sorted({spelling for key in (*produced.refused, *produced.waiting, *stored)
                             for spelling in id_spellings(key)}))
        changes: list[Change] = [processor.replacement(day, day, produced.rows, keep)]
        at = self.now()
        events = [QuarantineEvent(processor.name, day, game_id, Hold.HELD, why,
                                  produced.inputs.get(key), at, request.request_id,
                                  request.run_id)
                  for key, (game_id, why) in produced.refused.items()]
        events += [QuarantineEvent(processor.name, day, hold.game_id, Hold.RELEASED,
                                   "written", produced.inputs.get(key), at,
                                   request.request_id, request.run_id)
                   for key, hold in decision.held.items() if key in produced.written]
        if events:
            changes.append(quarantine_rows(self.ops, events))
        info = gathered.target_info
        if info is None or any(c.name not in info.columns for c in processor.table_schema()):
            # A processor deployed late, or a table made before Backfill's lineage columns
            # (they are added, nullable): made first, so the write is not tried and refused.
            warehouse.create_table(processor.target, processor.table_schema())
        append(warehouse, changes)
        return Done(len(produced.rows), len(produced.written),
                    {game_id: why for game_id, why in produced.refused.values()},
                    {game_id: why for game_id, why in produced.waiting.values()}, _why(decision),
                    changed_games(rows.target, produced.rows,
                                  [c.name for c in processor.schema]))

    def _publish(self, request: Request, found: tuple[Request, ...]) -> tuple[Request, ...]:
        """Publish the next links of the chain before the delivery is acknowledged. If that
        fails, the TransientError leaves the delivery unacknowledged (the write is idempotent)
        and the requests are kept to go out with this request's next delivery here."""
        with self._lock:
            kept = self._unpublished.pop(request.request_id, ())
        out = tuple({r.processor: r for r in (*found, *kept)}.values())
        if not out:
            return ()
        try:
            self.queue.publish(list(out))
        except BackfillError:
            with self._lock:
                self._unpublished[request.request_id] = out
            raise
        return out

    def _dead_letter(self, delivery: Delivery, result: WorkResult, deadline: Deadline) -> None:
        first = result.failures[0].at if result.failures else None
        last = result.failures[-1].at if result.failures else None
        why = Why("worker", result.error_type or "Unknown", result.error or "", result.attempts,
                  self.now(), first, last, dict(result.refused))
        self.queue.dead_letter(delivery, why, result.request,
                               deadline.timeout(DEAD_LETTER_TIMEOUT_SECONDS))
        # The line the alerts count (terraform/monitoring.tf): a refused game is held in
        # quarantine by design, a warning of its own; any other dead letter needs a person.
        request = result.request
        log.log(logging.WARNING if why.error_type == REFUSED else logging.ERROR,
                "dead-lettered %s: %s", delivery.message_id or "a message", why.error_message,
                extra={"event": "dead_lettered", "error_type": why.error_type,
                       **(request.log_fields() if request else {})})

    def _result(self, request: Request | None, verdict: Verdict, ended: Ended | None,
                attempts: int, failures: tuple[Failure, ...], started: float,
                delivery: Delivery) -> WorkResult:
        done = ended if isinstance(ended, Done) else Done(0, 0)
        detail = ended.why if ended is not None else None
        published = (follow_ups(request, self.registry.graph, done.changed,
                                (*done.refused, *done.waiting))
                     if request is not None and verdict.outcome.publishes_followers else ())
        return WorkResult(
            verdict.outcome, request, attempts, done.rows_written, done.games_written,
            done.refused, done.waiting, verdict.error, verdict.error_type, detail or None,
            int((self.clock() - started) * 1000), failures, delivery.message_id,
            verdict.dead_letter, published)


def _why(decision: Compute) -> str:
    gap = decision.gap
    if gap is None:
        return "forced"
    inputs = f" ({', '.join(gap.stale_inputs)})" if gap.stale_inputs else ""
    versions = (f" (version {gap.has_version} -> {gap.needs_version})"
                if gap.reason.value == "outdated" else "")
    return f"{gap.reason.value}{inputs}{versions}: {len(gap.game_ids)} games"

