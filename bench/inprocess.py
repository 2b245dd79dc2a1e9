"""The real worker driven in-process: a queue in memory, C threads handing it deliveries.

Used by the latency-bound rows, where the question is what a delivery's warehouse round trips
cost: an in-memory queue adds nothing to a delivery's critical path, as Pub/Sub push delivery to
a Cloud Function adds no warehouse round trip. A delivery that ends in RETRY (a dependency's date
not written yet) goes to the back of the queue, as a nacked message comes back.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backfill.bootstrap import Backfill, bootstrap
from backfill.domain.dead_letter import DeadLetterMessage, Why
from backfill.domain.outcome import Outcome
from backfill.domain.request import Request
from backfill.ports import AuditTopic, DeadLetterInbox, Delivery, Lease, RequestQueue, Warehouse
from backfill.processors.registry import Registry
from backfill.service.work import Worker, WorkResult
from backfill.settings import Settings


@dataclass
class MemoryQueue(RequestQueue):
    """Requests and dead letters kept in lists (thread-safe)."""

    published: list[Request] = field(default_factory=list)
    dead_letters: list[tuple[Delivery, Why]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, requests: Sequence[Request]) -> dict[str, str]:
        with self._lock:
            first = len(self.published)
            self.published += requests
        return {r.request_id: f"m{first + i}" for i, r in enumerate(requests)}

    def dead_letter(self, delivery: Delivery, why: Why, request: Request | None,
                    timeout: float | None = None) -> str:
        with self._lock:
            self.dead_letters.append((delivery, why))
            return f"d{len(self.dead_letters)}"


class EmptyInbox(DeadLetterInbox):
    @contextmanager
    def lease(self) -> Iterator[Lease]:
        yield _NoLease()


class _NoLease(Lease):
    messages: list[DeadLetterMessage] = []

    def acknowledge(self, message_id: str) -> None:
        pass


def app_on(warehouse: Warehouse, path: Path, registry: Registry | None = None,
           audit_topic: AuditTopic | None = None) -> Backfill:
    """The application on `warehouse` (a DuckDB file at `path`, perhaps behind the latency
    wrapper) with the queue in memory, publishing its audit rows to `audit_topic` if given."""
    settings = Settings.load({"warehouse": f"duckdb://{path}"}, environ={})
    return bootstrap(settings, warehouse=warehouse, queue=MemoryQueue(), inbox=EmptyInbox(),
                     registry=registry, audit_topic=audit_topic)


def delivery_of(request: Request, attempt: int = 1, message_id: str = "") -> Delivery:
    return Delivery(request.encode(), request.attributes(), attempt, message_id)


@dataclass
class Drained:
    """What a drain did: every terminal result, how many RETRY deliveries came back, and when
    the first delivery started and the last result arrived."""

    results: list[WorkResult] = field(default_factory=list)
    retries: int = 0
    started: float = 0.0
    last: float = 0.0

    @property
    def seconds(self) -> float:
        return self.last - self.started

    def then(self, later: Drained) -> Drained:
        """This drain followed by `later`: the results of both, from this one's start."""
        if not self.results and not self.retries:
            return later
        return Drained(self.results + later.results, self.retries + later.retries,
                       self.started, later.last)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        return counts


def drain(workers: Sequence[Worker], requests: Sequence[Request],
          timeout_seconds: float = 900.0) -> Drained:
    """Hand every request in order to one thread per worker until each has a terminal outcome
    (RETRY ones are queued again behind the others), and what the workers publish down the
    chain as it comes. The same worker may be given for every thread (one process handling C
    deliveries at once) or one each (C processes)."""
    concurrency = len(workers)
    pending: queue.Queue[tuple[Request, int] | None] = queue.Queue()
    for request in requests:
        pending.put((request, 1))
    out = Drained(started=time.monotonic())
    if not requests:
        return out
    lock = threading.Lock()
    left = [len(requests)]
    deadline = out.started + timeout_seconds

    def work(worker: Worker) -> None:
        while time.monotonic() < deadline:
            try:
                item = pending.get(timeout=1.0)
            except queue.Empty:
                continue
            if item is None:
                return
            request, attempt = item
            result = worker.handle(delivery_of(request, attempt, request.request_id))
            with lock:
                if result.outcome is Outcome.RETRY:
                    out.retries += 1
                    pending.put((request, attempt + 1))
                    continue
                out.results.append(result)
                out.last = time.monotonic()
                left[0] += len(result.published) - 1
                for follow_up in result.published:
                    pending.put((follow_up, 1))
                if left[0] == 0:
                    for _ in range(concurrency):
                        pending.put(None)

    threads = [threading.Thread(target=work, args=(worker,), name=f"bench-worker-{i}")
               for i, worker in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_seconds)
    return out
