"""`backfill worker`: serve the requests subscription by pull until stopped (self-hosted workers).

One JSON line per finished delivery on stdout; SIGTERM or Ctrl-C stops after the messages in hand.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable

import click

from backfill.domain.errors import TransientError
from backfill.local.runner import Stoppable, serve
from backfill.ports import Delivery
from backfill.service.work import WorkResult
from backfill.settings import Settings


@click.command(name="worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.pass_context
def worker_command(ctx: click.Context, concurrency: int) -> None:
    """Work the requests subscription until stopped (SIGTERM, Ctrl-C)."""
    from backfill.adapters.pubsub_queue import Consumer, ensure_topology
    from backfill.bootstrap import build_worker
    from backfill.local.cycle import topology

    settings = Settings.load(ctx.obj)
    ensure_topology(topology(settings))
    worker = build_worker(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def consume(handle: Callable[[Delivery], bool], n: int) -> Stoppable:
        return Consumer(settings.project, settings.requests_subscription, handle, n)

    error = serve(worker, consume, stop, concurrency=concurrency, on_result=print_result)
    if error:
        raise TransientError(f"stopped pulling from {settings.requests_subscription}: {error}")


def print_result(result: WorkResult) -> None:
    request = result.request
    click.echo(json.dumps({
        "outcome": result.outcome.value, "request_id": request and request.request_id,
        "processor": request and request.processor,
        "game_date": request and request.game_date.isoformat(), "attempts": result.attempts,
        "error": result.error}))
