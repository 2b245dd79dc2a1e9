"""Commands that find and close gaps: seed, detect, run, publish, processors, and the local
topology (demo, stack, worker)."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from rich.table import Table

from backfill.bootstrap import consumer
from backfill.domain.errors import TransientError
from backfill.domain.request import MAX_DAYS_AHEAD, Reason, Request
from backfill.domain.runs import Run, Trigger, new_run_id
from backfill.domain.window import today_in
from backfill.local.cli import common
from backfill.local.cli.common import common_options, console, window_options
from backfill.local.progress import Reporter
from backfill.service.detect import Pass, detect, record_run


@click.command()
@common_options
@click.option("--start-date", type=common.DATE, required=True)
@click.option("--end-date", type=common.DATE, required=True)
@click.option("--plant", "cases", multiple=True,
              type=click.Choice(["missing", "incomplete", "stale", "upstream", "decoys",
                                 "duplicate", "reload"]),
              help="Then plant one gap of this reason, the decoys, or a schedule reload that "
                   "changes nothing (repeatable).")
@click.pass_context
def seed(ctx: click.Context, start_date: date, end_date: date, cases: tuple[str, ...]) -> None:
    """Write the synthetic league (Phase 2) and its Phase 3, a gap-free warehouse."""
    from backfill.local.plant import Case, covering, plant
    from backfill.local.seeding import seed as seed_league

    app = common.app_from(ctx)
    window = common.resolve_window(app.settings, start_date, end_date, None)
    with Reporter("seed") as progress:
        report = seed_league(app.warehouse, app.registry, window, progress=progress)
    console.print(f"seeded {report.games} games on {report.dates} dates of "
                  f"{report.window.start}..{report.window.end} (the window and the processors' "
                  f"lookback before it) into {app.settings.warehouse}", highlight=False)
    planted = plant(app.warehouse, app.registry, window, [Case(c) for c in cases])
    for p in planted:
        console.print(f"  planted {p.case} {p.game_date}: {p.what}", highlight=False)
    if planted:
        whole = covering(window, planted)
        console.print(f"detect with --start-date {whole.start} --end-date {whole.end}",
                      highlight=False)
    app.close()


@click.command(name="detect")
@common_options
@window_options
@click.option("--dry-run", is_flag=True, help="Report gaps, publish nothing.")
@click.option("--max-messages", type=click.IntRange(min=0), help="Publish at most N requests.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def detect_command(ctx: click.Context, start_date: date | None, end_date: date | None,
                   lookback_days: int | None, processors: tuple[str, ...], dry_run: bool,
                   max_messages: int | None, as_json: bool) -> None:
    """Compare Phase 2 with Phase 3 and publish one request per (processor, game_date)."""
    from backfill.local.render import print_gaps

    app = common.app_from(ctx, publishing=not dry_run)
    window = common.resolve_window(app.settings, start_date, end_date, lookback_days)
    common.check_processors(app.registry, processors)
    report = detect(app.warehouse, app.registry, app.ops, None if dry_run else app.queue,
                    window, processors=processors, max_messages=max_messages,
                    run=Pass(Trigger.CLI, common.operator()))
    app.close()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        print_gaps(console, report)
        if dry_run:
            riding = sum(len(p.pending_upstream) for p in report.processors)
            console.print(f"dry run: {len(report.candidates) - riding} requests would be "
                          f"published, and {riding} more by the workers after their upstream's "
                          "write")
        else:
            console.print(f"run {report.run_id}: published {len(report.published)} requests, "
                          f"deferred {report.deferred}", highlight=False)
        if report.publish_error:
            console.print(f"[red]publishing failed: {report.publish_error}[/]", highlight=False)
    ctx.exit(common.FAILED if report.failed else 0)


@click.command(name="run")
@common_options
@window_options
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--max-messages", type=click.IntRange(min=0), help="Publish at most N requests.")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=1), default=900,
              show_default=True, help="Give up waiting for the queue to drain after this long.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of counts.")
@click.pass_context
def run_command(ctx: click.Context, start_date: date | None, end_date: date | None,
                lookback_days: int | None, processors: tuple[str, ...], concurrency: int,
                max_messages: int | None, timeout_seconds: float, as_json: bool) -> None:
    """Detect, publish and work the queue on the local stack until it is drained."""
    from backfill.local.cycle import run_cycle
    from backfill.local.render import print_cycle

    settings = common.settings_from(ctx)
    window = common.resolve_window(settings, start_date, end_date, lookback_days)
    app = common.app_from(ctx)  # the whole configuration checked before the stack starts
    common.check_processors(app.registry, processors)
    app.close()
    with Reporter("run") as progress:
        outcome = run_cycle(settings, window, processors=processors, concurrency=concurrency,
                            max_messages=max_messages, timeout_seconds=timeout_seconds,
                            progress=progress, started_by=common.operator())
    if as_json:
        click.echo(json.dumps(outcome.as_dict()))
    else:
        print_cycle(console, outcome)
    ctx.exit(common.FAILED if outcome.failed else 0)


@click.command()
@common_options
@click.option("--processor", required=True, help="The processor to rerun.")
@click.option("--date", "dates", type=common.DATE, multiple=True, help="A game date (repeatable).")
@click.option("--start-date", type=common.DATE)
@click.option("--end-date", type=common.DATE)
@click.option("--force", is_flag=True, help="Reprocess even if the date looks complete.")
@click.option("--dry-run", is_flag=True, help="Print what would be published.")
@click.pass_context
def publish(ctx: click.Context, processor: str, dates: tuple[date, ...], start_date: date | None,
            end_date: date | None, force: bool, dry_run: bool) -> None:
    """Publish requests by hand to rerun dates of one processor (a manual run)."""
    app = common.app_from(ctx, publishing=not dry_run)
    common.check_processors(app.registry, [processor])
    if dates and (start_date or end_date):
        raise click.UsageError("give either --date or --start-date/--end-date")
    if not dates and not (start_date or end_date):
        raise click.UsageError("give --date or --start-date/--end-date")
    chosen = sorted(set(dates) if dates else set(common.resolve_window(app.settings, start_date,
                                                                 end_date, None).dates()))
    latest = today_in(app.settings.timezone) + timedelta(days=MAX_DAYS_AHEAD)
    if chosen[-1] > latest:
        # The worker would dead-letter it as a game not yet played: refuse it here instead.
        raise click.BadParameter(f"{chosen[-1]} is in the future (latest allowed {latest})",
                                 param_hint="'--date'" if dates else "'--end-date'")
    run = Run(new_run_id(), Trigger.MANUAL, common.operator(), datetime.now(UTC),
              {processor: len(chosen)}, len(chosen), window=(chosen[0], chosen[-1]),
              processors=(processor,))
    requests = [Request(processor=processor, game_date=d, reason=Reason.MANUAL, force=force,
                        detection_run_id=run.run_id) for d in chosen]
    published = {} if dry_run else app.queue.publish(requests)
    if not dry_run:
        record_run(app.warehouse, app.ops, run)
    app.close()
    verb = "would publish" if dry_run else "published"
    noun = "request" if len(requests) == 1 else "requests"
    console.print(f"{verb} {len(requests)} {noun} for {processor}"
                  + ("" if dry_run else f" (run {run.run_id})"), highlight=False)
    for request in requests:
        click.echo(" ".join(filter(None, (request.request_id, request.processor,
                                          str(request.game_date),
                                          published.get(request.request_id) and
                                          f"message {published[request.request_id]}"))))


@click.command(name="processors")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_processors(ctx: click.Context, as_json: bool) -> None:
    """List the processors in run order."""
    app = common.app_from(ctx)
    if as_json:
        click.echo(json.dumps([{"name": p.name, "source": str(p.source), "target": str(p.target),
                                "depends_on": list(p.depends_on), "priority": p.priority,
                                "version": p.version} for p in app.registry.ordered()]))
        return
    table = Table()
    for column in ("processor", "source (Phase 2)", "target (Phase 3)", "depends on", "priority",
                   "version"):
        table.add_column(column)
    for p in app.registry.ordered():
        table.add_row(p.name, str(p.source), str(p.target), ", ".join(p.depends_on) or "-",
                      str(p.priority), p.version or "-")
    console.print(table)


@click.command()
@click.option("--dir", "directory", default="demo-out", show_default=True,
              help="Where the demo warehouse is written (replaced each time).")
@click.pass_context
def demo(ctx: click.Context, directory: str) -> None:
    """The demo: a warehouse with gaps of every kind, the full cycle twice, a report."""
    from backfill.local.demo import run_demo

    ctx.exit(0 if run_demo(directory, console) else common.FAILED)


@click.command()
@common_options
@click.option("--worker-port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--detector-port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.option("--logs", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the functions' logs, kept after the stop (default: a new one).")
@click.option("--start-date", type=common.DATE,
              help="The printed trigger names this window (with --end-date).")
@click.option("--end-date", type=common.DATE, help="Last game date (with --start-date).")
@click.pass_context
def stack(ctx: click.Context, worker_port: int, detector_port: int, logs: Path | None,
          start_date: date | None, end_date: date | None) -> None:
    """Run the local topology until Ctrl-C: emulator, both functions, push subscription."""
    from backfill.local.stack import serve_stack

    if (start_date is None) != (end_date is None) or (start_date and end_date
                                                       and start_date > end_date):
        raise click.UsageError("give --start-date and --end-date together, in order")
    trigger = ({"start_date": start_date.isoformat(), "end_date": end_date.isoformat()}
               if start_date and end_date else None)
    serve_stack(common.settings_from(ctx), worker_port, detector_port,
                lambda line: console.print(line, highlight=False, soft_wrap=True), logs=logs,
                trigger=trigger)


@click.command(name="worker")
@common_options
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.pass_context
def worker_command(ctx: click.Context, concurrency: int) -> None:
    """Work the requests subscription by pull until stopped (SIGTERM, Ctrl-C), one JSON line
    per finished delivery: a self-hosted worker."""
    from backfill.local.render import result_json
    from backfill.local.runner import serve

    app = common.app_from(ctx, publishing=True)  # on the emulator: the topology first
    settings, worker = app.settings, app.worker()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    error = serve(worker, lambda handle, n: consumer(settings, handle, n), stop,
                  concurrency=concurrency, on_result=lambda r: click.echo(result_json(r)))
    if error:
        raise TransientError(f"stopped pulling from {settings.requests_subscription}: {error}")


COMMANDS = (seed, detect_command, run_command, publish, list_processors, demo, stack,
            worker_command)
