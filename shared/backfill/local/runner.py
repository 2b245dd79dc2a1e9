"""Work a subscription until it is drained, and account for every request published."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from backfill.ports import Delivery
from backfill.service.work import Outcome, Worker, WorkResult

log = logging.getLogger("backfill.run")



class Stoppable(Protocol):
    error: BaseException | None

    def stop(self) -> None: ...


# Starts consuming with at most N messages in hand, calling back with each delivery.
ConsumerFactory = Callable[[Callable[[Delivery], bool], int], Stoppable]


@dataclass
class RunSummary:
    """Counts of terminal outcomes; `unaccounted` are expected requests that never finished."""

    outcomes: Counter[str] = field(default_factory=Counter)
    results: list[WorkResult] = field(default_factory=list)
    redeliveries: int = 0
    unaccounted: list[str] = field(default_factory=list)
    consumer_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"succeeded": self.outcomes[Outcome.SUCCEEDED],
                "skipped": self.outcomes[Outcome.SKIPPED],
                "dead_lettered": self.outcomes[Outcome.DEAD_LETTERED],
                "redeliveries": self.redeliveries, "unaccounted": len(self.unaccounted)}


def work_until_drained(worker: Worker, consume: ConsumerFactory, expected: Iterable[str],
                       *, concurrency: int, quiet_seconds: float = 1.5,
                       timeout_seconds: float = 900.0,
                       on_result: Callable[[WorkResult], None] | None = None) -> RunSummary:
    """Handle deliveries until every expected request id has finished and the queue is quiet."""
    summary = RunSummary()
    waiting = set(expected)
    deliveries: Counter[str] = Counter()
    lock = threading.Lock()
    state: dict[str, float] = {"in_flight": 0, "last_activity": time.monotonic()}

    def handle(delivery: Delivery) -> bool:
        body, attributes, attempt, message_id = delivery
        with lock:
            state["in_flight"] += 1
            deliveries[message_id] += 1
            # The emulator does not always say which delivery this is; count them ourselves.
            attempt = attempt or deliveries[message_id]
        try:
            result = worker.handle(body, attributes, attempt)
        finally:
            with lock:
                state["in_flight"] -= 1
                state["last_activity"] = time.monotonic()
        with lock:
            if result.outcome is Outcome.RETRY:
                summary.redeliveries += 1
            else:
                summary.outcomes[result.outcome] += 1
                summary.results.append(result)
                if result.request is not None:
                    waiting.discard(result.request.request_id)
        if on_result:
            on_result(result)
        return result.outcome.acknowledged

    consumer = consume(handle, concurrency)
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline and consumer.error is None:
            time.sleep(0.05)
            with lock:
                idle = time.monotonic() - state["last_activity"]
                if not waiting and state["in_flight"] == 0 and idle >= quiet_seconds:
                    break
    finally:
        consumer.stop()
    if consumer.error is not None:
        summary.consumer_error = f"{type(consumer.error).__name__}: {consumer.error}"
    summary.unaccounted = sorted(waiting)
    return summary


def serve(worker: Worker, consume: ConsumerFactory, stop: threading.Event, *, concurrency: int,
          on_result: Callable[[WorkResult], None]) -> str | None:
    """Handle deliveries until `stop` is set; returns why the consumer failed, if it did."""

    def handle(delivery: Delivery) -> bool:
        body, attributes, attempt, _ = delivery
        result = worker.handle(body, attributes, attempt)
        on_result(result)
        return result.outcome.acknowledged

    consumer = consume(handle, concurrency)
    try:
        while not stop.wait(0.2) and consumer.error is None:
            pass
    finally:
        consumer.stop()
    error = consumer.error
    return None if error is None else f"{type(error).__name__}: {error}"
