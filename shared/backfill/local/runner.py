"""Work a subscription by pull: until it is drained (accounting for every request published), or
until stopped (a self-hosted worker)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from backfill.domain.outcome import Outcome
from backfill.ports import Delivery, Stoppable
from backfill.service.work import Worker, WorkResult

log = logging.getLogger("backfill.run")

# Starts consuming with at most N messages in hand, calling back with each delivery.
ConsumerFactory = Callable[[Callable[[Delivery], bool], int], Stoppable]


@dataclass
class RunSummary:
    """Counts of terminal outcomes; `unaccounted` are expected requests that never finished."""

    results: list[WorkResult] = field(default_factory=list)
    redeliveries: int = 0
    unaccounted: list[str] = field(default_factory=list)
    consumer_error: str | None = None

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(result.outcome for result in self.results)

    def as_dict(self) -> dict[str, Any]:
        counts = self.outcomes
        return {**{o.value: counts[o] for o in Outcome if o is not Outcome.RETRY},
                "redeliveries": self.redeliveries, "unaccounted": len(self.unaccounted)}


@dataclass
class _Activity:
    """What the drain loop watches: deliveries in hand, and when one last finished."""

    in_flight: int = 0
    last: float = field(default_factory=time.monotonic)


class _Counted:
    """Numbers deliveries of each message, since the emulator does not say which one it is."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._seen[delivery.message_id] += 1
            attempt = delivery.delivery_attempt or self._seen[delivery.message_id]
        return replace(delivery, delivery_attempt=attempt)


def work_until_drained(worker: Worker, consume: ConsumerFactory, expected: Iterable[str],
                       *, concurrency: int, quiet_seconds: float = 1.5,
                       timeout_seconds: float = 900.0,
                       on_result: Callable[[WorkResult], None] | None = None) -> RunSummary:
    """Handle deliveries until every expected request id has finished and the queue is quiet;
    what a delivery publishes (the chain's next links) is expected too."""
    summary = RunSummary()
    waiting = set(expected)
    ended: set[str] = set()  # a follow-up may end before the delivery that published it
    lock = threading.Lock()
    activity = _Activity()
    counted = _Counted()

    def finished(result: WorkResult) -> None:
        with lock:
            if result.outcome is Outcome.RETRY:
                summary.redeliveries += 1
            else:
                summary.results.append(result)
                if result.request is not None:
                    ended.add(result.request.request_id)
                    waiting.discard(result.request.request_id)
            waiting.update(r.request_id for r in result.published if r.request_id not in ended)
        if on_result:
            on_result(result)

    def handle(delivery: Delivery) -> bool:
        with lock:
            activity.in_flight += 1
        try:
            return _handle(worker, counted(delivery), finished)
        finally:
            with lock:
                activity.in_flight -= 1
                activity.last = time.monotonic()

    consumer = consume(handle, concurrency)
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline and consumer.error is None:
            time.sleep(0.05)
            with lock:
                idle = time.monotonic() - activity.last
                if not waiting and activity.in_flight == 0 and idle >= quiet_seconds:
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
    counted = _Counted()
    consumer = consume(lambda delivery: _handle(worker, counted(delivery), on_result),
                       concurrency)
    try:
        while not stop.wait(0.2) and consumer.error is None:
            pass
    finally:
        consumer.stop()
    error = consumer.error
    return None if error is None else f"{type(error).__name__}: {error}"


def _handle(worker: Worker, delivery: Delivery, finished: Callable[[WorkResult], None]) -> bool:
    """One delivery: handled, reported, acknowledged unless it is to come back."""
    result = worker.handle(delivery)
    finished(result)
    return result.outcome.acknowledged


def subject(result: WorkResult) -> str:
    return (f"{result.request.processor} {result.request.game_date}" if result.request
            else "malformed request")


def describe_result(result: WorkResult) -> str:
    """One line about a finished delivery, for progress output."""
    detail = f": {result.error}" if result.error else f" ({result.rows_written} rows)"
    return f"{subject(result)} {result.outcome.value}{detail}"
